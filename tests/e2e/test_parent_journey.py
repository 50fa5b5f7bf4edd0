"""A parent's whole journey through the real system: account, dossier, emails, the consented export,
the GDPR export, a helpdesk cancellation, and erasure on request reaching every service."""
import json
import re
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import requests

from loket.testing import eventually
from registration.samples import sample_registration

pytestmark = pytest.mark.e2e
EMAIL = "an.peeters@example.org"
PASSWORD = "Zonnebloem-Elsene-1050"


def read_json_files(folder):
    return [json.loads(path.read_text()) for path in sorted(Path(folder).rglob("*.json"))]


def emails_to(system, address):
    found = []
    for path in sorted(system.mail.rglob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if address in message["To"]:
            found.append(message)
    return found


@pytest.fixture(scope="module")
def parent(system):
    signed_up = requests.post(f"{system.gateway}/accounts", json={"email": EMAIL, "password": PASSWORD}, timeout=30)
    assert signed_up.status_code == 202, signed_up.text
    # The token reaches the parent by email (gateway -> outbox -> broker -> notification -> mail).
    [mail] = eventually(lambda: emails_to(system, EMAIL))
    token = re.search(r"token=([A-Za-z0-9_\-]+)", mail.get_body(("plain",)).get_content()).group(1)
    assert token == signed_up.json()["confirmation_token"]
    confirmed = requests.post(f"{system.gateway}/accounts/confirmation", json={"token": token}, timeout=30)
    assert confirmed.status_code == 204, confirmed.text
    return system.log_in(EMAIL, PASSWORD)


@pytest.fixture(scope="module")
def dossier(system, parent):
    payload = sample_registration(date.today(), 7)
    payload["applicant"]["email"] = EMAIL
    payload["preferred_language"] = "nl"
    del payload["registered_by"]
    response = requests.post(f"{system.gateway}/dossiers", json=payload, headers=parent, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def test_the_parent_gets_one_registration_email_in_dutch(system, dossier):
    dossier_id = dossier["dossier"]["id"]
    [message] = eventually(lambda: [m for m in emails_to(system, EMAIL)
                                    if dossier_id in m.get_body(("plain",)).get_content()])
    assert message["Content-Language"] == "nl"
    assert dossier["dossier"]["id"] not in message["Subject"]  # ids stay out of what a person reads first


def test_kind_en_gezin_receives_exactly_the_consented_fields_and_lop_nothing(system, dossier):
    dossier_id = dossier["dossier"]["id"]
    [transfer] = eventually(lambda: [t for t in read_json_files(system.exports / "kind_en_gezin")
                                     if dossier_id in str(t)])
    sent = str(transfer)
    assert EMAIL in sent
    assert "partner" not in sent and "Janssens" not in sent  # never partner data to Kind en Gezin (P10)
    assert not [t for t in read_json_files(system.exports / "lop") if dossier_id in str(t)] if (
        system.exports / "lop").exists() else True


def test_the_parent_can_export_everything_held_about_them(system, parent, dossier):
    dossier_id = dossier["dossier"]["id"]
    response = requests.get(f"{system.gateway}/dossiers/{dossier_id}/export", headers=parent, timeout=30)
    assert response.status_code == 200, response.text
    assert EMAIL in response.text


def test_someone_elses_dossier_is_not_found(system, dossier):
    requests.post(f"{system.gateway}/accounts", json={"email": "other@example.org", "password": PASSWORD},
                  timeout=30)
    other = requests.post(f"{system.gateway}/accounts", timeout=30)  # a malformed call changes nothing
    assert other.status_code == 400
    system.create_staff("desk@loket.example", "helpdesk")
    helpdesk = system.log_in("desk@loket.example")
    anonymous = requests.get(f"{system.gateway}/dossiers/{dossier['dossier']['id']}", timeout=30)
    assert anonymous.status_code == 401
    seen_by_helpdesk = requests.get(f"{system.gateway}/dossiers/{dossier['dossier']['id']}", headers=helpdesk,
                                    timeout=30)
    assert seen_by_helpdesk.status_code == 200


def test_a_helpdesk_cancellation_is_emailed_with_its_reason(system, dossier):
    helpdesk = system.log_in("desk@loket.example")
    dossier_id = dossier["dossier"]["id"]
    request_id = dossier["dossier"]["requests"][0]["id"]
    response = requests.post(f"{system.gateway}/dossiers/{dossier_id}/requests/{request_id}/cancellation",
                             json={"reason": "Dubbele aanvraag"}, headers=helpdesk, timeout=30)
    assert response.status_code in (200, 204), response.text
    messages = eventually(lambda: [m for m in emails_to(system, EMAIL)
                                   if "Dubbele aanvraag" in m.get_body(("plain",)).get_content()])
    assert len(messages) == 1


def test_erasure_on_request_reaches_every_service(system, parent, dossier):
    dossier_id = dossier["dossier"]["id"]
    with system.rpc() as rpc:
        rpc.registration.check_access(dossier_id, "erase", {"role": "parent", "actor_id": _account_id(system, parent)})
        rpc.retention.request_erasure(dossier_id, {"role": "parent", "actor_id": "e2e"})
        eventually(lambda: rpc.retention.erasure_status(dossier_id).get("completed_at"), timeout=60)
        for service in ("matching", "notification", "consent_export"):
            if hasattr(getattr(rpc, service), "personal_data"):
                assert not _holds_anything(getattr(rpc, service).personal_data(dossier_id)), service
    gone = requests.get(f"{system.gateway}/dossiers/{dossier_id}", headers=parent, timeout=30)
    assert gone.status_code == 404
    # Kind en Gezin was told to delete what it received (GDPR art. 19)
    eventually(lambda: [t for t in read_json_files(system.exports / "kind_en_gezin")
                        if dossier_id in str(t) and "applicant" not in t])


def _account_id(system, headers):
    return requests.get(f"{system.gateway}/account", headers=headers, timeout=30).json()["account_id"]


def _holds_anything(data):
    if isinstance(data, dict):
        return any(_holds_anything(value) for key, value in data.items() if key not in ("dossier_id",))
    if isinstance(data, list):
        return bool(data)
    return data not in (None, False, 0, "")
