import pytest

from consent_export.fields import (
    KIND_EN_GEZIN,
    LOP,
    build_payload,
    consent_id,
    consented,
    field_names,
)


def test_kind_en_gezin_payload(snapshot):
    payload = build_payload(KIND_EN_GEZIN, snapshot())

    assert payload == {
        "dossier_id": "dos-1",
        "applicant": {
            "last_name": "Peeters", "first_name": "An", "birth_date": "1990-04-01", "gender": "f",
            "email": "an@example.org", "phone": "+32470000000",
            "address": {"street": "Kerkstraat", "house_number": "1", "postal_code": "1000",
                        "municipality": "Brussel"},
        },
        "children": [{"id": "chi-1", "last_name": "Janssens", "first_name": None,
                      "birth_date": "2025-09-01"}],
    }


def test_lop_payload_with_and_without_a_partner(snapshot):
    assert build_payload(LOP, snapshot()) == {
        "dossier_id": "dos-1",
        "applicant": {"email": "an@example.org"},
        "partner": {"email": "bart@example.org"},
        "children": [{"id": "chi-1", "birth_date": "2025-09-01"}],
    }
    assert "partner" not in build_payload(LOP, snapshot(partner=None))


def test_nested_data_where_a_single_value_belongs_is_refused(snapshot):
    dossier = snapshot()
    dossier["applicant"]["email"] = {"email": "an@example.org", "partner": dossier["partner"]}

    with pytest.raises(ValueError, match="applicant.email"):
        build_payload(LOP, dossier)


def test_children_must_be_a_list(snapshot):
    with pytest.raises(ValueError, match="children"):
        build_payload(KIND_EN_GEZIN, snapshot(children={"id": "chi-1"}))


def test_unknown_partner_is_refused(snapshot):
    with pytest.raises(ValueError):
        build_payload("someone_else", snapshot())
    with pytest.raises(ValueError):
        consented("someone_else", snapshot())


@pytest.mark.parametrize("record, expected", [
    (None, False),
    ({"id": "con-1", "given": False}, False),
    ({"id": "con-1", "given": "yes"}, False),
    ({"id": "con-1", "given": True}, True),
])
def test_consented_only_with_a_given_consent_record(snapshot, record, expected):
    dossier = snapshot(consents={KIND_EN_GEZIN: record, LOP: None})

    assert consented(KIND_EN_GEZIN, dossier) is expected
    assert consented(LOP, dossier) is False


def test_consent_id_of_the_current_record(snapshot):
    dossier = snapshot(consents={KIND_EN_GEZIN: {"id": "con-7", "given": False}, LOP: None})

    assert consent_id(KIND_EN_GEZIN, dossier) == "con-7"
    assert consent_id(LOP, dossier) is None


def test_field_names_are_names_not_values():
    payload = {"dossier_id": "dos-1", "applicant": {"email": "an@example.org"},
               "children": [{"id": "a", "birth_date": "2025-01-01"}, {"id": "b", "birth_date": None}]}

    assert field_names(payload) == (
        "applicant.email", "children[].birth_date", "children[].id", "dossier_id"
    )
