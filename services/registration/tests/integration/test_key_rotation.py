"""Key rotation end to end: values written under the old key are readable, rotated, then the old key can go."""
import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ServiceRpcProxy

from loket.crypto import Keyring
from registration import admin
from registration.samples import sample_registration

PARENT = {"role": "parent", "actor_id": "account-rotation"}


def test_rotate_keys_lets_the_old_key_be_retired(start_registration, service_config, clock, container_factory):
    old_key = service_config["ENCRYPTION_KEYS"]
    container = start_registration()
    payload = sample_registration(clock.now().date(), 5)
    payload["situation"]["health"]["detail"] = "diabetes type 1"
    with ServiceRpcProxy("registration", service_config) as rpc:
        dossier_id = rpc.register_dossier(payload, PARENT)["dossier"]["id"]
    container.stop()

    new_key = Keyring.generate_key()
    rotated_config = {**service_config, "ENCRYPTION_KEYS": f"{new_key},{old_key}"}
    assert admin.rotate_keys(rotated_config) == 1

    container = start_registration(ENCRYPTION_KEYS=new_key)  # the old key is gone
    with ServiceRpcProxy("registration", service_config) as rpc:
        assert rpc.get_dossier(dossier_id, PARENT)["situation"]["health"]["detail"] == "diabetes type 1"
    container.stop()

    container = start_registration(ENCRYPTION_KEYS=old_key)  # and the old key no longer reads it
    with ServiceRpcProxy("registration", service_config) as rpc:
        with pytest.raises(RemoteError, match="KeyringError"):
            rpc.get_dossier(dossier_id, PARENT)
