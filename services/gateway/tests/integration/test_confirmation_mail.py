"""Sign-up asks the notification service to mail the confirmation token: one event per token issued,
committed with the account, and nothing for an email that already has an account."""
from loket.testing import drain_queue

QUEUE = "notification.gateway_events"
PASSWORD = "Zonnebloem-Elsene-1050"


def test_sign_up_queues_exactly_one_confirmation_mail(api, amqp_uri):
    response = api.post("/accounts", json={"email": "nieuw@example.org", "password": PASSWORD,
                                           "preferred_language": "fr"})
    assert response.status_code == 202
    again = api.post("/accounts", json={"email": "nieuw@example.org", "password": PASSWORD})
    assert again.status_code == 202  # answers alike, but sends nothing new

    [event] = drain_queue(amqp_uri, QUEUE, 2, timeout=5)
    assert event["type"] == "gateway.account_confirmation_requested"
    assert event["data"]["email"] == "nieuw@example.org"
    assert event["data"]["language"] == "fr"
    if "confirmation_token" in response.json():  # tests expose it: the mailed token is the one issued
        assert event["data"]["confirmation_token"] == response.json()["confirmation_token"]


def test_a_new_confirmation_request_mails_a_new_token(api, amqp_uri):
    api.post("/accounts", json={"email": "traag@example.org", "password": PASSWORD})
    api.post("/accounts/confirmation-requests", json={"email": "traag@example.org"})
    api.post("/accounts/confirmation-requests", json={"email": "onbekend@example.org"})  # unknown: nothing
    events = drain_queue(amqp_uri, QUEUE, 3, timeout=5)
    assert [e["data"]["email"] for e in events] == ["traag@example.org", "traag@example.org"]
    assert events[0]["data"]["confirmation_token"] != events[1]["data"]["confirmation_token"]
