"""The helpdesk's search across dossiers: by a last name, an email, a child's birth date or an id.

Plain functions on a session, like registration.dossiers; the entrypoint checks who is searching
(loket.access.decide_search) before calling them. A hit is a short summary without sensitive data
(no situation, no contact details), and every hit is audited as a read by the searching helpdesk
account, so the parent sees who looked at their dossier (P22).
"""
from datetime import datetime

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from .dossiers import record_audit
from .models import Applicant, Child, Dossier, Partner, Request, name_key

MAX_RESULTS = 50
OPERATION = "search_dossiers"


def _prefix(key: str) -> str:
    """A LIKE pattern for names starting with `key`, its own % and _ taken literally."""
    return key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _partner_where(*conditions):
    return exists().where(Partner.dossier_id == Dossier.id, *conditions)


def _conditions(criteria: dict) -> list:
    """Every given criterion must hold (SearchDossiersInput data)."""
    conditions = []
    if criteria.get("last_name"):
        pattern = _prefix(name_key(criteria["last_name"]))
        conditions.append(or_(Applicant.last_name_key.like(pattern, escape="\\"),
                              _partner_where(Partner.last_name_key.like(pattern, escape="\\"))))
    if criteria.get("email"):
        email = criteria["email"].strip().lower()
        conditions.append(or_(func.lower(Applicant.email) == email,
                              _partner_where(func.lower(Partner.email) == email)))
    if criteria.get("child_birth_date"):
        conditions.append(exists().where(Child.dossier_id == Dossier.id,
                                         Child.birth_date == criteria["child_birth_date"]))
    if criteria.get("dossier_id"):
        conditions.append(Dossier.id == criteria["dossier_id"])
    if criteria.get("request_id"):
        conditions.append(exists().where(Request.dossier_id == Dossier.id, Request.id == criteria["request_id"]))
    return conditions


def summary(dossier: Dossier) -> dict:
    """What the helpdesk needs to tell dossiers apart on the phone; it opens the one it means."""
    return {
        "dossier_id": dossier.id,
        "registered_at": dossier.registered_at.isoformat(),
        "applicant": {"first_name": dossier.applicant.first_name, "last_name": dossier.applicant.last_name},
        "child_birth_dates": [child.birth_date.isoformat() for child in dossier.children],
        "requests": [{"request_id": request.id, "status": request.status, "urgent": request.urgent}
                     for request in dossier.requests],
    }


def search_dossiers(session: Session, now: datetime, criteria: dict, actor: dict,
                    limit: int = MAX_RESULTS) -> dict:
    """At most `limit` dossiers matching every criterion, by the applicant's name; `truncated` says more
    matched (the helpdesk then narrows the search). Each hit is audited as read by `actor`."""
    matching = session.scalars(
        select(Dossier.id).join(Applicant, Applicant.dossier_id == Dossier.id).where(*_conditions(criteria))
        .order_by(Applicant.last_name_key, Applicant.first_name, Dossier.id).limit(limit + 1)).all()
    hits = matching[:limit]
    found = {dossier.id: dossier for dossier in session.scalars(
        select(Dossier).where(Dossier.id.in_(hits)).options(
            selectinload(Dossier.applicant), selectinload(Dossier.children), selectinload(Dossier.requests)))}
    for dossier_id in hits:
        record_audit(session, now, dossier_id, actor, OPERATION)
    return {"results": [summary(found[dossier_id]) for dossier_id in hits], "truncated": len(matching) > limit}
