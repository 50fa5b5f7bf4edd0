"""Who may do what with a dossier: the access rules of the privacy policy (P18-P22) as one pure function.

Every service that owns dossier data calls `decide` on every call, with the caller the gateway
authenticated and the caller's relations to the dossier; the gateway never decides alone, so a
direct RPC call with the wrong caller is refused too. Anything not granted below is refused.

Decisions made here where the policy is silent:
- Two years (P19) are calendar years: an intermediary's access ends at the same instant two years
  after its last change with the parent; a change on 29 February ends on 28 February, so access
  never lasts longer than the policy's maximum. Exactly at that instant access is gone.
- The grant of an intermediary belongs to the intermediary's account (actor_id), not to its whole
  organisation: colleagues who never helped this parent get nothing (least privilege).
- Enrollment (P21) works per request. A facility that is not the enrolled facility never sees an
  enrolled request; it keeps the dossier only through another active request that chose it or is
  urgent. The registering manager's right to edit (P20) ends as soon as any child of the dossier is
  enrolled in another facility; the enrolled facility keeps reading the dossier of a child it cares for.
- A manager's grants count only for facilities the manager still runs (`Caller.facility_ids`).
- Consent, cancellation, export and erasure are the parent's own decisions: intermediaries and
  facility managers get none of them. The helpdesk may do everything except make an offer, which is
  a facility's proposal of a place; it is notified to the parent for every operation but a read (P18).
- The system role is for internal processes only (urgency rule, retention); the gateway never
  authenticates it. It may read, mark urgent and erase, and nothing else.
- A refusal tells the caller the dossier exists only when the caller may read it (`may_know_of`): a
  reader refused a change hears "forbidden", anyone else "not found", so ids cannot be probed.
- Searching across dossiers is the helpdesk's alone (`decide_search`): it serves parents on the phone
  and at the desk; every other role reaches dossiers by their own relations to them.
"""
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import NamedTuple

ROLES = frozenset({"parent", "helpdesk", "intermediary", "facility_manager", "system"})

OPERATIONS = frozenset({
    "read", "read_contact", "update_contact", "update_situation", "add_child", "change_facilities",
    "give_consent", "withdraw_consent", "cancel_request", "mark_urgent", "flag_dossier", "make_offer",
    "export_data", "erase", "answer_offer",
})

READS = frozenset({"read", "read_contact"})
EDITS = frozenset({"update_contact", "update_situation", "add_child", "change_facilities"})
CONSENT = frozenset({"give_consent", "withdraw_consent"})

PARENT_OPERATIONS = READS | EDITS | CONSENT | {"cancel_request", "answer_offer", "export_data", "erase"}
HELPDESK_OPERATIONS = OPERATIONS - {"make_offer"}
INTERMEDIARY_OPERATIONS = READS | EDITS | CONSENT
# A facility a request chose, or any facility while a request is urgent (P1, P2, P20).
CANDIDATE_OPERATIONS = READS | {"make_offer"}
ENROLLED_OPERATIONS = READS
REGISTRAR_OPERATIONS = READS | EDITS
SYSTEM_OPERATIONS = frozenset({"read", "mark_urgent", "erase"})
# Not an operation on one dossier: who may look dossiers up by name, email, birth date or id.
SEARCH_ROLES = frozenset({"helpdesk"})


def _require_aware(instant: datetime, what: str) -> None:
    if instant.tzinfo is None:
        raise ValueError(f"{what} must be a timezone-aware datetime")


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the gateway authenticated them. For a parent, actor_id is their account id."""
    role: str
    actor_id: str
    facility_ids: frozenset[str] = frozenset()
    organisation_id: str | None = None

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")
        if not self.actor_id:
            raise ValueError("a caller needs an actor_id")
        object.__setattr__(self, "facility_ids", frozenset(self.facility_ids))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    notify_parent: bool = False


class FacilityManagerGrant(NamedTuple):
    """A facility manager registered the dossier on the parent's behalf, for this facility (P20)."""
    actor_id: str
    facility_id: str


