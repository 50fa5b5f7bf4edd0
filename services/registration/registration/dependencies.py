from nameko.extensions import DependencyProvider

from loket.crypto import Keyring


class Encryption(DependencyProvider):
    """The keyring for sensitive fields, from ENCRYPTION_KEYS (comma-separated Fernet keys, newest first)."""

    def setup(self):
        self.keyring = Keyring(self.container.config.get("ENCRYPTION_KEYS", ""))

    def get_dependency(self, worker_ctx):
        return self.keyring
