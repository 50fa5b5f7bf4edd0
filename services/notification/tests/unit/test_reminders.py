import random
import time
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import given, settings, strategies as st

from notification.reminders import (
    Reminder, RequestProjection, due_reminders, mark_sent, projections_from_snapshot,
    reminder_sql,
)

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=timezone.utc)  # Brussels: 1 June 2026, 12:00
TODAY = date(2026, 6, 1)
WEEKS = 6


def projection(start, status="active", near_sent=False, passed_sent=False, request_id="req-1"):
    return RequestProjection(
        request_id=request_id, dossier_id="dos-1", desired_start_date=start, status=status,
        language="nl", recipient="parent@example.org", near_sent=near_sent,
        passed_sent=passed_sent, applicant_first_name="Sara", child_first_name="Lina")


def kinds(projections, now=NOW, weeks=WEEKS):
    return [(due.projection.request_id, due.kind) for due in due_reminders(projections, now, weeks)]


@pytest.mark.parametrize("start, expected", [
    (TODAY + timedelta(weeks=WEEKS, days=1), []),  # not near yet
    (TODAY + timedelta(weeks=WEEKS), [Reminder.START_DATE_NEAR]),  # first day of the window
    (TODAY + timedelta(days=3), [Reminder.START_DATE_NEAR]),
    (TODAY, [Reminder.START_DATE_NEAR]),  # the start date itself has not passed yet
    (TODAY - timedelta(days=1), [Reminder.START_DATE_PASSED]),
    (TODAY - timedelta(days=400), [Reminder.START_DATE_PASSED]),
])
def test_which_reminder_a_start_date_calls_for(start, expected):
    assert [kind for _, kind in kinds([projection(start)])] == expected


@pytest.mark.parametrize("status", ["enrolled", "cancelled", "expired"])
@pytest.mark.parametrize("start", [TODAY + timedelta(days=3), TODAY - timedelta(days=3)])
def test_closed_requests_get_no_reminders(status, start):
    assert kinds([projection(start, status=status)]) == []


def test_a_reminder_already_sent_is_not_due_again():
    assert kinds([projection(TODAY + timedelta(days=3), near_sent=True)]) == []
    assert kinds([projection(TODAY - timedelta(days=3), near_sent=True, passed_sent=True)]) == []


def test_a_missed_near_reminder_is_not_sent_once_the_date_has_passed():
    assert kinds([projection(TODAY - timedelta(days=1))]) == [("req-1", Reminder.START_DATE_PASSED)]


def test_today_is_the_brussels_date_not_the_utc_one():
    tomorrow = projection(date(2026, 4, 1))
    # 22:30 UTC on 31 March is 00:30 on 1 April in Brussels: the start date is today, not past.
    assert kinds([tomorrow], now=datetime(2026, 3, 31, 22, 30, tzinfo=timezone.utc), weeks=0) \
        == [("req-1", Reminder.START_DATE_NEAR)]
    assert kinds([projection(date(2026, 3, 31))],
                 now=datetime(2026, 3, 31, 22, 30, tzinfo=timezone.utc)) \
        == [("req-1", Reminder.START_DATE_PASSED)]


def test_now_must_be_timezone_aware():
    with pytest.raises(ValueError):
        due_reminders([], datetime(2026, 6, 1, 10, 0), WEEKS)


def test_mark_sent_sets_only_the_matching_flag():
    p = projection(TODAY)
    assert mark_sent(p, Reminder.START_DATE_NEAR).near_sent
    assert not mark_sent(p, Reminder.START_DATE_NEAR).passed_sent
    assert mark_sent(p, Reminder.START_DATE_PASSED).passed_sent


def test_refreshed_projections_keep_their_sent_flags(snapshot):
    [first] = projections_from_snapshot(snapshot, previous={})
    assert (first.request_id, first.desired_start_date, first.status) == \
        ("req-1", date(2026, 9, 1), "active")
    assert (first.recipient, first.language, first.child_first_name) == \
        ("sara.peeters@example.org", "nl", "Lina")
    assert not first.near_sent and not first.passed_sent

    snapshot["requests"][0]["status"] = "enrolled"
    [refreshed] = projections_from_snapshot(
        snapshot, previous={"req-1": mark_sent(first, Reminder.START_DATE_NEAR)})
    assert refreshed.status == "enrolled"
    assert refreshed.near_sent and not refreshed.passed_sent


