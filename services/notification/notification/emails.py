"""The catalogue of emails the Loket promises parents, and which event causes which email.

Everything here is pure: an event envelope (events.md) in, `Email` values out. An `Email`
carries its whole template context, so a parked email can be rendered and replayed later
without the event that caused it.
"""
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Mapping
from urllib.parse import urlencode

from notification.confirmation import confirmation_code
from notification.reminders import DueReminder

LANGUAGES = ("nl", "fr", "en")
DEFAULT_LANGUAGE = "nl"


class Kind(StrEnum):
    DOSSIER_REGISTERED = "dossier_registered"
    OFFER_RECEIVED = "offer_received"
    OFFER_LAPSED = "offer_lapsed"
    START_DATE_NEAR = "start_date_near"
    START_DATE_PASSED = "start_date_passed"
    REQUEST_CANCELLED_BY_HELPDESK = "request_cancelled_by_helpdesk"
    DOSSIER_FLAGGED = "dossier_flagged"
    DOSSIER_CHANGED_BY_HELPDESK = "dossier_changed_by_helpdesk"
    CONSENT_GIVEN = "consent_given"
    CONSENT_WITHDRAWN = "consent_withdrawn"


class UndeliverableEmail(Exception):
    """The email cannot be built or addressed; retrying will not help, so the caller parks it.
    The reason names no personal data (it ends up in logs)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Site:
    """Deployment facts every email refers to."""

    portal_url: str  # where the parent logs in
    confirm_email_url: str  # gateway endpoint that checks a confirmation code
    helpdesk_email: str
    confirmation_secret: bytes = field(repr=False)


@dataclass(frozen=True)
class Email:
    kind: Kind
    recipient: str
    language: str
    context: Mapping[str, Any]  # JSON-serialisable
    idempotency_key: str
    dossier_id: str


def emails_for_event(envelope: Mapping, *, site: Site) -> list[Email]:
    """The emails a registration event causes; [] for events that promise the parent nothing."""
    data = envelope["data"]
    event_type = envelope["type"].removeprefix("registration.")
    if event_type == "dossier_registered":
        kind, extra = Kind.DOSSIER_REGISTERED, _registered_context(data["dossier"], site)
    elif event_type == "dossier_updated" and data["changed_by"]["role"] == "helpdesk":
        kind, extra = Kind.DOSSIER_CHANGED_BY_HELPDESK, {
            "changed_sections": list(data["changed_sections"]),
            "changed_at": envelope["occurred_at"],
        }
    elif event_type == "request_cancelled" and data["cancelled_by"]["role"] == "helpdesk":
        kind, extra = Kind.REQUEST_CANCELLED_BY_HELPDESK, {
            **_request_context(data["dossier"], data["request_id"]),
            "reason": data["reason"],
        }
    elif event_type == "dossier_flagged":
        kind, extra = Kind.DOSSIER_FLAGGED, {"flag": data["flag"], "message": data["message"]}
    elif event_type == "consent_given":
        kind, extra = Kind.CONSENT_GIVEN, {
            "partner": data["partner"], "at": envelope["occurred_at"],
        }
    elif event_type == "consent_withdrawn":
        kind, extra = Kind.CONSENT_WITHDRAWN, {
            "partner": data["partner"], "at": envelope["occurred_at"],
        }
    else:
        return []
    return [_email(kind, data["dossier"], envelope["id"], extra, site)]


def offer_email(kind: Kind, dossier_snapshot: Mapping, offer: Mapping, *, site: Site) -> Email:
    """offer_received / offer_lapsed; offer = {offer_id, request_id, facility_id,
    facility_name, answer_deadline (ISO date or UTC datetime)}. Keyed on the offer id: one
    offer causes each of these emails at most once, whichever event carries it."""
    if kind not in (Kind.OFFER_RECEIVED, Kind.OFFER_LAPSED):
        raise ValueError(f"not an offer email: {kind}")
    extra = {
        **_request_context(dossier_snapshot, offer["request_id"]),
        "offer_id": offer["offer_id"],
        "facility_name": offer["facility_name"],
        "answer_deadline": offer["answer_deadline"],
    }
    return _email(kind, dossier_snapshot, offer["offer_id"], extra, site)


def reminder_email(due: DueReminder, *, site: Site) -> Email:
    """The email for a due start-date reminder; keyed on the request (once per request)."""
    projection = due.projection
    recipient = deliverable_address(projection.recipient)
    kind = Kind(due.kind)
    context = {
        **_site_context(site),
        "dossier_id": projection.dossier_id,
        "first_name": projection.applicant_first_name,
        "child_first_name": projection.child_first_name,
        "desired_start_date": projection.desired_start_date.isoformat(),
    }
    return Email(
        kind=kind,
        recipient=recipient,
        language=_language(projection.language),
        context=context,
        idempotency_key=f"{projection.request_id}:{kind}:{recipient}",
        dossier_id=projection.dossier_id,
    )


# A pragmatic subset of RFC 5321: ASCII dot-atom local part and a dotted domain. Anything
# outside it (quoted local parts, CR/LF, spaces) is refused rather than risked in a header.
_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def deliverable_address(address: str | None) -> str:
    if address is None or not address.strip():
        raise UndeliverableEmail("recipient address missing")
    address = address.strip()
    local, _, _ = address.partition("@")
    if len(address) > 254 or len(local) > 64 or not _ADDRESS.fullmatch(address):
        raise UndeliverableEmail("recipient address invalid")
    return address


def _email(kind: Kind, dossier: Mapping, source_id: str, extra: Mapping, site: Site) -> Email:
    recipient = deliverable_address(dossier["applicant"].get("email"))
    context = {
        **_site_context(site),
        "dossier_id": dossier["id"],
        "first_name": dossier["applicant"]["first_name"],
        **extra,
    }
    return Email(
        kind=kind,
        recipient=recipient,
        language=_language(dossier.get("preferred_language")),
        context=context,
        idempotency_key=f"{source_id}:{kind}:{recipient}",
        dossier_id=dossier["id"],
    )


def _language(preferred: str | None) -> str:
    return preferred if preferred in LANGUAGES else DEFAULT_LANGUAGE


def _site_context(site: Site) -> dict:
    return {"portal_url": site.portal_url, "helpdesk_email": site.helpdesk_email}


def _registered_context(dossier: Mapping, site: Site) -> dict:
    address = deliverable_address(dossier["applicant"].get("email"))
    code = confirmation_code(site.confirmation_secret, dossier["id"], address)
    children = {child["id"]: child for child in dossier["children"]}
    return {
        "confirmation_code": code,
        "confirmation_url": _with_query(
            site.confirm_email_url, {"dossier": dossier["id"], "code": code}
        ),
        "requests": [
            {
                "child_first_name": children[request["child_id"]]["first_name"],
                "desired_start_date": request["desired_start_date"],
                "facility_count": len(request["facility_ids"]),
            }
            for request in dossier["requests"]
        ],
    }


def _request_context(dossier: Mapping, request_id: str) -> dict:
    request = next((r for r in dossier["requests"] if r["id"] == request_id), None)
    if request is None:
        raise UndeliverableEmail(f"request {request_id} not in dossier {dossier['id']}")
    child = next(c for c in dossier["children"] if c["id"] == request["child_id"])
    return {
        "child_first_name": child["first_name"],
        "desired_start_date": request["desired_start_date"],
    }


def _with_query(url: str, params: Mapping[str, str]) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{urlencode(params)}"
