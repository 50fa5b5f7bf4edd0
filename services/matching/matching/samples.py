"""Registration SNAPSHOTs (notes/events.md) made from Candidates, for tests and benchmarks: the read
model is fed only by registration's events, so that is the form sample requests must take."""
from datetime import timedelta

from matching.model import Candidate, Priority


def sample_snapshot(dossier_id: str, candidates: list[Candidate], restricted: bool = False,
                    enrolled_facility_ids: dict[str, str] | None = None) -> dict:
    """A dossier holding one child per candidate, each with that candidate's request.
    `enrolled_facility_ids`: request id -> facility, for requests with status "enrolled"."""
    enrolled_facility_ids = enrolled_facility_ids or {}
    first = min(candidate.registered_at for candidate in candidates)
    priority = candidates[0].priority if candidates else Priority()
    return {
        "id": dossier_id, "registered_at": first.isoformat(),
        "last_activity_at": (first + timedelta(minutes=1)).isoformat(),
        "registered_by": {"role": "parent", "actor_id": f"account-{dossier_id}"}, "preferred_language": "nl",
        "restricted": restricted,
        "applicant": {"last_name": "Peeters", "first_name": "An", "birth_date": "1990-01-02", "gender": "f",
                      "email": "an.peeters@example.org", "phone": None,
                      "address": {"street": "Hoogstraat", "house_number": "1", "postal_code": "1000",
                                  "municipality": "Brussel"}},
        "partner": None,
        "children": [{"id": f"child-{candidate.request_id}", "last_name": "Peeters", "first_name": None,
                      "birth_date": candidate.child_birth_date.isoformat(), "gender": None,
                      "foster_child": candidate.foster_child,
                      "sibling_facility_ids": sorted(candidate.sibling_facility_ids)} for candidate in candidates],
        "requests": [{"id": candidate.request_id, "child_id": f"child-{candidate.request_id}",
                      "desired_start_date": candidate.desired_start_date.isoformat(),
                      "care_plan": dict(candidate.care_plan), "facility_ids": list(candidate.facility_ids),
                      "status": candidate.status, "urgent": candidate.urgent,
                      "enrolled_facility_id": enrolled_facility_ids.get(candidate.request_id),
                      "registered_at": candidate.registered_at.isoformat()} for candidate in candidates],
        "priority": {name: getattr(priority, name) for name in Priority.__dataclass_fields__},
        "consents": {"kind_en_gezin": None, "lop": None},
    }
