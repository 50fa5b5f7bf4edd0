"""Operations on dossiers: plain functions on a SQLAlchemy session, called by the entrypoints.

Each change bumps `dossier.version` (the event sequence), sets `last_activity_at = now`, records
its event with `events.record(session, type, aggregate_id, sequence, data)` and an audit entry, all
in the caller's transaction. Every check runs before the first change, so a rejected call changes
nothing and records nothing. Mutating operations return the event data they recorded; its
`dossier` key is the snapshot.
"""
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, joinedload, selectinload

from loket.contracts import registration as contract
from loket.crypto import Keyring

from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .models import (
    AccessGrant, Applicant, AuditEntry, Child, Consent, Dossier, Partner, PriorityData, Request,
)
from .schemas import MAX_CHILDREN, partner_situation_errors
from .snapshots import actor_data, current_consent, dossier_view, snapshot

SYSTEM = {"role": "system", "actor_id": None}
ACTIVE, ENROLLED, CANCELLED, EXPIRED = "active", "enrolled", "cancelled", "expired"
GRANTED_ROLES = ("intermediary", "facility_manager")
PERSON_FIELDS = ("last_name", "first_name", "birth_date", "gender", "email", "phone")
ADDRESS_FIELDS = ("street", "house_number", "postal_code", "municipality")


def _new_id() -> str:
    return str(uuid.uuid4())


def record_audit(session: Session, now: datetime, dossier_id: str, actor: dict, operation: str,
                 outcome: str = "ok") -> None:
    """Add an audit entry. The service audits refused calls itself, in a transaction of their own,
    after rolling back the refused one."""
    session.add(AuditEntry(**_audit_values(now, dossier_id, actor, operation, outcome)))


def _audit_values(now: datetime, dossier_id: str, actor: dict, operation: str, outcome: str = "ok") -> dict:
    return {"dossier_id": dossier_id, "actor_role": actor["role"], "actor_id": actor.get("actor_id"),
            "operation": operation, "outcome": outcome, "at": now}


_WHOLE_DOSSIER = (
    # one row each: joined into the dossier's own query; collections: one query each
    joinedload(Dossier.applicant), joinedload(Dossier.partner), joinedload(Dossier.priority),
    selectinload(Dossier.children), selectinload(Dossier.requests), selectinload(Dossier.consents),
    selectinload(Dossier.access_grants),
)


def load_dossier(session: Session, dossier_id: str) -> Dossier:
    """The dossier with everything it holds. A dossier this session loaded already (the access check
    does) comes from the identity map without a second round of queries: the session keeps a strong
    reference to it, since its identity map alone would let an unchanged dossier be collected."""
    dossier = session.get(Dossier, dossier_id, options=_WHOLE_DOSSIER)
    if dossier is None:
        raise NotFound(f"dossier {dossier_id} not found")
    session.info.setdefault("loaded_dossiers", {})[dossier_id] = dossier
    return dossier


def _request(dossier: Dossier, request_id: str) -> Request:
    for request in dossier.requests:
        if request.id == request_id:
            return request
    raise NotFound(f"request {request_id} not found in dossier {dossier.id}")


def _active_request(dossier: Dossier, request_id: str) -> Request:
    request = _request(dossier, request_id)
    if request.status != ACTIVE:
        raise Conflict(f"request {request_id} is {request.status}")
    return request


def _require_role(actor: dict, roles: tuple, operation: str) -> None:
    if actor["role"] not in roles:
        raise Forbidden(f"{actor['role']} may not {operation}")


def _changed(session, now, dossier, actor, events, operation, event_type, **details) -> dict:
    dossier.version += 1
    dossier.last_activity_at = now
    for grant in dossier.access_grants:
        # an intermediary's access runs from their last change made with the parent (P19)
        if grant.role == actor["role"] and grant.actor_id == actor.get("actor_id"):
            grant.last_change_at = now
    data = {"dossier": snapshot(dossier), **details}
    events.record(session, event_type, dossier.id, dossier.version, data)
    record_audit(session, now, dossier.id, actor, operation)
    return data


