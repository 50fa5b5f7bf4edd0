"""The privacy policy's access rules (loket.access) applied to this service's dossiers, on every call.

The gateway passes who is calling; the decision is made here, by the owner of the data, so a direct
RPC call with the wrong caller is refused too.

A refusal says the dossier exists only to a caller who may read it (`loket.access.may_know_of`): a
reader refused an operation gets Forbidden (403), anyone else NotFound (404), as for an unknown id.
"""
from loket import access

from .dossiers import load_dossier
from .errors import Forbidden, NotFound
from .models import Dossier
from .snapshots import snapshot

# Roles that may register a dossier, and internal callers that may record an enrollment.
REGISTRANT_ROLES = ("parent", "intermediary", "facility_manager")
ENROLLMENT_ROLES = ("system", "helpdesk")


def caller_from(actor) -> access.Caller:
    try:
        return access.Caller(role=actor["role"], actor_id=actor["actor_id"],
                             facility_ids=frozenset(actor.get("facility_ids") or ()),
                             organisation_id=actor.get("organisation_id"))
    except (KeyError, TypeError, ValueError):
        raise Forbidden("the caller is not identified") from None


def relations_of(dossier: Dossier) -> access.DossierRelations:
    grants = dossier.access_grants
    return access.DossierRelations.from_snapshot(
        snapshot(dossier), owner_account_id=dossier.owner_account_id,
        intermediary_grants={g.actor_id: g.last_change_at for g in grants if g.role == "intermediary"},
        facility_manager_grants=[(g.actor_id, g.facility_id) for g in grants if g.role == "facility_manager"],
    )


class Refused(Exception):
    """The access rules refused the call. The entrypoint audits it, then answers `answer()`: never
    raised to an RPC caller itself (nameko could not rebuild it on the other side)."""

    def __init__(self, dossier_id: str | None, reason: str, revealed: bool):
        super().__init__(reason)
        self.dossier_id, self.reason, self.revealed = dossier_id, reason, revealed

    def answer(self) -> Exception:
        if self.revealed:
            return Forbidden(self.reason)
        return NotFound(f"dossier {self.dossier_id} not found")


def authorize(session, dossier_id, actor, operation, now, request_id=None) -> access.Decision:
    """Raise Refused unless the caller may perform `operation` on the dossier; NotFound for an unknown one."""
    caller = caller_from(actor)
    dossier = load_dossier(session, dossier_id)
    relations = relations_of(dossier)
    decision = access.decide(caller, operation, relations, now, request_id=request_id)
    if not decision.allowed:
        raise Refused(dossier_id, decision.reason,
                      revealed=access.may_know_of(caller, relations, now, request_id=request_id))
    return decision


def authorize_search(actor) -> access.Caller:
    """Raise Refused (answered Forbidden: no dossier is involved) unless the caller may search dossiers."""
    caller = caller_from(actor)
    decision = access.decide_search(caller)
    if not decision.allowed:
        raise Refused(None, decision.reason, revealed=True)
    return caller


def authorize_claim(actor) -> access.Caller:
    """Only a parent's own account claims a dossier (registration.claims); raise Refused otherwise."""
    caller = caller_from(actor)
    if caller.role != "parent":
        raise Refused(None, f"a {caller.role} does not claim dossiers: the parent's account does", revealed=True)
    return caller


def registrant(actor, requested) -> dict:
    """Who registers: always the authenticated caller, never what the payload claims.

    A facility manager names which of their facilities they register for (P20)."""
    caller = caller_from(actor)
    if caller.role not in REGISTRANT_ROLES:
        raise Forbidden(f"a {caller.role} does not register dossiers")
    if caller.role == "parent":
        return {"role": "parent"}
    result = {"role": caller.role, "actor_id": caller.actor_id}
    if caller.role == "facility_manager":
        facility_id = (requested or {}).get("facility_id")
        if facility_id not in caller.facility_ids:
            raise Forbidden("a facility manager registers only for a facility they run")
        result["facility_id"] = facility_id
    return result


def require_internal(actor, roles=ENROLLMENT_ROLES):
    if caller_from(actor).role not in roles:
        raise Forbidden("only the platform itself or the helpdesk records this")
