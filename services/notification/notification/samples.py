"""Made-up but realistic data to preview every email; built through the real builders, so a
preview has exactly the context a real email of that kind has."""
from notification.emails import (
    Email, Kind, Site, account_confirmation_email, emails_for_event, offer_email, reminder_email,
)
from notification.reminders import DueReminder, Reminder, projections_from_snapshot

SAMPLE_SITE = Site(
    portal_url="https://loket.example/aanmelden",
    confirm_email_url="https://loket.example/bevestig-email",
    helpdesk_email="helpdesk@loket.example",
    confirmation_secret=b"sample secret, never used in production",
)

_PARENT = {"role": "parent", "actor_id": "acc-0001"}
_HELPDESK = {"role": "helpdesk", "actor_id": "staff-0007"}


def sample_snapshot(language: str) -> dict:
    return {
        "id": "dos-0042",
        "registered_at": "2026-01-12T09:30:00+00:00",
        "last_activity_at": "2026-01-12T09:30:00+00:00",
        "registered_by": _PARENT,
        "preferred_language": language,
        "restricted": False,
        "applicant": {
            "last_name": "Peeters", "first_name": "Sara", "birth_date": "1992-04-03",
            "gender": "f", "email": "sara.peeters@example.org", "phone": "+32 470 12 34 56",
            "address": {"street": "Vooruitgangsstraat", "house_number": "12",
                        "postal_code": "1030", "municipality": "Schaarbeek"},
        },
        "partner": None,
        "children": [
            {"id": "chi-1", "last_name": "Peeters", "first_name": "Lina",
             "birth_date": "2025-11-20", "gender": "f", "foster_child": False,
             "sibling_facility_ids": []},
        ],
        "requests": [
            {"id": "req-1", "child_id": "chi-1", "desired_start_date": "2026-09-01",
             "care_plan": {"mon": "full", "tue": "full", "thu": "morning"},
             "facility_ids": ["fac-0001", "fac-0007", "fac-0012"], "status": "active",
             "urgent": False, "enrolled_facility_id": None,
             "registered_at": "2026-01-12T09:30:00+00:00"},
        ],
        "priority": {
            "dutch_proficiency": True, "dutch_proof_declared": True, "single_parent": False,
            "income_below_threshold": False, "health_or_care_situation": False,
            "no_secondary_diploma": False, "work_or_training_need": True,
            "work_regime_fraction": 0.8, "integration_course_complete": False,
        },
        "consents": {"kind_en_gezin": None, "lop": None},
    }


# Helpdesk staff write free text in the parent's language.
_REASONS = {
    "nl": "Je liet ons telefonisch weten dat je al opvang gevonden hebt.",
    "fr": "Vous nous avez indiqué par téléphone que vous avez déjà trouvé un accueil.",
    "en": "You told us by phone that you have already found childcare.",
}
_FLAG_MESSAGES = {
    "nl": "Het opvangplan vermeldt geen enkele dag. Duid aan op welke dagen je opvang zoekt.",
    "fr": "Le plan d'accueil ne mentionne aucun jour. "
          "Indiquez les jours où vous cherchez un accueil.",
    "en": "The care plan does not list any day. Please tick the days you need childcare.",
}


def _event_data(kind: Kind, language: str) -> tuple[str, dict]:
    return {
        Kind.DOSSIER_REGISTERED: ("dossier_registered", {}),
        Kind.DOSSIER_CHANGED_BY_HELPDESK: ("dossier_updated", {
            "changed_by": _HELPDESK, "changed_sections": ["contact", "situation"]}),
        Kind.REQUEST_CANCELLED_BY_HELPDESK: ("request_cancelled", {
            "request_id": "req-1", "cancelled_by": _HELPDESK, "reason": _REASONS[language]}),
        Kind.DOSSIER_FLAGGED: ("dossier_flagged", {
            "flag": "incomplete", "flagged_by": _HELPDESK,
            "message": _FLAG_MESSAGES[language]}),
        Kind.CONSENT_GIVEN: ("consent_given", {"partner": "kind_en_gezin", "changed_by": _PARENT}),
        Kind.CONSENT_WITHDRAWN: ("consent_withdrawn", {"partner": "lop", "changed_by": _PARENT}),
    }[kind]


_OFFER = {"offer_id": "off-0099", "facility_name": "Kinderdagverblijf De Speelvogel",
          "start_date": "2026-10-01", "answer_deadline": "2026-03-24T22:59:00+00:00"}


def sample_envelope(kind: Kind, language: str) -> dict:
    """The registration event that causes an email of this kind (not offers, not reminders)."""
    snapshot = sample_snapshot(language)
    event_type, extra = _event_data(kind, language)
    return {
        "id": "6f1c2a9e-0b7d-4f4e-9a51-3c2d8e7f1a00", "type": f"registration.{event_type}",
        "version": 1, "occurred_at": "2026-03-10T13:45:00+00:00", "correlation_id": "sample",
        "producer": "registration", "aggregate_id": snapshot["id"], "sequence": 7,
        "data": {"dossier": snapshot, **extra},
    }


def sample_email(kind: Kind, language: str) -> Email:
    if kind is Kind.ACCOUNT_CONFIRMATION:
        return account_confirmation_email({"id": "evt-sample", "data": {
            "account_id": "acc-sample", "email": "an.peeters@example.org", "language": language,
            "confirmation_token": "k3Jd9sQ-sample-token-Zx81", "expires_at": "2026-12-01T10:00:00+00:00"}},
            site=SAMPLE_SITE)
    if kind in (Kind.OFFER_RECEIVED, Kind.OFFER_LAPSED, Kind.START_DATE_NEAR,
                Kind.START_DATE_PASSED):
        [projection] = projections_from_snapshot(sample_snapshot(language), previous={})
        if kind in (Kind.OFFER_RECEIVED, Kind.OFFER_LAPSED):
            return offer_email(kind, projection, _OFFER, site=SAMPLE_SITE)
        return reminder_email(DueReminder(Reminder(kind), projection), site=SAMPLE_SITE)
    [email] = emails_for_event(sample_envelope(kind, language), site=SAMPLE_SITE)
    return email
