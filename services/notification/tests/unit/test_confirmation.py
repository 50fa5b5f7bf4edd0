import pytest

from notification.confirmation import confirmation_code, confirmation_code_matches

SECRET = b"k" * 32


def test_code_matches_however_the_parent_types_it():
    code = confirmation_code(SECRET, "dos-1", "Sara@Example.org")
    assert confirmation_code_matches(SECRET, "dos-1", "sara@example.org", code)
    assert confirmation_code_matches(SECRET, "dos-1", "sara@example.org",
                                     code.lower().replace("-", " "))


@pytest.mark.parametrize("secret, dossier_id, address", [
    (b"other secret", "dos-1", "sara@example.org"),
    (SECRET, "dos-2", "sara@example.org"),
    (SECRET, "dos-1", "sarah@example.org"),
])
def test_code_is_bound_to_secret_dossier_and_address(secret, dossier_id, address):
    code = confirmation_code(SECRET, "dos-1", "sara@example.org")
    assert not confirmation_code_matches(secret, dossier_id, address, code)


def test_code_is_long_enough_to_resist_guessing():
    assert len(confirmation_code(SECRET, "dos-1", "a@example.org").replace("-", "")) == 16


def test_an_empty_secret_is_refused():
    with pytest.raises(ValueError):
        confirmation_code(b"", "dos-1", "a@example.org")
