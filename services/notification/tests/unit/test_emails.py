import json
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest

from notification.confirmation import confirmation_code_matches
from notification.emails import (
    LEGAL_COURSE, Kind, UndeliverableEmail, deliverable_address, emails_for_event, offer_email,
    readdressed, reminder_email,
)
from notification.reminders import DueReminder, Reminder, RequestProjection, projections_from_snapshot
from notification.samples import sample_email

HELPDESK = {"role": "helpdesk", "actor_id": "staff-1"}
PARENT = {"role": "parent", "actor_id": "acc-1"}
ADDRESS = "sara.peeters@example.org"

OFFER = {"offer_id": "off-7", "facility_name": "Crèche Het Zonnetje", "start_date": "2026-10-01",
         "answer_deadline": "2026-07-01"}


def only(emails):
    assert len(emails) == 1, emails
    return emails[0]


def test_registered_dossier_gets_a_confirmation_email_the_gateway_can_check(
        snapshot, envelope, site):
    event = envelope("dossier_registered", snapshot)
    email = only(emails_for_event(event, site=site))

    assert email.kind is Kind.DOSSIER_REGISTERED
    assert email.recipient == ADDRESS
    assert email.language == "nl"
    assert email.dossier_id == "dos-0042"
    assert email.idempotency_key == f"{event['id']}:dossier_registered"
    code = email.context["confirmation_code"]
    assert confirmation_code_matches(site.confirmation_secret, "dos-0042", ADDRESS, code)
    link = urlsplit(email.context["confirmation_url"])
    assert f"{link.scheme}://{link.netloc}{link.path}" == site.confirm_email_url
    assert parse_qs(link.query) == {"dossier": ["dos-0042"], "code": [code]}
    assert email.context["requests"] == [
        {"child_first_name": "Lina", "desired_start_date": "2026-09-01", "facility_count": 3}
    ]


def test_helpdesk_edit_tells_the_parent_which_sections_changed(snapshot, envelope, site):
    event = envelope("dossier_updated", snapshot, changed_by=HELPDESK,
                     changed_sections=["contact", "partner"])
    email = only(emails_for_event(event, site=site))
    assert email.kind is Kind.DOSSIER_CHANGED_BY_HELPDESK
    assert email.context["changed_sections"] == ["contact", "partner"]
    assert email.context["changed_at"] == event["occurred_at"]


@pytest.mark.parametrize("role", ["parent", "intermediary", "facility_manager", "system"])
def test_edits_by_anyone_but_the_helpdesk_send_nothing(snapshot, envelope, site, role):
    event = envelope("dossier_updated", snapshot, changed_by={"role": role, "actor_id": None},
                     changed_sections=["contact"])
    assert emails_for_event(event, site=site) == []


def test_cancellation_by_the_helpdesk_carries_reason_child_and_start_date(
        snapshot, envelope, site):
    event = envelope("request_cancelled", snapshot, request_id="req-1", cancelled_by=HELPDESK,
                     reason="Dubbele aanvraag")
    email = only(emails_for_event(event, site=site))
    assert email.kind is Kind.REQUEST_CANCELLED_BY_HELPDESK
    assert email.context["reason"] == "Dubbele aanvraag"
    assert email.context["child_first_name"] == "Lina"
    assert email.context["desired_start_date"] == "2026-09-01"


def test_cancellation_by_the_parent_sends_nothing(snapshot, envelope, site):
    event = envelope("request_cancelled", snapshot, request_id="req-1", cancelled_by=PARENT,
                     reason=None)
    assert emails_for_event(event, site=site) == []


def test_cancellation_of_a_request_missing_from_the_snapshot_is_undeliverable(
        snapshot, envelope, site):
    event = envelope("request_cancelled", snapshot, request_id="req-404", cancelled_by=HELPDESK,
                     reason=None)
    with pytest.raises(UndeliverableEmail, match="req-404"):
        emails_for_event(event, site=site)


