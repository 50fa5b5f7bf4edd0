"""The catalogue of emails the Loket promises parents, and which event causes which email.

Everything here is pure: an event envelope (events.md) in, `Email` values out. An `Email`
carries its whole template context, so a parked email can be rendered and replayed later
without the event that caused it.

An email's recipient is the address as the dossier gives it; `deliverable_address` decides
whether it can be sent, so an email to a bad address can be parked (and replayed once the
dossier is corrected) instead of vanishing.

Restricted dossiers (GDPR art. 18, `snapshot.restricted`): processing is on hold, yet the
parent still gets the emails about the request's legal course (offer, lapse, cancellation,
start date: processing the parent asked for) and every email telling them what the helpdesk
did (P3, P18; GDPR art. 18(3) wants the parent told when the restriction is lifted). Nothing
else: a consent confirmation for the parent's own change would describe transfers that the
restriction has stopped.
"""
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Mapping
from urllib.parse import urlencode

from notification.confirmation import confirmation_code
from notification.reminders import DueReminder, RequestProjection

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
    ACCOUNT_CONFIRMATION = "account_confirmation"


class UndeliverableEmail(Exception):
    """The email cannot be built or addressed; retrying will not help, so the caller parks it.
    The reason names no personal data (it ends up in logs)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# The request's legal course: sent whatever the dossier's restriction.
LEGAL_COURSE = frozenset({
    Kind.OFFER_RECEIVED, Kind.OFFER_LAPSED, Kind.REQUEST_CANCELLED_BY_HELPDESK,
    Kind.START_DATE_NEAR, Kind.START_DATE_PASSED,
})


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
    recipient: str | None  # as the dossier gives it; check with `deliverable_address`
    language: str
    context: Mapping[str, Any]  # JSON-serialisable
    # "<what caused it>:<kind>", the cause being an event, offer or request id. It holds no
    # personal data, so operators and logs may show it; every email goes to the applicant.
    idempotency_key: str
    dossier_id: str


def emails_for_event(envelope: Mapping, *, site: Site) -> list[Email]:
    """The emails a registration event causes; [] for events that promise the parent nothing
    (and for what a restricted dossier does not get, see the module docstring)."""
    data = envelope["data"]
    if "dossier" not in data:  # dossier_erased
        return []
    caused = _kind_and_context(envelope["type"].removeprefix("registration."), envelope, site)
    if caused is None:
        return []
    kind, extra, by_helpdesk = caused
    if data["dossier"]["restricted"] and not sent_while_restricted(kind, by_helpdesk):
        return []
    return [_email(kind, data["dossier"], envelope["id"], extra, site)]


def sent_while_restricted(kind: Kind, by_helpdesk: bool) -> bool:
    return kind in LEGAL_COURSE or by_helpdesk


# P18: the parent hears of every change the helpdesk makes, whichever event carries it.
_CHANGED_SECTIONS = {"child_added": ["children"], "facilities_changed": ["facilities"]}


def _kind_and_context(event_type: str, envelope: Mapping, site: Site):
    """(kind, template context, caused by the helpdesk) or None."""
    data = envelope["data"]
    dossier = data["dossier"]
    if event_type == "dossier_registered":
        return Kind.DOSSIER_REGISTERED, _registered_context(dossier, site), False
    if event_type == "dossier_updated" or event_type in _CHANGED_SECTIONS:
        if not _by_helpdesk(data["changed_by"]):
            return None
        sections = data.get("changed_sections") or _CHANGED_SECTIONS[event_type]
        return Kind.DOSSIER_CHANGED_BY_HELPDESK, {
            "changed_sections": list(sections), "changed_at": envelope["occurred_at"],
        }, True
    if event_type == "request_cancelled":
        if not _by_helpdesk(data["cancelled_by"]):
            return None
        return Kind.REQUEST_CANCELLED_BY_HELPDESK, {
            **_request_context(dossier, data["request_id"]), "reason": data["reason"],
        }, True
    if event_type == "dossier_flagged":
        return Kind.DOSSIER_FLAGGED, {
            "flag": data["flag"], "message": data["message"],
        }, _by_helpdesk(data["flagged_by"])
    if event_type in ("consent_given", "consent_withdrawn"):
        # A consent changed by the helpdesk keeps its consent email, which says who did it.
        by_helpdesk = _by_helpdesk(data["changed_by"])
        return Kind(event_type), {
            "partner": data["partner"], "at": envelope["occurred_at"],
            "recorded_by_helpdesk": by_helpdesk,
        }, by_helpdesk
    return None


def _by_helpdesk(actor: Mapping) -> bool:
    return actor["role"] == "helpdesk"


def offer_email(kind: Kind, request: RequestProjection, offer: Mapping, *, site: Site) -> Email:
    """offer_received / offer_lapsed for the projected request the offer is for; offer =
    matching's event data {offer_id, facility_name, start_date (ISO date), answer_deadline
    (ISO date or UTC datetime), ...}. Keyed on the offer id: one offer causes each of these
    emails at most once, whichever event carries it."""
    if kind not in (Kind.OFFER_RECEIVED, Kind.OFFER_LAPSED):
        raise ValueError(f"not an offer email: {kind}")
    extra = {
        "offer_id": offer["offer_id"],
        "facility_name": offer["facility_name"],
        "start_date": offer["start_date"],  # the place's, which may differ from the desired one
        "answer_deadline": offer["answer_deadline"],
    }
    return _projected_email(kind, request, offer["offer_id"], extra, site)


def account_confirmation_email(envelope: Mapping, *, site: Site) -> Email:
    """The gateway's sign-up confirmation (gateway.account_confirmation_requested): the token the
    gateway issued, to the address being confirmed. Not about a dossier: logged under the account."""
    data = envelope["data"]
    context = {
        **_site_context(site),
        "confirmation_token": data["confirmation_token"],
        "confirmation_url": _with_query(f"{site.portal_url.rstrip('/')}/account/confirm",
                                        {"token": data["confirmation_token"]}),
        "expires_at": data["expires_at"],
    }
    return Email(kind=Kind.ACCOUNT_CONFIRMATION, recipient=_trimmed(data["email"]),
                 language=_language(data["language"]), context=context,
                 idempotency_key=f"{envelope['id']}:{Kind.ACCOUNT_CONFIRMATION}",
                 dossier_id=f"account:{data['account_id']}")


def reminder_email(due: DueReminder, *, site: Site) -> Email:
    """The email for a due start-date reminder; keyed on the request (once per request)."""
    projection = due.projection
    return _projected_email(Kind(due.kind), projection, projection.request_id, {}, site)


def readdressed(email: Email, recipient: str, *, site: Site) -> Email:
    """The same email to the dossier's corrected address (replaying a parked email). A
    confirmation code is bound to the address, so the registration email gets a new one."""
    email = replace(email, recipient=recipient)
    if email.kind is not Kind.DOSSIER_REGISTERED:
        return email
    code = confirmation_code(site.confirmation_secret, email.dossier_id, recipient)
    return replace(email, context={**email.context, **_confirmation(email.dossier_id, code, site)})


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
    context = {
        **_site_context(site),
        "dossier_id": dossier["id"],
        "first_name": dossier["applicant"]["first_name"],
        **extra,
    }
    return Email(
        kind=kind,
        recipient=_trimmed(dossier["applicant"].get("email")),
        language=_language(dossier.get("preferred_language")),
        context=context,
        idempotency_key=f"{source_id}:{kind}",
        dossier_id=dossier["id"],
    )


def _projected_email(kind: Kind, projection: RequestProjection, source_id: str, extra: Mapping,
                     site: Site) -> Email:
    context = {
        **_site_context(site),
        "dossier_id": projection.dossier_id,
        "first_name": projection.applicant_first_name,
        "child_first_name": projection.child_first_name,
        "desired_start_date": projection.desired_start_date.isoformat(),
        **extra,
    }
    return Email(
        kind=kind,
        recipient=_trimmed(projection.recipient),
        language=_language(projection.language),
        context=context,
        idempotency_key=f"{source_id}:{kind}",
        dossier_id=projection.dossier_id,
    )


def _trimmed(address: str | None) -> str | None:
    return address.strip() if isinstance(address, str) else None


def _language(preferred: str | None) -> str:
    return preferred if preferred in LANGUAGES else DEFAULT_LANGUAGE


def _site_context(site: Site) -> dict:
    return {"portal_url": site.portal_url, "helpdesk_email": site.helpdesk_email}


def _confirmation(dossier_id: str, code: str, site: Site) -> dict:
    return {
        "confirmation_code": code,
        "confirmation_url": _with_query(site.confirm_email_url,
                                        {"dossier": dossier_id, "code": code}),
    }


def _registered_context(dossier: Mapping, site: Site) -> dict:
    # An undeliverable address still gets its code: the email is parked, not lost, and
    # `readdressed` issues a new code for the corrected address.
    address = _trimmed(dossier["applicant"].get("email")) or ""
    code = confirmation_code(site.confirmation_secret, dossier["id"], address)
    children = {child["id"]: child for child in dossier["children"]}
    return {
        **_confirmation(dossier["id"], code, site),
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