def _person(model, values: dict):
    return model(**{field: values.get(field) for field in PERSON_FIELDS})


def _new_child(dossier: Dossier, values: dict, now: datetime) -> tuple[Child, Request]:
    child = Child(
        id=_new_id(), position=len(dossier.children), last_name=values["last_name"],
        first_name=values.get("first_name"), birth_date=values["birth_date"],
        gender=values.get("gender"), foster_child=values["foster_child"],
        sibling_facility_ids=list(values["sibling_facility_ids"]),
    )
    wanted = values["request"]
    request = Request(
        id=_new_id(), child=child, child_id=child.id, position=child.position, status=ACTIVE,
        urgent=False, desired_start_date=wanted["desired_start_date"],
        care_plan=dict(wanted["care_plan"]),
        facility_ids=list(wanted["facility_ids"]), registered_at=now,
    )
    dossier.children.append(child)
    dossier.requests.append(request)
    return child, request


def _apply_situation(priority: PriorityData, situation: dict, keyring: Keyring) -> None:
    work, education, health = situation["work"], situation["education"], situation["health"]
    partner_work = work.get("partner") or {}
    priority.single_parent = situation["family"]["single_parent"]
    priority.income_below_threshold = situation["financial"]["income_below_threshold"]
    priority.income_band = situation["financial"].get("income_band")
    priority.applicant_work_regime = work["applicant"]["regime"]
    priority.applicant_employer = work["applicant"].get("employer")
    priority.applicant_in_training = work["applicant"]["training"]
    priority.applicant_job_seeking = work["applicant"]["job_seeking"]
    priority.applicant_education_level = education["applicant"]
    priority.partner_work_regime = partner_work.get("regime")
    priority.partner_employer = partner_work.get("employer")
    priority.partner_in_training = partner_work.get("training")
    priority.partner_job_seeking = partner_work.get("job_seeking")
    priority.partner_education_level = education.get("partner")
    priority.integration_course_complete = work["integration_course_complete"]
    priority.health_or_care_situation = health["care_situation"]
    detail = health.get("detail")
    priority.health_situation_encrypted = keyring.encrypt(detail) if detail else None
    priority.dutch_proficiency = situation["dutch"]["proficiency"]
    priority.dutch_proof_declared = situation["dutch"]["proof_declared"]


def _forget_partner_situation(priority: PriorityData) -> None:
    priority.partner_work_regime = priority.partner_employer = None
    priority.partner_in_training = priority.partner_job_seeking = None
    priority.partner_education_level = None


def _consent(partner: str, given: bool, values: dict, now, actor, dossier_version: int) -> Consent:
    return Consent(id=_new_id(), dossier_version=dossier_version, partner=partner, given=given,
                   at=now, policy_version=values["policy_version"], method=values["method"],
                   by_role=actor["role"], by_actor_id=actor.get("actor_id"))


def register_dossier(session: Session, now: datetime, data: dict, actor: dict, events,
                     keyring: Keyring) -> dict:
    """Create a dossier from RegisterDossierInput data. Returns {"dossier": snapshot}."""
    registrant = data["registered_by"]
    dossier = Dossier(
        id=_new_id(), version=1, registered_at=now, last_activity_at=now,
        registered_by_role=registrant["role"], registered_by_actor_id=registrant.get("actor_id"),
        owner_account_id=actor.get("actor_id") if actor["role"] == "parent" else None,
        preferred_language=data["preferred_language"], restricted=False, flagged=False,
        applicant=_person(Applicant, data["applicant"]),
        partner=_person(Partner, data["partner"]) if data.get("partner") else None,
        priority=PriorityData(),
    )
    for field in ADDRESS_FIELDS:
        setattr(dossier.applicant, field, data["applicant"]["address"][field])
    for values in data["children"]:
        _new_child(dossier, values, now)
    _apply_situation(dossier.priority, data["situation"], keyring)
    for partner, choice in (data.get("consents") or {}).items():
        if choice is not None:
            dossier.consents.append(_consent(partner, choice["given"], choice, now, actor, 1))
    if registrant["role"] in GRANTED_ROLES:
        dossier.access_grants.append(AccessGrant(
            role=registrant["role"], actor_id=registrant["actor_id"],
            facility_id=registrant.get("facility_id"), granted_at=now, last_change_at=now))
    session.add(dossier)
    result = {"dossier": snapshot(dossier)}
    events.record(session, contract.DOSSIER_REGISTERED, dossier.id, dossier.version, result)
    record_audit(session, now, dossier.id, actor, "register_dossier")
    return result


