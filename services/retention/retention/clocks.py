"""Retention clocks: when a dossier's personal data must be erased (P14, P15).

The policy keeps data "until 5 years after the last activity". A period of N years ends on the same
calendar date N years later, at the same time of day (UTC). A dossier last active on 29 February is
kept through 28 February of a year without that day and is due from 1 March 00:00 UTC: the period
ends with the last day of the month, as EU Regulation 1182/71 (art. 3) counts periods that end on a
day the month lacks. Ending it at 28 February *same time* would make a dossier active on 29 February
10:00 due before one active on 28 February 23:00; then no cutoff on last_activity_at could select
the due dossiers through an index (see `erasure_cutoff`).

A dossier with an active request is never due: its clock is still running.

The policy names "closing an enrollment" as activity: matching's `departure_recorded` (the child left
its facility) moves the last activity to the later of when it was recorded and the day the child
left. It is ordered by matching's own sequence, not registration's, so it changes nothing else.
"""
import calendar
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timezone

from loket.contracts.matching import DEPARTURE_RECORDED

RETENTION_YEARS = 5

# Routing keys of the registration events (events.md). Every one is activity on the dossier
# (DOMAIN.md: enrollment, cancellation and expiry included) except the erasure itself.
ACTIVITY_EVENT_TYPES = frozenset(f"registration.{name}" for name in (
    "dossier_registered", "dossier_updated", "child_added", "facilities_changed", "consent_given",
    "consent_withdrawn", "request_cancelled", "request_marked_urgent", "dossier_flagged",
    "request_enrolled", "request_expired",
))
REQUEST_CLOSING_EVENT_TYPES = frozenset({
    "registration.request_enrolled", "registration.request_cancelled", "registration.request_expired",
})
DOSSIER_ERASED = "registration.dossier_erased"
# What moves a clock; every other event on the activity subscription (matching's places and offers,
# receipts) is ignored, and so is a departure of an erased dossier's child (see moves_clock).
CLOCK_EVENT_TYPES = ACTIVITY_EVENT_TYPES | {DOSSIER_ERASED, DEPARTURE_RECORDED}


@dataclass(frozen=True)
class RetentionClock:
    dossier_id: str
    last_activity_at: datetime
    has_active_request: bool
    erased: bool = False
    sequence: int = -1  # of the last registration event applied; -1 before the first


def moves_clock(envelope: Mapping) -> bool:
    """Whether the event is activity on a dossier (or its erasure). A departure of a child whose
    dossier matching no longer knows (erased) names no dossier: its aggregate is the enrollment."""
    if envelope["type"] == DEPARTURE_RECORDED:
        return envelope["data"]["dossier_id"] is not None
    return envelope["type"] in CLOCK_EVENT_TYPES


def apply_event(clock: RetentionClock | None, envelope: Mapping) -> RetentionClock:
    """The clock after a registration event or a departure (`clock` is None for a dossier seen for
    the first time).

    A registration event whose sequence is not newer than the last one applied (stale or
    redelivered) changes nothing, and nothing revives an erased dossier.
    """
    event_type = envelope["type"]
    if not moves_clock(envelope):
        raise ValueError(f"{event_type} is not activity on a dossier")
    dossier_id = envelope["aggregate_id"]
    sequence = envelope["sequence"]
    occurred_at = as_utc(envelope["occurred_at"])
    if clock is not None:
        if clock.dossier_id != dossier_id:
            raise ValueError(f"event for dossier {dossier_id} applied to the clock of {clock.dossier_id}")
        if clock.erased:
            return clock
    if event_type == DEPARTURE_RECORDED:
        return _after_departure(clock, dossier_id, occurred_at, date.fromisoformat(envelope["data"]["left_on"]))
    if clock is not None and sequence <= clock.sequence:
        return clock
    if event_type == DOSSIER_ERASED:
        last_activity_at = clock.last_activity_at if clock else occurred_at
        return RetentionClock(dossier_id, last_activity_at, False, erased=True, sequence=sequence)

    data = envelope["data"]
    dossier = data["dossier"]
    # The snapshot already shows the closed request; the event's own request_id is excluded as well,
    # so a closing event can never leave its request counted as active.
    closed_request_id = data["request_id"] if event_type in REQUEST_CLOSING_EVENT_TYPES else None
    has_active_request = any(
        request["status"] == "active" and request["id"] != closed_request_id
        for request in dossier["requests"]
    )
    instants = [occurred_at, as_utc(dossier["last_activity_at"])]
    if clock is not None:
        instants.append(clock.last_activity_at)  # the clock never runs backwards
    return RetentionClock(dossier_id, max(instants), has_active_request, erased=False, sequence=sequence)


def _after_departure(clock: RetentionClock | None, dossier_id: str, occurred_at: datetime,
                     left_on: date) -> RetentionClock:
    """The enrollment closes on the day the child left (which may be ahead of when it was recorded).
    A departure seen before any registration event of the dossier starts its clock; registration's
    first event (any sequence is above -1) then says whether a request is active."""
    last_activity_at = max(occurred_at, datetime.combine(left_on, time(), timezone.utc))
    if clock is None:
        return RetentionClock(dossier_id, last_activity_at, has_active_request=False)
    return replace(clock, last_activity_at=max(clock.last_activity_at, last_activity_at))


def retention_ends_at(last_activity_at: datetime, years: int = RETENTION_YEARS) -> datetime:
    """The instant from which a dossier last active at `last_activity_at` is due for erasure."""
    _check_years(years)
    last = as_utc(last_activity_at)
    year = last.year + years
    if (last.month, last.day) == (2, 29) and not calendar.isleap(year):
        return datetime(year, 3, 1, tzinfo=timezone.utc)
    return last.replace(year=year)


def erasure_due(clock: RetentionClock, now: datetime, years: int = RETENTION_YEARS) -> bool:
    return (
        not clock.erased
        and not clock.has_active_request
        and as_utc(now) >= retention_ends_at(clock.last_activity_at, years)
    )


def erasure_cutoff(now: datetime, years: int = RETENTION_YEARS) -> datetime:
    """The latest last_activity_at that is due at `now`.

    For any instant t: `t <= erasure_cutoff(now)` exactly when `now >= retention_ends_at(t)`, so the
    service finds due dossiers with `NOT has_active_request AND last_activity_at <= cutoff` on an
    index of (has_active_request, last_activity_at).
    """
    _check_years(years)
    now = as_utc(now)
    year = now.year - years
    if (now.month, now.day) == (2, 29) and not calendar.isleap(year):
        # Every instant of 28 February `year` is due; 1 March `year` is due only from 1 March.
        return datetime(year, 2, 28, 23, 59, 59, 999999, tzinfo=timezone.utc)
    return now.replace(year=year)


def as_utc(value: datetime | str) -> datetime:
    """A timezone-aware UTC datetime from a datetime or an ISO-8601 string; naive input is refused."""
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    if instant.tzinfo is None:
        raise ValueError("retention needs timezone-aware instants")
    return instant.astimezone(timezone.utc)


def _check_years(years: int):
    if years < 1:
        raise ValueError("the retention period is at least one year")
