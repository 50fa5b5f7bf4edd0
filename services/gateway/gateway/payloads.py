"""What the gateway sends the services: the caller as the services' `actor`, and the parts of an RPC
payload only the gateway knows (who registers, through which channel a consent is given).

Deciding who may do what stays with the service that owns the data (loket.access); these functions
only say who is asking, so a client can never claim to be someone else.
"""
from marshmallow import ValidationError

from loket.access import Caller

# The channel each role gives a consent through; the helpdesk and intermediaries may also record a
# consent the parent signed on paper.
CONSENT_METHODS_BY_ROLE = {
    "parent": ("web",),
    "intermediary": ("intermediary", "paper"),
    "helpdesk": ("helpdesk", "paper"),
}


def actor(caller: Caller) -> dict:
    """The caller dict every RPC method of an owning service takes last."""
    return {"role": caller.role, "actor_id": caller.actor_id, "facility_ids": sorted(caller.facility_ids),
            "organisation_id": caller.organisation_id}


def registration(body: dict, caller: Caller) -> dict:
    """The registration payload: the body, with `registered_by` the caller (and the facility a manager
    acts for). The owner of the dossier is the registering parent's account, which the service takes
    from the actor."""
    payload = {key: value for key, value in body.items() if key != "facility_id"}
    registered_by = {"role": caller.role, "actor_id": caller.actor_id}
    if "facility_id" in body:
        registered_by["facility_id"] = body["facility_id"]
    payload["registered_by"] = registered_by
    return payload


def consent(partner: str, body: dict, caller: Caller) -> dict:
    """The consent payload; the method defaults to the caller's own channel and must be one of them."""
    allowed = CONSENT_METHODS_BY_ROLE.get(caller.role, ())
    method = body.get("method") or (allowed[0] if allowed else None)
    if method not in allowed:
        raise ValidationError({"method": [f"Must be one of: {', '.join(allowed)}." if allowed
                                          else "This role does not record consents."]})
    return {"partner": partner, "policy_version": body["policy_version"], "method": method}