def get_dossier(session: Session, now: datetime, dossier_id: str, actor: dict,
                keyring: Keyring) -> dict:
    """The dossier view (snapshot, situation with the decrypted health situation, consent
    history); the read is audited."""
    dossier = load_dossier(session, dossier_id)
    token = dossier.priority.health_situation_encrypted
    record_audit(session, now, dossier_id, actor, "get_dossier")
    return dossier_view(dossier, keyring.decrypt(token) if token else None)


def update_contact(session: Session, now: datetime, dossier_id: str, data: dict, actor: dict,
                   events) -> dict:
    """Apply UpdateContactInput data: the applicant's given fields, the partner (replaced,
    added, or removed with `partner: None`), the preferred language."""
    dossier = load_dossier(session, dossier_id)
    sections = []
    if data.get("preferred_language") or "applicant" in data:
        sections.append("contact")
        if data.get("preferred_language"):
            dossier.preferred_language = data["preferred_language"]
        applicant = data.get("applicant", {})
        for field, value in {**applicant, **applicant.get("address", {})}.items():
            if field != "address":
                setattr(dossier.applicant, field, value)
    if "partner" in data:
        sections.append("partner")
        if data["partner"] is None:
            dossier.partner = None
            _forget_partner_situation(dossier.priority)
        elif dossier.partner is None:
            dossier.partner = _person(Partner, data["partner"])
        else:
            for field in PERSON_FIELDS:
                setattr(dossier.partner, field, data["partner"].get(field))
    return _changed(session, now, dossier, actor, events, "update_contact",
                    contract.DOSSIER_UPDATED, changed_by=actor_data(actor),
                    changed_sections=sections)


def update_situation(session: Session, now: datetime, dossier_id: str, data: dict, actor: dict,
                     events, keyring: Keyring) -> dict:
    """Replace the situation (UpdateSituationInput) and, when given, children's family situation."""
    dossier = load_dossier(session, dossier_id)
    errors = {}
    if situation_errors := partner_situation_errors(data["situation"], dossier.partner is not None):
        errors["situation"] = situation_errors
    children = {child.id: child for child in dossier.children}
    for index, values in enumerate(data.get("children", [])):
        if values["id"] not in children:
            errors.setdefault("children", {})[index] = {"id": ["No such child in the dossier."]}
    if errors:
        raise InvalidInput(errors)
    _apply_situation(dossier.priority, data["situation"], keyring)
    for values in data.get("children", []):
        children[values["id"]].foster_child = values["foster_child"]
        children[values["id"]].sibling_facility_ids = list(values["sibling_facility_ids"])
    sections = ["situation"] + (["children"] if "children" in data else [])
    return _changed(session, now, dossier, actor, events, "update_situation",
                    contract.DOSSIER_UPDATED, changed_by=actor_data(actor),
                    changed_sections=sections)


