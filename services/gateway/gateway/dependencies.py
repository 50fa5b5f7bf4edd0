"""The gateway's nameko dependencies: account settings from the config, and RPC calls with a deadline."""
from argon2 import PasswordHasher, Type
from eventlet import Timeout, tpool
from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy

from gateway.accounts import AccountSettings
from gateway.errors import BackendUnavailable
from gateway.passwords import OWASP_MEMORY_COST_KIB, OWASP_PARALLELISM, OWASP_TIME_COST

DEFAULT_RPC_TIMEOUT_SECONDS = 10.0


class OffHubPasswordHasher(PasswordHasher):
    """Argon2 in a native thread: a hash costs tens of milliseconds of CPU that would otherwise stall
    every request the eventlet hub serves. argon2-cffi releases the GIL, so hashes run in parallel."""

    __slots__ = ()

    def hash(self, password, *, salt=None):
        return tpool.execute(super().hash, password, salt=salt)

    def verify(self, hash, password):
        return tpool.execute(super().verify, hash, password)


def hasher_from_config(config, hasher_class=PasswordHasher) -> PasswordHasher:
    """Argon2id at OWASP's parameters (gateway.passwords) unless the config lowers them, as tests do."""
    return hasher_class(
        time_cost=int(config.get("ARGON2_TIME_COST") or OWASP_TIME_COST),
        memory_cost=int(config.get("ARGON2_MEMORY_COST_KIB") or OWASP_MEMORY_COST_KIB),
        parallelism=int(config.get("ARGON2_PARALLELISM") or OWASP_PARALLELISM),
        hash_len=32, salt_len=16, type=Type.ID)


class Accounts(DependencyProvider):
    """`self.accounts` is the AccountSettings every function of gateway.accounts takes."""

    def setup(self):
        self.settings = AccountSettings(hasher=hasher_from_config(self.container.config, OffHubPasswordHasher))

    def get_dependency(self, worker_ctx):
        return self.settings


class _Deadline:
    def __init__(self, proxy, seconds):
        self._proxy = proxy
        self._seconds = seconds

    def __getattr__(self, method):
        remote = getattr(self._proxy, method)

        def call(*args, **kwargs):
            with Timeout(self._seconds, BackendUnavailable):
                return remote(*args, **kwargs)
        return call


class ServiceRpc(RpcProxy):
    """nameko's RpcProxy, but a call that gets no reply within RPC_TIMEOUT_SECONDS raises BackendUnavailable
    instead of holding the HTTP request (and a worker) forever."""

    def get_dependency(self, worker_ctx):
        seconds = float(self.container.config.get("RPC_TIMEOUT_SECONDS") or DEFAULT_RPC_TIMEOUT_SECONDS)
        return _Deadline(super().get_dependency(worker_ctx), seconds)
