"""HttpPartnerTransport against a real local HTTP server standing in for the partner."""
import base64
import time

import pytest

from consent_export.fields import LOP
from consent_export.transfers import DELETE, PUSH, UPDATE, Transfer
from consent_export.transport import (
    ANSWER_LIMIT,
    HttpPartnerTransport,
    RejectedByPartner,
    TransientPartnerError,
)

PAYLOAD = {"dossier_id": "dos/1", "applicant": {"email": "an@example.org"},
           "children": [{"id": "chi-1", "birth_date": "2025-09-01"}]}


def transfer(kind=PUSH, key="evt-1:lop"):
    payload = {"dossier_id": "dos/1"} if kind == DELETE else PAYLOAD
    return Transfer(idempotency_key=key, partner=LOP, dossier_id="dos/1", kind=kind,
                    payload=payload, field_names=(), consent_id="con-1", payload_hash=None)


@pytest.fixture
def transport(partner):
    with HttpPartnerTransport(partner.url + "/api/", token="secret-token", timeout=2) as transport:
        yield transport


def test_push_is_delivered_with_json_and_the_idempotency_key(partner, transport):
    delivery = transport.send(transfer())

    assert (delivery.status, delivery.answer) == (201, '{"ok": true}')
    [request] = partner.requests
    assert (request["method"], request["path"]) == ("POST", "/api/dossiers")
    assert request["json"] == PAYLOAD
    assert request["headers"]["Idempotency-Key"] == "evt-1:lop"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Authorization"] == "Bearer secret-token"


@pytest.mark.parametrize("kind, method", [(UPDATE, "PUT"), (DELETE, "DELETE")])
def test_update_and_delete_address_the_dossier(partner, transport, kind, method):
    partner.status = 200

    transport.send(transfer(kind, key=f"evt-2:{kind}"))

    [request] = partner.requests
    assert (request["method"], request["path"]) == (method, "/api/dossiers/dos%2F1")
    assert request["json"] == transfer(kind).payload
    assert request["headers"]["Idempotency-Key"] == f"evt-2:{kind}"


def test_basic_credentials(partner):
    with HttpPartnerTransport(partner.url, username="loket", password="pw", timeout=2) as transport:
        transport.send(transfer())

    expected = "Basic " + base64.b64encode(b"loket:pw").decode()
    assert partner.requests[0]["headers"]["Authorization"] == expected


def test_a_repeat_carries_the_same_key_so_the_partner_can_drop_it(partner, transport):
    transport.send(transfer())
    transport.send(transfer())

    assert [r["headers"]["Idempotency-Key"] for r in partner.requests] == ["evt-1:lop"] * 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(partner, transport, status):
    partner.status, partner.answer = status, "down for maintenance"

    with pytest.raises(TransientPartnerError) as raised:
        transport.send(transfer())

    assert (raised.value.status, raised.value.answer) == (status, "down for maintenance")


def test_too_many_requests_is_transient_with_the_partners_retry_after(partner, transport):
    partner.status, partner.headers = 429, {"Retry-After": "30"}

    with pytest.raises(TransientPartnerError) as raised:
        transport.send(transfer())

    assert (raised.value.status, raised.value.retry_after) == (429, 30.0)


@pytest.mark.parametrize("status", [404, 410])
def test_a_delete_of_what_the_partner_does_not_hold_is_done(partner, transport, status):
    partner.status, partner.answer = status, "unknown dossier"

    assert transport.send(transfer(DELETE)).status == status


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422])
def test_other_client_errors_are_rejected_with_the_partners_answer(partner, transport, status):
    partner.status, partner.answer = status, '{"error": "birth_date missing"}'

    with pytest.raises(RejectedByPartner) as raised:
        transport.send(transfer())

    assert (raised.value.status, raised.value.answer) == (status, '{"error": "birth_date missing"}')


def test_a_redirect_is_not_followed_but_rejected(partner, transport):
    partner.status, partner.headers = 302, {"Location": "http://elsewhere.invalid/"}

    with pytest.raises(RejectedByPartner) as raised:
        transport.send(transfer())

    assert raised.value.status == 302
    assert len(partner.requests) == 1


def test_a_long_answer_is_shortened(partner, transport):
    partner.status, partner.answer = 400, "x" * 5000

    with pytest.raises(RejectedByPartner) as raised:
        transport.send(transfer())

    assert len(raised.value.answer) == ANSWER_LIMIT


def test_a_partner_slower_than_the_timeout_is_transient(partner):
    partner.delay = 5.0
    started = time.monotonic()

    with HttpPartnerTransport(partner.url, timeout=0.3) as transport:
        with pytest.raises(TransientPartnerError):
            transport.send(transfer())

    assert time.monotonic() - started < 3
    assert len(partner.requests) == 1


def test_a_refused_connection_is_transient(refused_url):
    with HttpPartnerTransport(refused_url, timeout=2) as transport:
        with pytest.raises(TransientPartnerError):
            transport.send(transfer())


def test_the_partner_recovers_and_the_same_transfer_is_delivered(partner, transport):
    partner.status = 503
    with pytest.raises(TransientPartnerError):
        transport.send(transfer())

    partner.status = 201
    delivery = transport.send(transfer())

    assert delivery.status == 201
    assert [r["headers"]["Idempotency-Key"] for r in partner.requests] == ["evt-1:lop"] * 2


def test_credentials_are_one_kind_or_the_other():
    with pytest.raises(ValueError):
        HttpPartnerTransport("https://partner.example", username="a", password="b", token="t")
    with pytest.raises(ValueError):
        HttpPartnerTransport("https://partner.example", username="a")