def add_child(session: Session, now: datetime, dossier_id: str, data: dict, actor: dict,
              events) -> dict:
    """Add a child and its request to an existing dossier (P16, AddChildInput)."""
    dossier = load_dossier(session, dossier_id)
    if len(dossier.children) >= MAX_CHILDREN:
        raise Conflict(f"dossier {dossier_id} already has {MAX_CHILDREN} children")
    child, request = _new_child(dossier, data, now)
    return _changed(session, now, dossier, actor, events, "add_child", contract.CHILD_ADDED,
                    child_id=child.id, request_id=request.id, changed_by=actor_data(actor))


def change_facilities(session: Session, now: datetime, dossier_id: str, data: dict, actor: dict,
                      events) -> dict:
    dossier = load_dossier(session, dossier_id)
    request = _active_request(dossier, data["request_id"])
    request.facility_ids = list(data["facility_ids"])
    return _changed(session, now, dossier, actor, events, "change_facilities",
                    contract.FACILITIES_CHANGED, request_id=request.id,
                    changed_by=actor_data(actor))


def give_consent(session: Session, now: datetime, dossier_id: str, data: dict, actor: dict,
                 events) -> dict:
    """Give a consent (ConsentInput). Giving it again is allowed for a new policy version."""
    dossier = load_dossier(session, dossier_id)
    current = current_consent(dossier, data["partner"])
    if current and current.given and current.policy_version == data["policy_version"]:
        raise Conflict(f"consent to {data['partner']} already given for this policy version")
    dossier.consents.append(
        _consent(data["partner"], True, data, now, actor, dossier.version + 1))
    return _changed(session, now, dossier, actor, events, "give_consent", contract.CONSENT_GIVEN,
                    partner=data["partner"], changed_by=actor_data(actor))


def withdraw_consent(session: Session, now: datetime, dossier_id: str, data: dict, actor: dict,
                     events) -> dict:
    dossier = load_dossier(session, dossier_id)
    current = current_consent(dossier, data["partner"])
    if not (current and current.given):
        raise Conflict(f"no consent to {data['partner']} to withdraw")
    dossier.consents.append(
        _consent(data["partner"], False, data, now, actor, dossier.version + 1))
    return _changed(session, now, dossier, actor, events, "withdraw_consent",
                    contract.CONSENT_WITHDRAWN, partner=data["partner"],
                    changed_by=actor_data(actor))


def cancel_request(session: Session, now: datetime, dossier_id: str, data: dict, actor: dict,
                   events) -> dict:
    """Cancel an active request; the helpdesk must say why (the parent is told, P4/P18)."""
    dossier = load_dossier(session, dossier_id)
    request = _active_request(dossier, data["request_id"])
    reason = data.get("reason")
    if actor["role"] == "helpdesk" and not reason:
        raise InvalidInput({"reason": ["Required when the helpdesk cancels a request."]})
    request.status, request.cancel_reason, request.closed_at = CANCELLED, reason, now
    return _changed(session, now, dossier, actor, events, "cancel_request",
                    contract.REQUEST_CANCELLED, request_id=request.id,
                    cancelled_by=actor_data(actor), reason=reason)


def mark_urgent(session: Session, now: datetime, dossier_id: str, data: dict, actor: dict,
                events) -> dict:
    """Make an active request urgent: every connected facility may then offer (P2). A helpdesk
    decision, or the system's configured rule."""
    _require_role(actor, ("helpdesk", "system"), "mark a request urgent")
    dossier = load_dossier(session, dossier_id)
    request = _active_request(dossier, data["request_id"])
    if request.urgent:
        raise Conflict(f"request {request.id} is already urgent")
    request.urgent = True
    return _changed(session, now, dossier, actor, events, "mark_urgent",
                    contract.REQUEST_MARKED_URGENT, request_id=request.id,
                    marked_by=actor_data(actor))


