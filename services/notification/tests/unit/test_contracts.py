"""The notification service against the registration contract (libs/loket): the events it
reads are the events registration is allowed to emit."""
import pytest

from loket.contracts import parse
from loket.contracts import matching, registration as contract
from notification import i18n
from notification.emails import LANGUAGES, Kind
from notification.operations import OFFER_EMAILS
from notification.samples import sample_envelope

EVENT_KINDS = [k for k in Kind if k not in (Kind.OFFER_RECEIVED, Kind.OFFER_LAPSED,
                                            Kind.START_DATE_NEAR, Kind.START_DATE_PASSED,
                                            Kind.ACCOUNT_CONFIRMATION)]


@pytest.mark.parametrize("kind", EVENT_KINDS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_sample_events_satisfy_the_registration_contract(kind, language):
    parse(sample_envelope(kind, language))


def test_the_fixture_events_satisfy_the_contract_too(snapshot, envelope):
    parse(envelope("request_cancelled", snapshot, request_id="req-1",
                   cancelled_by={"role": "helpdesk", "actor_id": "s-1"}, reason=None))
    parse(envelope("dossier_updated", snapshot, changed_by={"role": "helpdesk", "actor_id": None},
                   changed_sections=["contact", "partner"]))
    parse(envelope("child_added", snapshot, changed_by={"role": "helpdesk", "actor_id": "s-1"},
                   child_id="chi-1", request_id="req-1"))
    parse(envelope("facilities_changed", snapshot,
                   changed_by={"role": "helpdesk", "actor_id": "s-1"}, request_id="req-1"))


def test_every_section_registration_reports_has_its_own_label():
    # "facilities" is notification's own name for what a facilities_changed event changed.
    assert set(i18n.SECTION_LABELS) == set(contract.CHANGED_SECTIONS) | {"facilities"}


def test_every_consent_partner_and_language_is_covered():
    assert set(i18n.PARTNER_NAMES) == set(contract.CONSENT_PARTNERS)
    assert set(LANGUAGES) == set(contract.LANGUAGES)


@pytest.mark.parametrize("schema", [matching.OfferMadeV1, matching.OfferLapsedV1])
def test_offer_events_carry_everything_an_offer_email_reads(schema):
    assert {"offer_id", "dossier_id", "request_id", "facility_name", "start_date",
            "answer_deadline"} <= set(schema().fields)


def test_offer_emails_follow_matchings_offer_events():
    assert set(OFFER_EMAILS) == {matching.OFFER_MADE, matching.OFFER_LAPSED}


def test_the_account_confirmation_is_built_from_the_gateway_contract():
    from loket.contracts import envelope
    from notification.emails import account_confirmation_email
    from notification.samples import SAMPLE_SITE
    event = parse(envelope("gateway.account_confirmation_requested", {
        "account_id": "acc-1", "email": "an@example.org", "confirmation_token": "t" * 32,
        "expires_at": "2026-12-01T10:00:00+00:00", "language": "fr"}, aggregate_id="acc-1", sequence=1,
        producer="gateway"))
    email = account_confirmation_email(event, site=SAMPLE_SITE)
    assert (email.recipient, email.language, email.context["confirmation_token"]) == ("an@example.org", "fr", "t" * 32)
    assert email.idempotency_key == f"{event['id']}:account_confirmation"
