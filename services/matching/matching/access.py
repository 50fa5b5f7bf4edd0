"""Who may call what on matching. The gateway passes the caller it authenticated
({"role", "actor_id", "facility_ids", "organisation_id"}); the decision is made here, on every call.

- A facility's rankings, free places and "dossiers that chose me" list: its manager (the facility
  is in caller.facility_ids) and the helpdesk.
- Offers are a facility's proposal of a place: only its manager makes one (as loket.access decides
  for dossiers: the helpdesk may do everything except make an offer).
- The facility registry: the helpdesk registers facilities; the helpdesk and the facility's
  manager update it.
- Answering an offer: the parent of the dossier, or the helpdesk on the parent's behalf. Matching
  does not know who owns a dossier: it checks the role here, then asks registration
  (`check_access(dossier_id, "answer_offer", caller)`), which refuses anyone else.
"""
from loket import access
from loket.errors import Forbidden

ANSWERING_ROLES = ("parent", "helpdesk")


def caller_from(caller) -> access.Caller:
    try:
        return access.Caller(role=caller["role"], actor_id=caller["actor_id"],
                             facility_ids=frozenset(caller.get("facility_ids") or ()),
                             organisation_id=caller.get("organisation_id"))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise Forbidden("the caller is not identified") from None


def manages(caller: access.Caller, facility_id: str) -> bool:
    return caller.role == "facility_manager" and facility_id in caller.facility_ids


def require_facility_staff(caller, facility_id: str) -> access.Caller:
    """The facility's manager or the helpdesk."""
    who = caller_from(caller)
    if not (manages(who, facility_id) or who.role == "helpdesk"):
        raise Forbidden(f"only the manager of {facility_id} or the helpdesk may do this")
    return who


def require_facility_manager(caller, facility_id: str) -> access.Caller:
    who = caller_from(caller)
    if not manages(who, facility_id):
        raise Forbidden(f"only the manager of {facility_id} makes its offers")
    return who


def require_helpdesk(caller) -> access.Caller:
    who = caller_from(caller)
    if who.role != "helpdesk":
        raise Forbidden("only the helpdesk may do this")
    return who


def require_answering(caller) -> access.Caller:
    who = caller_from(caller)
    if who.role not in ANSWERING_ROLES:
        raise Forbidden("only the parent (or the helpdesk for the parent) answers an offer")
    return who
