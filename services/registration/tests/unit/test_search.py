"""The helpdesk's search across dossiers (registration.search): criteria, bounds, summaries, audit."""
import pytest
from sqlalchemy import select

from registration import dossiers, schemas, search
from registration.errors import InvalidInput
from registration.models import AuditEntry

HELPDESK = {"role": "helpdesk", "actor_id": "desk-1"}


@pytest.fixture
def find(session, now, today):
    """find(limit=..., **criteria) -> the search result, validated as the RPC validates it."""
    def _find(limit=search.MAX_RESULTS, **criteria):
        result = search.search_dossiers(session, now, schemas.validate(schemas.SearchDossiersInput, criteria, today),
                                        HELPDESK, limit=limit)
        session.commit()
        return result
    return _find


def ids(result):
    return [hit["dossier_id"] for hit in result["results"]]


def person(payload, key, **changes):
    return {**payload()[key], **changes}


@pytest.fixture
def three(register, payload):
    """Peeters (partner Janssens), Özdemir (partner Peetermans), Maes (no partner, twins)."""
    situation = payload()["situation"]
    single = {**situation, "work": {k: v for k, v in situation["work"].items() if k != "partner"},
              "education": {"applicant": "higher"}}
    twins = [{**payload()["children"][0], "birth_date": "2024-11-05"}] * 2
    return {
        "peeters": register(),
        "ozdemir": register(applicant=person(payload, "applicant", last_name="Özdemir", email="Ayse@Example.org"),
                            partner=person(payload, "partner", last_name="Peetermans", email="p@example.org")),
        "maes": register(applicant=person(payload, "applicant", last_name="Maes_Jr", email="maes@example.org"),
                         partner=None, situation=single, children=twins),
    }


@pytest.mark.parametrize("criteria,expected", [
    ({"last_name": "peet"}, ["ozdemir", "peeters"]),  # the applicant's or the partner's name, by applicant
    ({"last_name": "PEETERS"}, ["peeters"]),
    ({"last_name": "Jans"}, ["peeters"]),  # the partner's name
    ({"last_name": "ozd"}, ["ozdemir"]),  # accents ignored
    ({"last_name": "Öz"}, ["ozdemir"]),
    ({"last_name": "eeters"}, []),  # a prefix, not anywhere in the name
    ({"last_name": "%"}, []),  # taken literally
    ({"last_name": "Maes_"}, ["maes"]),
    ({"last_name": "Mae_"}, []),
    ({"email": "AN.PEETERS@example.org"}, ["peeters"]),
    ({"email": "ayse@example.org"}, ["ozdemir"]),
    ({"email": "P@EXAMPLE.ORG"}, ["ozdemir"]),  # the partner's email
    ({"email": "an.peeters@example.com"}, []),  # exact, not a prefix
    ({"child_birth_date": "2024-11-05"}, ["maes"]),
    ({"child_birth_date": "2025-01-15", "last_name": "peet"}, ["ozdemir", "peeters"]),
    ({"child_birth_date": "2025-01-15", "email": "maes@example.org"}, []),  # every criterion must hold
])
def test_criteria_find_the_dossiers_that_match_all_of_them(three, find, criteria, expected):
    assert ids(find(**criteria)) == [three[name]["id"] for name in expected]


def test_a_dossier_or_request_id_finds_its_dossier(three, find):
    dossier = three["maes"]
    assert ids(find(dossier_id=dossier["id"])) == [dossier["id"]]
    assert ids(find(request_id=dossier["requests"][1]["id"])) == [dossier["id"]]
    assert ids(find(request_id=dossier["requests"][1]["id"], dossier_id=three["peeters"]["id"])) == []


def test_a_changed_last_name_is_found_under_its_new_name(session, three, find, now, events):
    data = schemas.validate(schemas.UpdateContactInput, {"applicant": {"last_name": "Vermeulen"}}, now.date())
    dossiers.update_contact(session, now, three["maes"]["id"], data, HELPDESK, events)
    session.commit()
    assert ids(find(last_name="verm")) == [three["maes"]["id"]]
    assert ids(find(last_name="maes")) == []


def test_results_are_bounded_and_say_when_more_matched(three, find):
    bounded = find(limit=1, last_name="peet")
    assert (ids(bounded), bounded["truncated"]) == ([three["ozdemir"]["id"]], True)
    assert find(limit=2, last_name="peet")["truncated"] is False


def test_a_hit_is_a_short_summary_without_sensitive_data(three, find):
    [hit] = find(last_name="maes")["results"]
    maes = three["maes"]
    assert hit == {
        "dossier_id": maes["id"], "registered_at": maes["registered_at"],
        "applicant": {"first_name": "An", "last_name": "Maes_Jr"},
        "child_birth_dates": ["2024-11-05", "2024-11-05"],
        "requests": [{"request_id": request["id"], "status": "active", "urgent": False}
                     for request in maes["requests"]],
    }


def test_every_hit_is_audited_as_read_by_the_searching_helpdesk(session, three, find):
    before = session.scalars(select(AuditEntry.id)).all()
    find(last_name="peet")
    entries = session.scalars(select(AuditEntry).where(AuditEntry.id.not_in(before))).all()
    assert sorted((e.dossier_id, e.actor_role, e.actor_id, e.operation, e.outcome) for e in entries) == sorted(
        (three[name]["id"], "helpdesk", "desk-1", "search_dossiers", "ok") for name in ("peeters", "ozdemir"))
    find(last_name="nobody")
    assert len(session.scalars(select(AuditEntry.id)).all()) == len(before) + 2


@pytest.mark.parametrize("query,field", [
    ({}, "_schema"),
    ({"last_name": ""}, "last_name"),
    ({"last_name": "x" * 101}, "last_name"),
    ({"email": "not-an-email"}, "email"),
    ({"child_birth_date": "05/11/2024"}, "child_birth_date"),
    ({"dossier_id": "x" * 65}, "dossier_id"),
    ({"health": "anything"}, "health"),
])
def test_a_query_needs_a_valid_criterion(query, field, today):
    with pytest.raises(InvalidInput) as invalid:
        schemas.validate(schemas.SearchDossiersInput, query, today)
    assert field in invalid.value.errors