@dataclass(frozen=True)
class RequestView:
    """What access depends on in one request of the dossier SNAPSHOT."""
    id: str
    status: str
    facility_ids: frozenset[str] = frozenset()
    urgent: bool = False
    enrolled_facility_id: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "facility_ids", frozenset(self.facility_ids))

    @property
    def active(self) -> bool:
        return self.status == "active"

    def is_candidate_for(self, facility_ids: frozenset[str]) -> bool:
        return self.active and (self.urgent or bool(self.facility_ids & facility_ids))

    def is_enrolled_outside(self, facility_ids: frozenset[str]) -> bool:
        return self.status == "enrolled" and self.enrolled_facility_id not in facility_ids


@dataclass(frozen=True)
class DossierRelations:
    """A dossier as access sees it: its requests plus the access grants the registration service keeps."""
    dossier_id: str
    owner_account_id: str | None
    requests: tuple[RequestView, ...] = ()
    intermediary_grants: Mapping[str, datetime] = field(default_factory=dict)  # actor_id -> last change with the parent
    facility_manager_grants: frozenset[FacilityManagerGrant] = frozenset()

    def __post_init__(self):
        for last_change_at in self.intermediary_grants.values():
            _require_aware(last_change_at, "an intermediary's last change")
        object.__setattr__(self, "requests", tuple(self.requests))
        object.__setattr__(self, "intermediary_grants", MappingProxyType(dict(self.intermediary_grants)))
        object.__setattr__(self, "facility_manager_grants",
                           frozenset(FacilityManagerGrant(*grant) for grant in self.facility_manager_grants))

    @classmethod
    def from_snapshot(cls, snapshot: Mapping, *, owner_account_id: str | None,
                      intermediary_grants: Mapping[str, datetime] | None = None,
                      facility_manager_grants: Iterable[tuple[str, str]] = ()) -> "DossierRelations":
        """`snapshot` is the dossier SNAPSHOT of the event contracts (notes/events.md)."""
        requests = tuple(
            RequestView(id=request["id"], status=request["status"], facility_ids=frozenset(request["facility_ids"]),
                        urgent=bool(request["urgent"]), enrolled_facility_id=request.get("enrolled_facility_id"))
            for request in snapshot["requests"])
        return cls(dossier_id=snapshot["id"], owner_account_id=owner_account_id, requests=requests,
                   intermediary_grants=intermediary_grants or {},
                   facility_manager_grants=frozenset(facility_manager_grants))

    def request(self, request_id: str) -> RequestView | None:
        return next((request for request in self.requests if request.id == request_id), None)

    @property
    def chosen_facility_ids(self) -> frozenset[str]:
        return frozenset().union(*(request.facility_ids for request in self.requests if request.active))

    @property
    def has_urgent_request(self) -> bool:
        return any(request.active and request.urgent for request in self.requests)

    @property
    def enrolled_facility_ids(self) -> frozenset[str]:
        return frozenset(request.enrolled_facility_id for request in self.requests if request.status == "enrolled")


def intermediary_access_ends_at(last_change_at: datetime) -> datetime:
    """Two calendar years after the intermediary's last change with the parent (P19)."""
    _require_aware(last_change_at, "last_change_at")
    start = last_change_at.astimezone(timezone.utc)
    try:
        return start.replace(year=start.year + 2)
    except ValueError:  # 29 February: end a day early rather than exceed the policy's maximum
        return start.replace(year=start.year + 2, day=28)


def decide(caller: Caller, operation: str, relations: DossierRelations, now: datetime, *,
           request_id: str | None = None) -> Decision:
    """May `caller` perform `operation` on this dossier now?

    Pass `request_id` when the operation targets one request (an offer, a cancellation, reading one
    request): facilities are then judged on that request too, so an enrolled request stays hidden from
    other facilities (P21) and an offer needs that very request to have chosen the facility or be urgent.
    """
    _require_aware(now, "now")
    if operation not in OPERATIONS:
        return Decision(False, f"unknown operation {operation!r}")
    target = None
    if request_id is not None:
        target = relations.request(request_id)
        if target is None:
            return Decision(False, "the request is not part of this dossier")
    return _RULES[caller.role](caller, operation, relations, now, target)


