"""Producer against consumer: what the domain records passes the common library's envelope and
parse, which every consumer uses."""
import json

from loket import contracts
from loket.contracts import registration as contract
from registration import dossiers, schemas


def test_every_recorded_event_round_trips_through_envelope_and_parse(session, register, events,
                                                                     now, today, helpdesk):
    snapshot = register()
    flag = schemas.validate(schemas.FlagDossierInput, {"flag": "mistake", "message": "Typo"},
                            today)
    dossiers.flag_dossier(session, now, snapshot["id"], flag, helpdesk, events)
    dossiers.erase_dossier(session, now, snapshot["id"], helpdesk, events)

    for call in events.calls:
        body = contracts.envelope(call["type"], call["data"], aggregate_id=call["aggregate_id"],
                                  sequence=call["sequence"], producer=contract.PRODUCER)
        parsed = contracts.parse(json.loads(json.dumps(body)))
        assert (parsed["type"], parsed["sequence"], parsed["data"]) == (
            call["type"], call["sequence"], call["data"])


def test_every_event_type_has_a_version_1_schema():
    assert set(contract.SCHEMAS) == {(event_type, 1) for event_type in contract.EVENT_TYPES}
    assert all(t.startswith(contract.PRODUCER + ".") for t in contract.EVENT_TYPES)