def flag_dossier(session: Session, now: datetime, dossier_id: str, data: dict, actor: dict,
                 events) -> dict:
    """The helpdesk flags a mistake or an incomplete dossier; the parent is emailed (P3)."""
    _require_role(actor, ("helpdesk",), "flag a dossier")
    dossier = load_dossier(session, dossier_id)
    dossier.flagged, dossier.flag, dossier.flag_message = True, data["flag"], data["message"]
    dossier.flagged_at = now
    return _changed(session, now, dossier, actor, events, "flag_dossier",
                    contract.DOSSIER_FLAGGED, flag=data["flag"], message=data["message"],
                    flagged_by=actor_data(actor))


def facilities_with_access(dossier: Dossier) -> set[str]:
    """Facilities whose managers may see the dossier: those a request chose, except that an
    enrolled request leaves only the facility of the enrollment (P20, P21)."""
    facilities = set()
    for request in dossier.requests:
        if request.status == ENROLLED:
            facilities.add(request.enrolled_facility_id)
        else:
            facilities.update(request.facility_ids)
    return facilities


def record_enrollment(session: Session, now: datetime, dossier_id: str, data: dict, actor: dict,
                      events) -> dict:
    """Close an active request by enrollment in a chosen facility (any facility when urgent);
    managers' grants of facilities the dossier no longer involves are revoked (P21)."""
    dossier = load_dossier(session, dossier_id)
    request = _active_request(dossier, data["request_id"])
    facility_id = data["facility_id"]
    if not request.urgent and facility_id not in request.facility_ids:
        raise Conflict(f"facility {facility_id} was not chosen for request {request.id}")
    request.status, request.enrolled_facility_id, request.closed_at = ENROLLED, facility_id, now
    involved = facilities_with_access(dossier)
    for grant in list(dossier.access_grants):
        if grant.role == "facility_manager" and grant.facility_id not in involved:
            dossier.access_grants.remove(grant)
    return _changed(session, now, dossier, actor, events, "record_enrollment",
                    contract.REQUEST_ENROLLED, request_id=request.id, facility_id=facility_id)


def expire_requests(session: Session, now: datetime, grace_days: int, events,
                    limit: int | None = None) -> int:
    """Expire active requests whose desired start date passed more than `grace_days` ago, one
    event each; at most `limit` per call so a large backlog can be worked off in several
    transactions. Returns how many expired."""
    cutoff = now.date() - timedelta(days=grace_days)
    due = session.execute(
        select(Request.dossier_id, Request.id)
        .where(Request.status == ACTIVE, Request.desired_start_date < cutoff)
        .order_by(Request.dossier_id, Request.position).limit(limit)
    ).all()
    for dossier_id, request_id in due:
        dossier = load_dossier(session, dossier_id)
        request = _request(dossier, request_id)
        request.status, request.closed_at = EXPIRED, now
        _changed(session, now, dossier, SYSTEM, events, "expire_request",
                 contract.REQUEST_EXPIRED, request_id=request_id)
    return len(due)


def set_restriction(session: Session, now: datetime, dossier_id: str, data: dict, actor: dict,
                    events) -> dict:
    """GDPR art. 18: while restricted, the dossier is kept but not processed (no ranking, no exports).
    Downstream services read `restricted` from the snapshot."""
    dossier = load_dossier(session, dossier_id)
    if dossier.restricted == data["restricted"]:
        raise Conflict("processing is already " + ("restricted" if dossier.restricted else "unrestricted"))
    dossier.restricted = data["restricted"]
    return _changed(session, now, dossier, actor, events, "set_restriction", contract.DOSSIER_UPDATED,
                    changed_by=actor_data(actor), changed_sections=["restriction"])


def owned_dossier_ids(session: Session, account_id: str) -> list[str]:
    return list(session.scalars(select(Dossier.id).where(Dossier.owner_account_id == account_id)
                                .order_by(Dossier.registered_at)))


def access_log(session: Session, dossier_id: str) -> list[dict]:
    """Who read or changed the dossier, when, and with what outcome: the parent may see it (P22)."""
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.dossier_id == dossier_id).order_by(AuditEntry.at, AuditEntry.id))
    return [{"at": entry.at.isoformat(), "role": entry.actor_role, "actor_id": entry.actor_id,
             "operation": entry.operation, "outcome": entry.outcome} for entry in entries]


