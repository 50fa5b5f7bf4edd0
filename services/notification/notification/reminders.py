"""Start-date reminders (P4): which "start date near" / "start date passed" emails are due.

The service keeps one `RequestProjection` per request, refreshed from every dossier snapshot;
`near_sent` / `passed_sent` are its own bookkeeping and make each reminder go out at most once.
Dates are compared in Brussels local time: a parent's "today" is not UTC's.
"""
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Iterable, Mapping, Protocol
from zoneinfo import ZoneInfo

BRUSSELS = ZoneInfo("Europe/Brussels")


class Reminder(StrEnum):
    START_DATE_NEAR = "start_date_near"
    START_DATE_PASSED = "start_date_passed"


@dataclass(frozen=True, slots=True)
class RequestProjection:
    request_id: str
    dossier_id: str
    desired_start_date: date
    status: str  # "active" | "enrolled" | "cancelled" | "expired"
    language: str
    recipient: str | None  # as the dossier gives it
    near_sent: bool
    passed_sent: bool
    applicant_first_name: str
    child_first_name: str | None


@dataclass(frozen=True, slots=True)
class DueReminder:
    kind: Reminder
    projection: RequestProjection


@dataclass(frozen=True, slots=True)
class ReminderWindow:
    today: date  # Brussels calendar date of `now`
    near_horizon: date  # a start date on or before this (and not passed) is "near"


def reminder_window(now: datetime, weeks_before: int) -> ReminderWindow:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if weeks_before < 0:
        raise ValueError("weeks_before must not be negative")
    today = now.astimezone(BRUSSELS).date()
    return ReminderWindow(today=today, near_horizon=today + timedelta(weeks=weeks_before))


def due_reminders(
    projections: Iterable[RequestProjection], now: datetime, weeks_before: int
) -> list[DueReminder]:
    """Reminders to send now; mark each sent (near_sent / passed_sent) in the same transaction
    as the email's outbox row so a rescan never repeats it."""
    window = reminder_window(now, weeks_before)
    due = []
    for projection in projections:
        kind = _due_kind(projection, window)
        if kind is not None:
            due.append(DueReminder(kind, projection))
    return due


def _due_kind(projection: RequestProjection, window: ReminderWindow) -> Reminder | None:
    # Only a request still waiting for a place needs a reminder; enrolled, cancelled and
    # expired requests are closed.
    if projection.status != "active":
        return None
    start = projection.desired_start_date
    if start < window.today:
        # Once the date has passed, a late "near" would be misleading: only "passed" remains.
        return None if projection.passed_sent else Reminder.START_DATE_PASSED
    if start <= window.near_horizon and not projection.near_sent:
        return Reminder.START_DATE_NEAR
    return None


def reminder_sql(now: datetime, weeks_before: int) -> dict[Reminder, tuple[str, dict]]:
    """The same rule as `due_reminders` as SQL WHERE clauses (for `sqlalchemy.text`) over a
    table with columns status, desired_start_date (DATE), near_sent, passed_sent (BOOLEAN).
    A partial index `(desired_start_date) WHERE status = 'active'` keeps the scan to the
    few rows near their start date."""
    window = reminder_window(now, weeks_before)
    params = {"today": window.today, "near_horizon": window.near_horizon}
    return {
        Reminder.START_DATE_NEAR: (
            "status = 'active' AND NOT near_sent"
            " AND desired_start_date >= :today AND desired_start_date <= :near_horizon",
            params,
        ),
        Reminder.START_DATE_PASSED: (
            "status = 'active' AND NOT passed_sent AND desired_start_date < :today",
            params,
        ),
    }


def mark_sent(projection: RequestProjection, kind: Reminder) -> RequestProjection:
    if kind is Reminder.START_DATE_NEAR:
        return replace(projection, near_sent=True)
    return replace(projection, passed_sent=True)


class SentFlags(Protocol):
    near_sent: bool
    passed_sent: bool


def projections_from_snapshot(
    snapshot: Mapping, previous: Mapping[str, SentFlags]
) -> list[RequestProjection]:
    """One projection per request in a dossier snapshot (events.md SNAPSHOT); `previous`
    (by request id: earlier projections or stored rows) carries the sent flags over, so a
    refreshed projection never resends."""
    children = {child["id"]: child for child in snapshot["children"]}
    projections = []
    for request in snapshot["requests"]:
        earlier = previous.get(request["id"])
        projections.append(
            RequestProjection(
                request_id=request["id"],
                dossier_id=snapshot["id"],
                desired_start_date=date.fromisoformat(request["desired_start_date"]),
                status=request["status"],
                language=snapshot["preferred_language"],
                recipient=snapshot["applicant"]["email"],
                near_sent=earlier.near_sent if earlier else False,
                passed_sent=earlier.passed_sent if earlier else False,
                applicant_first_name=snapshot["applicant"]["first_name"],
                child_first_name=children[request["child_id"]]["first_name"],
            )
        )
    return projections
