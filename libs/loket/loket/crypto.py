"""Encryption of sensitive fields at rest (P22; GDPR art. 9 for the health situation).

A keyring holds Fernet keys, newest first. New values are always encrypted with the newest key;
any key in the ring still decrypts. Rotation: put a new key first, run the owning service's
`rotate-keys` command (re-encrypts every value with the newest key), then drop the old key.
"""
from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class KeyringError(Exception):
    pass


class Keyring:
    def __init__(self, keys):
        if isinstance(keys, str):
            keys = [k for k in keys.split(",") if k.strip()]
        if not keys:
            raise KeyringError("no encryption key configured (ENCRYPTION_KEYS)")
        try:
            self._fernet = MultiFernet([Fernet(k.strip()) for k in keys])
        except ValueError as exc:
            raise KeyringError(f"invalid encryption key: {exc}") from None

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise KeyringError("value cannot be decrypted with any configured key") from None

    def rotate(self, token: str) -> str:
        """Re-encrypt a value with the newest key."""
        return self._fernet.rotate(token.encode()).decode()
