"""Email-address confirmation codes: stateless, so the checker (the gateway) needs only the
shared secret, not a table of issued codes.

The code binds the dossier id to the exact address: changing the address invalidates it.
"""
import base64
import hashlib
import hmac

_CODE_BYTES = 10  # 80 bits: unguessable even without throttling


def confirmation_code(secret: bytes, dossier_id: str, address: str) -> str:
    if not secret:
        raise ValueError("a confirmation secret is required")
    digest = hmac.new(secret, _message(dossier_id, address), hashlib.sha256).digest()
    code = base64.b32encode(digest[:_CODE_BYTES]).decode("ascii")
    # Groups of four are easier to copy by hand from a printed or read-aloud email.
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def confirmation_code_matches(secret: bytes, dossier_id: str, address: str, code: str) -> bool:
    typed = code.replace("-", "").replace(" ", "").upper()
    expected = confirmation_code(secret, dossier_id, address).replace("-", "")
    return hmac.compare_digest(typed, expected)


def _message(dossier_id: str, address: str) -> bytes:
    # Domains are case-insensitive; the NUL separator keeps ("a", "b:c") and ("a:b", "c") apart.
    return f"{dossier_id}\0{address.strip().lower()}".encode("utf-8")
