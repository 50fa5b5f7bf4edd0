"""The read model of requests, kept only from registration's events (their dossier SNAPSHOT).

One event replaces everything the read model knows of its dossier, so applying the newest event
is enough and an older one (redelivered, or overtaken after a retry) is ignored by its sequence.
Events come in batches (projection.py): the rows of every dossier of a batch are written with a
few bulk statements, which is what makes catching up on a long queue fast.
Besides the rows, an event may enroll a child (occupancy) and close the open offer of a request
that can no longer take it (offers.lapse_invalid_offers). Every change bumps the read-model
revision (see revisions.py). Every function takes the caller's session; nothing here commits.

Registration's replay (`registration_replay.dossier_snapshot`, sent for a rebuild, see rebuild.py)
is a snapshot like the others, with the dossier's current version as its sequence: applied only
over an older state, and nothing more (no enrollment; it is no activity of the family).
"""
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Mapping

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from loket.contracts import registration as contract
from matching import erasure, facilities, occupancy, offers
from matching.model import DEFAULT_RULE_SET, Candidate, Priority, candidate_from_snapshot
from matching.models import DossierRow, FacilityRow, RequestFacilityRow, RequestRow
from matching.revisions import DossierChange, bump
from matching.rulesets import RuleSet

_dossiers, _requests = DossierRow.__table__, RequestRow.__table__
_request_facilities = RequestFacilityRow.__table__

# What a Candidate is made of, as one row of requests joined with its dossier.
CANDIDATE_COLUMNS = (
    _dossiers.c.dossier_id, _requests.c.request_id, _requests.c.child_birth_date, _requests.c.desired_start_date,
    _requests.c.care_plan, _requests.c.facility_ids, _requests.c.urgent, _requests.c.status,
    _requests.c.registered_at, _requests.c.priority, _requests.c.foster_child, _requests.c.sibling_facility_ids,
)

# Built once: they run for every batch of events, and building a statement costs more than SQLite
# takes to run it. Rows are locked in id order, so two instances' batches cannot deadlock.
_LOCK_DOSSIERS = (select(_dossiers.c.dossier_id, _dossiers.c.applied_sequence, _dossiers.c.erased)
                  .where(_dossiers.c.dossier_id.in_(bindparam("dossiers", expanding=True)))
                  .order_by(_dossiers.c.dossier_id).with_for_update())
_INSERT_DOSSIER = insert(_dossiers)
_UPDATE_DOSSIER = (update(_dossiers).where(_dossiers.c.dossier_id == bindparam("dossier"))
                   .values(applied_sequence=bindparam("sequence"), restricted=bindparam("is_restricted")))
_DELETE_REQUESTS = delete(_requests).where(_requests.c.dossier_id.in_(bindparam("dossiers", expanding=True)))
_INSERT_REQUEST = insert(_requests)
_INSERT_CHOICE = insert(_request_facilities)


class UnusableEvent(ValueError):
    """An event that matches its contract but cannot be applied (a request of a child not in the dossier)."""


# Values many requests have in common (facility ids, dates, care plans, priority flags) are held
# once: every process keeps all active requests in memory, and sharing them takes a request from
# about 1.9 KB to 0.8 KB (index included, tracemalloc over 20,000 requests of bench/matching_rank.py).
_SHARED: dict = {}
_CARE_PLANS: dict[tuple, Mapping[str, str]] = {}


def _shared(value):
    return _SHARED.setdefault(value, value)


def _care_plan(plan: dict) -> Mapping[str, str]:
    key = tuple(sorted(plan.items()))
    if key not in _CARE_PLANS:
        _CARE_PLANS[key] = MappingProxyType(dict(key))  # read-only: it is shared
    return _CARE_PLANS[key]


def candidate_from_row(row) -> Candidate:
    return Candidate(
        request_id=row.request_id, dossier_id=row.dossier_id, child_birth_date=_shared(row.child_birth_date),
        desired_start_date=_shared(row.desired_start_date), care_plan=_care_plan(row.care_plan),
        facility_ids=_shared(tuple(map(_shared, row.facility_ids))), urgent=row.urgent, status=_shared(row.status),
        registered_at=row.registered_at, priority=_shared(Priority(**row.priority)), foster_child=row.foster_child,
        sibling_facility_ids=_shared(frozenset(map(_shared, row.sibling_facility_ids))))


def _request_values(dossier_id: str, request: dict, candidate: Candidate) -> dict:
    return {
        "request_id": candidate.request_id, "dossier_id": dossier_id, "child_birth_date": candidate.child_birth_date,
        "desired_start_date": candidate.desired_start_date, "care_plan": dict(candidate.care_plan),
        "facility_ids": list(candidate.facility_ids), "urgent": candidate.urgent, "status": candidate.status,
        "enrolled_facility_id": request["enrolled_facility_id"], "registered_at": candidate.registered_at,
        "priority": {name: getattr(candidate.priority, name) for name in Priority.__dataclass_fields__},
        "foster_child": candidate.foster_child, "sibling_facility_ids": sorted(candidate.sibling_facility_ids),
    }


