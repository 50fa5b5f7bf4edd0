"""Opaque secrets handed to a client (session tokens, email confirmation links).

Only their SHA-256 hash is stored, so a leaked database holds nothing a client could present. A fast
hash suffices: a token carries 256 random bits, there is nothing to brute-force.
"""
import hashlib
import secrets

TOKEN_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