def erase_dossier(session: Session, now: datetime, dossier_id: str, actor: dict, events) -> dict:
    """Erase one dossier as `erase_dossiers` does; NotFound for an unknown (or erased) dossier.
    Returns the event data {"dossier_id": ...}."""
    if not erase_dossiers(session, now, [dossier_id], actor, events)[dossier_id]:
        raise NotFound(f"dossier {dossier_id} not found")
    return {"dossier_id": dossier_id}


def _rows_of_a_dossier() -> tuple:
    """The models of a dossier's rows, each one's table before the tables it refers to (requests
    before children), the dossier itself last; the audit log aside (see erase_dossiers)."""
    models = {mapper.local_table: mapper.class_ for mapper in Dossier.registry.mappers}
    return tuple(models[table] for table in reversed(Dossier.metadata.sorted_tables)
                 if table.name == Dossier.__tablename__
                 or ("dossier_id" in table.c and table.name != AuditEntry.__tablename__))


_DOSSIER_ROWS = _rows_of_a_dossier()


def erase_dossiers(session: Session, now: datetime, dossier_ids, actor: dict, events,
                   announce: bool = True) -> dict[str, int]:
    """Delete every row of the dossiers, their audit entries included, and record dossier_erased for
    each (P14, P23). One audit entry of each erasure stays: ids only, proof that it happened.

    `announce=False` when answering retention's erasure request: every other holder got the same
    request and answers it, so dossier_erased would only make matching, notification, consent-export
    and retention erase a second time (100,000 more events each when retention erases 100,000 dossiers).

    A few bulk statements for the lot, whatever their number: the dossiers are locked (in id order)
    and their versions read for the events' sequences, then each table's rows are deleted with one
    DELETE ... WHERE dossier_id IN (...), without relying on the ON DELETE cascades. A dossier
    unknown or erased already (on the parent's request, by an earlier run, by a concurrent
    transaction that committed first) is left alone: its kept audit entry stays, no event.
    Returns {dossier id: rows deleted}, 0 for such a dossier."""
    ids = list(dict.fromkeys(dossier_ids))
    erased = dict.fromkeys(ids, 0)
    versions = dict(session.execute(select(Dossier.id, Dossier.version).where(Dossier.id.in_(ids))
                                    .order_by(Dossier.id).with_for_update()).all())
    found = [dossier_id for dossier_id in ids if dossier_id in versions]
    if not found:
        return erased
    for model in (*_DOSSIER_ROWS, AuditEntry):
        owner = model.id if model is Dossier else model.dossier_id
        for dossier_id in session.scalars(delete(model).where(owner.in_(found)).returning(owner)):
            erased[dossier_id] += 1
    loaded = session.info.get("loaded_dossiers", {})
    for dossier_id in found:
        loaded.pop(dossier_id, None)
    session.execute(insert(AuditEntry),
                    [_audit_values(now, dossier_id, actor, "erase_dossier") for dossier_id in found])
    if announce:
        events.record_many(session, [(contract.DOSSIER_ERASED, dossier_id, versions[dossier_id] + 1,
                                      {"dossier_id": dossier_id}) for dossier_id in found])
    return erased


def rotate_keys(session: Session, keyring: Keyring) -> int:
    """Re-encrypt every health situation with the keyring's newest key. Not a dossier change: no
    event, no activity. Returns how many values were re-encrypted."""
    rows = session.execute(
        select(PriorityData.dossier_id, PriorityData.health_situation_encrypted)
        .where(PriorityData.health_situation_encrypted.is_not(None))
    ).all()
    for dossier_id, token in rows:
        session.execute(update(PriorityData).where(PriorityData.dossier_id == dossier_id)
                        .values(health_situation_encrypted=keyring.rotate(token)))
    return len(rows)