@pytest.mark.parametrize("flag", ["incomplete", "mistake"])
def test_flagged_dossier_carries_flag_and_message(snapshot, envelope, site, flag):
    event = envelope("dossier_flagged", snapshot, flag=flag, message="Vul je adres aan.",
                     flagged_by=HELPDESK)
    email = only(emails_for_event(event, site=site))
    assert email.kind is Kind.DOSSIER_FLAGGED
    assert (email.context["flag"], email.context["message"]) == (flag, "Vul je adres aan.")


@pytest.mark.parametrize("event_type, kind", [("consent_given", Kind.CONSENT_GIVEN),
                                              ("consent_withdrawn", Kind.CONSENT_WITHDRAWN)])
@pytest.mark.parametrize("partner", ["kind_en_gezin", "lop"])
def test_consent_events_name_the_partner(snapshot, envelope, site, event_type, kind, partner):
    email = only(emails_for_event(envelope(event_type, snapshot, partner=partner,
                                           changed_by=PARENT), site=site))
    assert email.kind is kind
    assert email.context["partner"] == partner
    assert email.context["recorded_by_helpdesk"] is False


@pytest.mark.parametrize("event_type", ["consent_given", "consent_withdrawn"])
def test_a_consent_changed_by_the_helpdesk_keeps_its_consent_email_and_says_who(
        snapshot, envelope, site, event_type):
    email = only(emails_for_event(envelope(event_type, snapshot, partner="lop",
                                           changed_by=HELPDESK), site=site))
    assert email.kind is Kind(event_type)
    assert email.context["recorded_by_helpdesk"] is True


@pytest.mark.parametrize("event_type, data, sections", [
    ("child_added", {"child_id": "chi-1", "request_id": "req-1"}, ["children"]),
    ("facilities_changed", {"request_id": "req-1"}, ["facilities"]),
])
def test_a_child_or_facilities_change_by_the_helpdesk_is_told_to_the_parent(
        snapshot, envelope, site, event_type, data, sections):
    event = envelope(event_type, snapshot, changed_by=HELPDESK, **data)
    email = only(emails_for_event(event, site=site))
    assert email.kind is Kind.DOSSIER_CHANGED_BY_HELPDESK
    assert email.context["changed_sections"] == sections
    assert email.context["changed_at"] == event["occurred_at"]


@pytest.mark.parametrize("event_type, data", [
    ("child_added", {"child_id": "chi-1", "request_id": "req-1"}),
    ("facilities_changed", {"request_id": "req-1"}),
])
@pytest.mark.parametrize("role", ["parent", "intermediary", "facility_manager", "system"])
def test_a_child_or_facilities_change_by_anyone_else_sends_nothing(
        snapshot, envelope, site, event_type, data, role):
    event = envelope(event_type, snapshot, changed_by={"role": role, "actor_id": None}, **data)
    assert emails_for_event(event, site=site) == []


@pytest.mark.parametrize("event_type, data", [
    ("request_marked_urgent", {"request_id": "req-1", "marked_by": HELPDESK}),
    ("request_enrolled", {"request_id": "req-1", "facility_id": "fac-0001"}),
    ("request_expired", {"request_id": "req-1"}),
])
def test_events_that_promise_no_email_send_none(snapshot, envelope, site, event_type, data):
    assert emails_for_event(envelope(event_type, snapshot, **data), site=site) == []


def test_erased_dossier_has_no_snapshot_and_sends_nothing(site):
    event = {"id": "e-1", "type": "registration.dossier_erased", "version": 1,
             "occurred_at": "2026-06-15T12:30:00+00:00", "correlation_id": "c",
             "producer": "registration", "aggregate_id": "dos-1", "sequence": 9,
             "data": {"dossier_id": "dos-1"}}
    assert emails_for_event(event, site=site) == []


@pytest.mark.parametrize("preferred, expected", [("fr", "fr"), ("en", "en"), ("nl", "nl"),
                                                 (None, "nl"), ("de", "nl")])
