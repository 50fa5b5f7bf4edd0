"""The health situation (GDPR art. 9) is stored only encrypted and never leaves in an event."""
import json

import pytest
from sqlalchemy import select

from loket.contracts.registration import DossierRegisteredV1
from loket.crypto import Keyring, KeyringError
from registration import dossiers, schemas
from registration.models import Dossier, PriorityData


def test_the_health_situation_is_stored_encrypted(session, register, keyring, health_text,
                                                  state):
    dossier_id = register()["id"]

    raw = session.scalar(select(PriorityData.health_situation_encrypted))
    assert raw != health_text
    assert "disability" not in raw
    assert keyring.decrypt(raw) == health_text
    assert health_text not in repr(state())


def test_the_health_situation_never_travels_in_an_event(session, register, events, keyring,
                                                        payload, now, today, parent, helpdesk,
                                                        health_text):
    snapshot = register()
    situation = payload()["situation"]
    situation["health"]["detail"] = "Changed: " + health_text
    changes = [
        (dossiers.update_situation, schemas.UpdateSituationInput, {"situation": situation},
         parent, (keyring,)),
        (dossiers.flag_dossier, schemas.FlagDossierInput,
         {"flag": "incomplete", "message": "Missing data"}, helpdesk, ()),
    ]
    for function, schema, body, actor, extra in changes:
        function(session, now, snapshot["id"], schemas.validate(schema, body, today), actor,
                 events, *extra)
    dossiers.erase_dossier(session, now, snapshot["id"], helpdesk, events)

    assert len(events.calls) == 4
    for call in events.calls:
        assert "disability" not in json.dumps(call["data"])
    assert snapshot["priority"]["health_or_care_situation"] is True


def test_the_contract_refuses_a_snapshot_that_leaks_the_health_situation(register,
                                                                         health_text):
    snapshot = register()
    snapshot["priority"]["health_situation"] = health_text

    errors = DossierRegisteredV1().validate({"dossier": snapshot})

    assert errors == {"dossier": {"priority": {"health_situation": ["Unknown field."]}}}


def test_without_the_key_the_health_situation_cannot_be_read(session, register, now, parent):
    dossier_id = register()["id"]

    with pytest.raises(KeyringError):
        dossiers.get_dossier(session, now, dossier_id, parent, Keyring([Keyring.generate_key()]))


def test_rotate_keys_reencrypts_every_health_situation_with_the_newest_key(
        session, register, payload, key, keyring, events, now, parent, health_text):
    no_detail = payload()["situation"]
    no_detail["health"] = {"care_situation": False}
    ids = [register()["id"], register()["id"], register(situation=no_detail)["id"]]
    before = {d.id: (d.version, d.last_activity_at) for d in session.scalars(select(Dossier))}
    tokens = dict(session.execute(select(PriorityData.dossier_id,
                                         PriorityData.health_situation_encrypted)).all())
    recorded = len(events.calls)
    new_key = Keyring.generate_key()
    old_key_only, new_key_only = keyring, Keyring([new_key])

    rotated = dossiers.rotate_keys(session, Keyring([new_key, key]))
    session.commit()

    assert rotated == 2
    for dossier_id in ids[:2]:
        assert dossiers.get_dossier(session, now, dossier_id, parent, new_key_only)[
            "situation"]["health"]["detail"] == health_text
        with pytest.raises(KeyringError):
            dossiers.get_dossier(session, now, dossier_id, parent, old_key_only)
        assert session.get(PriorityData, dossier_id).health_situation_encrypted != tokens[
            dossier_id]
    assert session.get(PriorityData, ids[2]).health_situation_encrypted is None
    assert {d.id: (d.version, d.last_activity_at)
            for d in session.scalars(select(Dossier))} == before
    assert len(events.calls) == recorded