def _candidates(snapshot: dict) -> tuple[Candidate, ...]:
    try:
        return tuple(candidate_from_snapshot(snapshot, request) for request in snapshot["requests"])
    except ValueError as problem:
        raise UnusableEvent(str(problem)) from None


@dataclass
class _Latest:
    """The newest snapshot of a dossier in a batch, and the recorder of the event that brought it."""
    sequence: int
    restricted: bool
    requests: list
    candidates: tuple[Candidate, ...]
    recorder: object
    known: bool  # the dossier had a row before this batch


def apply_events(session: Session, batch: list, rule_sets: dict[str, RuleSet]) -> list[DossierChange]:
    """Apply registration events, given as (envelope, EventRecorder) pairs already claimed in the
    inbox, in any order; events about one dossier are applied in sequence order, and one older than
    what was applied, or about an erased dossier, changes nothing. Returns the dossiers changed."""
    connection = session.connection()
    by_dossier: dict[str, list] = {}
    for event, recorder in batch:
        by_dossier.setdefault(event["aggregate_id"], []).append((event, recorder))
    known = {row.dossier_id: row for row in connection.execute(_LOCK_DOSSIERS, {"dossiers": sorted(by_dossier)})}
    latest: dict[str, _Latest] = {}
    changes = []
    for dossier_id, events in by_dossier.items():
        row = known.get(dossier_id)
        applied, erased = (row.applied_sequence, row.erased) if row is not None else (-1, False)
        for event, recorder in sorted(events, key=lambda pair: pair[0]["sequence"]):
            if erased or event["sequence"] <= applied:
                continue
            applied = event["sequence"]
            if event["type"] == contract.DOSSIER_ERASED:
                erased = True
                latest.pop(dossier_id, None)
                changes.append(erasure.erase_dossier(session, dossier_id, applied)[1])
                continue
            snapshot = event["data"]["dossier"]
            if snapshot["id"] != dossier_id:
                raise UnusableEvent(f"event {event['id']}: the snapshot is of another dossier than its aggregate")
            candidates = _candidates(snapshot)
            if event["type"] == contract.REQUEST_ENROLLED:
                _enroll(session, event, candidates, rule_sets)
            latest[dossier_id] = _Latest(applied, snapshot["restricted"], snapshot["requests"], candidates, recorder,
                                         known=row is not None)
    if latest:
        changes += _write(session, latest)
    return changes


def _write(session: Session, latest: dict[str, _Latest]) -> list[DossierChange]:
    """Replace the rows of every dossier in `latest` by its newest snapshot, with bulk statements."""
    connection = session.connection()
    new = [{"dossier_id": dossier_id, "applied_sequence": state.sequence, "restricted": state.restricted,
            "erased": False, "offer_sequence": 0, "revision": 0}
           for dossier_id, state in latest.items() if not state.known]
    if new:
        connection.execute(_INSERT_DOSSIER, new)
    known = [dossier_id for dossier_id, state in latest.items() if state.known]
    if known:
        connection.execute(_UPDATE_DOSSIER, [{"dossier": dossier_id, "sequence": latest[dossier_id].sequence,
                                              "is_restricted": latest[dossier_id].restricted} for dossier_id in known])
        connection.execute(_DELETE_REQUESTS, {"dossiers": known})
    requests = [_request_values(dossier_id, request, candidate) for dossier_id, state in latest.items()
                for request, candidate in zip(state.requests, state.candidates)]
    if requests:
        connection.execute(_INSERT_REQUEST, requests)
    choices = [{"request_id": candidate.request_id, "facility_id": facility_id} for state in latest.values()
               for candidate in state.candidates for facility_id in candidate.facility_ids]
    if choices:
        connection.execute(_INSERT_CHOICE, choices)
    if known:
        offers.lapse_invalid_offers(session, {dossier_id: ({c.request_id: c for c in latest[dossier_id].candidates},
                                                           latest[dossier_id].recorder) for dossier_id in known})
    revision = bump(session, list(latest))
    return [DossierChange(dossier_id, revision, state.restricted, state.candidates) for dossier_id, state in latest.items()]


def _enroll(session: Session, event: dict, candidates: tuple[Candidate, ...], rule_sets: dict[str, RuleSet]):
    request_id, facility_id = event["data"]["request_id"], event["data"]["facility_id"]
    candidate = next((c for c in candidates if c.request_id == request_id), None)
    if candidate is None:
        raise UnusableEvent(f"event {event['id']}: request {request_id} is not in the dossier")
    row = session.get(FacilityRow, facility_id)
    facility = facilities.facility_from_row(row) if row is not None else None
    rule_set = rule_sets[facility.rule_set if facility is not None else DEFAULT_RULE_SET]
    occupancy.record_enrollment(session, candidate, facility_id, facility, rule_set,
                                datetime.fromisoformat(event["occurred_at"]))