def test_language_is_the_preferred_one_with_dutch_as_default(
        snapshot, envelope, site, preferred, expected):
    snapshot["preferred_language"] = preferred
    email = only(emails_for_event(envelope("dossier_registered", snapshot), site=site))
    assert email.language == expected


RESTRICTED_CASES = [
    # (event type, data, kind or None when a restricted dossier gets nothing)
    ("request_cancelled", {"request_id": "req-1", "cancelled_by": HELPDESK, "reason": None},
     Kind.REQUEST_CANCELLED_BY_HELPDESK),
    ("dossier_updated", {"changed_by": HELPDESK, "changed_sections": ["restriction"]},
     Kind.DOSSIER_CHANGED_BY_HELPDESK),
    ("child_added", {"changed_by": HELPDESK, "child_id": "chi-1", "request_id": "req-1"},
     Kind.DOSSIER_CHANGED_BY_HELPDESK),
    ("dossier_flagged", {"flag": "mistake", "message": "m", "flagged_by": HELPDESK},
     Kind.DOSSIER_FLAGGED),
    ("consent_withdrawn", {"partner": "lop", "changed_by": HELPDESK}, Kind.CONSENT_WITHDRAWN),
    ("consent_given", {"partner": "lop", "changed_by": PARENT}, None),
    ("consent_withdrawn", {"partner": "lop", "changed_by": PARENT}, None),
    ("dossier_flagged", {"flag": "mistake", "message": "m",
                         "flagged_by": {"role": "system", "actor_id": None}}, None),
]


@pytest.mark.parametrize("event_type, data, kind", RESTRICTED_CASES)
def test_a_restricted_dossier_gets_its_legal_course_and_news_of_the_helpdesk_only(
        snapshot, envelope, site, event_type, data, kind):
    unrestricted = emails_for_event(envelope(event_type, snapshot, **data), site=site)
    snapshot["restricted"] = True
    restricted = emails_for_event(envelope(event_type, snapshot, **data), site=site)
    assert [e.kind for e in restricted] == ([kind] if kind else [])
    assert len(unrestricted) == 1  # the restriction, not the event, holds the email back


def test_the_legal_course_is_offers_cancellation_and_start_dates():
    assert LEGAL_COURSE == {Kind.OFFER_RECEIVED, Kind.OFFER_LAPSED, Kind.START_DATE_NEAR,
                            Kind.START_DATE_PASSED, Kind.REQUEST_CANCELLED_BY_HELPDESK}


def test_redelivered_event_yields_the_same_key_and_a_new_event_a_new_one(
        snapshot, envelope, site):
    event = envelope("dossier_flagged", snapshot, flag="mistake", message="m", flagged_by=HELPDESK)
    again = only(emails_for_event(event, site=site))
    assert only(emails_for_event(event, site=site)).idempotency_key == again.idempotency_key
    other = envelope("dossier_flagged", snapshot, flag="mistake", message="m", flagged_by=HELPDESK)
    assert only(emails_for_event(other, site=site)).idempotency_key != again.idempotency_key


@pytest.mark.parametrize("address", [
    None, "", "   ", "no-at-sign.example.org", "sara@localhost", "sara peeters@example.org",
    "sara@example.org\r\nBcc: all@example.org", "sara..p@example.org", ".sara@example.org",
    "sara@-example.org", "sara@example.o", "\"sara\"@example.org", "séra@example.org",
    "x" * 65 + "@example.org", "sara@" + "a" * 250 + ".org",
])
def test_missing_or_invalid_address_is_undeliverable_without_naming_it(
        snapshot, envelope, site, address):
    snapshot["applicant"]["email"] = address
    # The email still exists, so it can be parked and replayed once the dossier is corrected.
    email = only(emails_for_event(envelope("consent_given", snapshot, partner="lop",
                                           changed_by=PARENT), site=site))
    with pytest.raises(UndeliverableEmail) as raised:
        deliverable_address(email.recipient)
    assert raised.value.reason in ("recipient address missing", "recipient address invalid")
    if address and address.strip():
        assert address.strip() not in str(raised.value)