requests_over_time = st.lists(
    st.tuples(
        st.integers(min_value=-30, max_value=120),  # start date, days after the first scan
        st.one_of(st.none(), st.integers(min_value=0, max_value=150)),  # day it closes, if ever
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(requests_over_time, st.integers(min_value=0, max_value=10))
def test_time_travel_each_reminder_at_most_once_and_in_order(requests, weeks):
    """Scan every day for five months, marking what was sent, as the service will."""
    first_day = datetime(2026, 1, 5, 6, 0, tzinfo=timezone.utc)
    state = {
        f"req-{i}": projection((first_day + timedelta(days=start)).date(), request_id=f"req-{i}")
        for i, (start, _) in enumerate(requests)
    }
    sent = []
    for day in range(151):
        for i, (_, closes) in enumerate(requests):
            if closes == day:
                state[f"req-{i}"] = replace(state[f"req-{i}"], status="enrolled")
        now = first_day + timedelta(days=day)
        for due in due_reminders(list(state.values()), now, weeks):
            sent.append((day, due.projection.request_id, due.kind))
            state[due.projection.request_id] = mark_sent(due.projection, due.kind)

    keys = [(request_id, kind) for _, request_id, kind in sent]
    assert len(keys) == len(set(keys)), "a reminder went out twice"
    for day, request_id, kind in sent:
        start, closes = requests[int(request_id.split("-")[1])]
        assert closes is None or day < closes, "reminder for a closed request"
        if kind is Reminder.START_DATE_NEAR:
            assert start - 7 * weeks <= day <= start
        else:
            assert day == max(start + 1, 0), "passed reminder not on the first day after start"
    for i, (start, closes) in enumerate(requests):
        open_after_start = closes is None or closes > max(start + 1, 0)
        passed = (f"req-{i}", Reminder.START_DATE_PASSED) in keys
        assert passed == (start + 1 <= 150 and open_after_start)


def random_projections(count, seed):
    rng = random.Random(seed)
    return [
        RequestProjection(
            request_id=f"req-{i}", dossier_id=f"dos-{i}",
            desired_start_date=TODAY + timedelta(days=rng.randint(-200, 400)),
            status=rng.choice(["active", "active", "active", "enrolled", "cancelled", "expired"]),
            language="nl", recipient=f"p{i}@example.org", near_sent=rng.random() < 0.3,
            passed_sent=rng.random() < 0.2, applicant_first_name="A", child_first_name=None)
        for i in range(count)
    ]


def test_the_sql_predicates_select_exactly_what_the_rule_selects():
    projections = random_projections(3000, seed=7)
    engine = sa.create_engine("sqlite://")
    metadata = sa.MetaData()
    table = sa.Table(
        "request_projection", metadata,
        sa.Column("request_id", sa.String, primary_key=True),
        sa.Column("status", sa.String), sa.Column("desired_start_date", sa.Date),
        sa.Column("near_sent", sa.Boolean), sa.Column("passed_sent", sa.Boolean))
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), [
            {"request_id": p.request_id, "status": p.status,
             "desired_start_date": p.desired_start_date, "near_sent": p.near_sent,
             "passed_sent": p.passed_sent} for p in projections])
        just_after_midnight_in_brussels = datetime(2026, 3, 28, 23, 30, tzinfo=timezone.utc)
        for now in (NOW, NOW + timedelta(days=45), just_after_midnight_in_brussels):
            expected = {(d.projection.request_id, d.kind)
                        for d in due_reminders(projections, now, WEEKS)}
            selected = set()
            for kind, (where, params) in reminder_sql(now, WEEKS).items():
                rows = connection.execute(
                    sa.text(f"SELECT request_id FROM request_projection WHERE {where}"), params)
                selected |= {(row.request_id, kind) for row in rows}
            assert selected == expected
            assert expected  # the data must exercise both kinds, or this proves nothing
            assert {kind for _, kind in expected} == set(Reminder)


def test_a_scan_over_100000_requests_takes_well_under_five_seconds():
    projections = random_projections(100_000, seed=1)
    started = time.perf_counter()
    due = due_reminders(projections, NOW, WEEKS)
    elapsed = time.perf_counter() - started
    assert due and elapsed < 5.0, elapsed