def may_know_of(caller: Caller, relations: DossierRelations, now: datetime, *, request_id: str | None = None) -> bool:
    """May a refusal tell the caller that this dossier (and this request of it) exists?

    Only a caller who may read it already knows: they are refused an operation (403). To anyone else the
    dossier is answered as absent (404), exactly like an unknown id.
    """
    return decide(caller, "read", relations, now, request_id=request_id).allowed


def decide_search(caller: Caller) -> Decision:
    """May `caller` search across dossiers? The helpdesk only; every hit is then read as the helpdesk."""
    if caller.role in SEARCH_ROLES:
        return Decision(True, "helpdesk has access to every dossier (P18)")
    return Decision(False, f"a {caller.role} does not search dossiers: only the helpdesk does")


def visible_request_ids(caller: Caller, relations: DossierRelations, now: datetime) -> frozenset[str]:
    """The requests of the dossier the caller may read; a service shows only these."""
    return frozenset(request.id for request in relations.requests
                     if decide(caller, "read", relations, now, request_id=request.id).allowed)


def _permit(operation: str, permitted: frozenset[str], reason: str, notify_parent: bool = False) -> Decision:
    if operation in permitted:
        return Decision(True, reason, notify_parent)
    return Decision(False, f"{operation} is not permitted here: {reason}")


def _parent(caller, operation, relations, now, target):
    if relations.owner_account_id is None or relations.owner_account_id != caller.actor_id:
        return Decision(False, "a parent may only access their own dossier")
    return _permit(operation, PARENT_OPERATIONS, "own dossier")


def _helpdesk(caller, operation, relations, now, target):
    return _permit(operation, HELPDESK_OPERATIONS, "helpdesk has access to every dossier (P18)",
                   notify_parent=operation not in READS)


def _intermediary(caller, operation, relations, now, target):
    last_change_at = relations.intermediary_grants.get(caller.actor_id)
    if last_change_at is None:
        return Decision(False, "the intermediary did not help with this dossier")
    if now >= intermediary_access_ends_at(last_change_at):
        return Decision(False, "the intermediary's access ended 2 years after its last change (P19)")
    return _permit(operation, INTERMEDIARY_OPERATIONS, "intermediary helped with this dossier (P19)")


def _facility_manager(caller, operation, relations, now, target):
    mine = caller.facility_ids
    if target is not None and target.is_enrolled_outside(mine):
        return Decision(False, "the request is enrolled in another facility (P21)")
    enrolled_outside = any(request.is_enrolled_outside(mine) for request in relations.requests)
    registered_by_caller = any(grant.actor_id == caller.actor_id and grant.facility_id in mine
                               for grant in relations.facility_manager_grants)
    if registered_by_caller and not enrolled_outside:
        if operation == "make_offer":
            return _offer(operation, relations, mine, target)
        return _permit(operation, REGISTRAR_OPERATIONS, "the manager registered this dossier (P20)")
    if any(request.is_candidate_for(mine) for request in relations.requests):
        return _offer(operation, relations, mine, target)
    if relations.enrolled_facility_ids & mine:
        return _permit(operation, ENROLLED_OPERATIONS, "a child is enrolled in the manager's facility")
    if enrolled_outside:
        return Decision(False, "a child is enrolled in another facility (P21)")
    return Decision(False, "the dossier did not choose the manager's facility and is not urgent (P20)")


def _offer(operation, relations, mine, target):
    """A facility linked to the dossier may read it; an offer needs a request that chose it or is urgent."""
    if operation != "make_offer":
        return _permit(operation, CANDIDATE_OPERATIONS, "the dossier chose the manager's facility or is urgent (P1, P2)")
    offerable = [target] if target is not None else relations.requests
    if any(request.is_candidate_for(mine) for request in offerable):
        return Decision(True, "the request chose the manager's facility or is urgent (P2, P20)")
    return Decision(False, "no active request chose the manager's facility or is urgent")


def _system(caller, operation, relations, now, target):
    return _permit(operation, SYSTEM_OPERATIONS, "internal process")


_RULES = {
    "parent": _parent,
    "helpdesk": _helpdesk,
    "intermediary": _intermediary,
    "facility_manager": _facility_manager,
    "system": _system,
}