@pytest.mark.parametrize("address", ["sara.peeters+loket@example.org",
                                     "o'brien@mail.example.co.uk", "  x_y@sub-domain.example.be  "])
def test_valid_addresses_are_accepted_and_trimmed(address):
    assert deliverable_address(address) == address.strip()


@pytest.mark.parametrize("kind", [Kind.OFFER_RECEIVED, Kind.OFFER_LAPSED])
def test_offer_emails_are_keyed_on_the_offer(snapshot, site, kind):
    snapshot["preferred_language"] = "fr"
    [request] = projections_from_snapshot(snapshot, previous={})
    email = offer_email(kind, request, OFFER, site=site)
    assert email.kind is kind
    assert (email.language, email.recipient, email.dossier_id) == ("fr", ADDRESS, "dos-0042")
    assert email.idempotency_key == f"off-7:{kind}"
    assert email.context["facility_name"] == "Crèche Het Zonnetje"
    assert email.context["answer_deadline"] == "2026-07-01"
    assert email.context["child_first_name"] == "Lina"
    assert email.context["desired_start_date"] == "2026-09-01"
    assert email.context["start_date"] == "2026-10-01"


def test_offer_email_refuses_other_kinds(snapshot, site):
    [request] = projections_from_snapshot(snapshot, previous={})
    with pytest.raises(ValueError):
        offer_email(Kind.CONSENT_GIVEN, request, OFFER, site=site)


def test_reminder_email_is_keyed_on_the_request(site):
    projection = RequestProjection(
        request_id="req-5", dossier_id="dos-5", desired_start_date=date(2026, 9, 1),
        status="active", language="en", recipient="parent@example.org", near_sent=False,
        passed_sent=False, applicant_first_name="Ahmed", child_first_name=None)
    email = reminder_email(DueReminder(Reminder.START_DATE_NEAR, projection), site=site)
    assert email.kind is Kind.START_DATE_NEAR
    assert email.idempotency_key == "req-5:start_date_near"
    assert email.recipient == "parent@example.org"
    assert (email.language, email.dossier_id) == ("en", "dos-5")
    assert email.context["desired_start_date"] == "2026-09-01"
    assert email.context["child_first_name"] is None


def test_reminder_to_an_invalid_address_is_built_to_be_parked(site):
    projection = RequestProjection("req-5", "dos-5", date(2026, 9, 1), "active", "nl", "nope",
                                   False, False, "Ahmed", "Noor")
    email = reminder_email(DueReminder(Reminder.START_DATE_PASSED, projection), site=site)
    with pytest.raises(UndeliverableEmail):
        deliverable_address(email.recipient)


def test_a_readdressed_registration_email_gets_a_code_for_the_new_address(
        snapshot, envelope, site):
    snapshot["applicant"]["email"] = "typo@example"
    email = only(emails_for_event(envelope("dossier_registered", snapshot), site=site))
    fixed = readdressed(email, "sara@example.org", site=site)
    assert fixed.recipient == "sara@example.org"
    assert fixed.idempotency_key == email.idempotency_key
    code = fixed.context["confirmation_code"]
    assert code != email.context["confirmation_code"]
    assert confirmation_code_matches(site.confirmation_secret, "dos-0042", "sara@example.org", code)
    assert parse_qs(urlsplit(fixed.context["confirmation_url"]).query)["code"] == [code]


def test_other_readdressed_emails_keep_their_context(snapshot, envelope, site):
    event = envelope("dossier_flagged", snapshot, flag="mistake", message="m", flagged_by=HELPDESK)
    email = only(emails_for_event(event, site=site))
    fixed = readdressed(email, "new@example.org", site=site)
    assert (fixed.recipient, fixed.context) == ("new@example.org", email.context)


@pytest.mark.parametrize("kind", list(Kind))
def test_every_context_survives_json_for_parking_and_replay(kind):
    context = sample_email(kind, "nl").context
    assert json.loads(json.dumps(context)) == context
