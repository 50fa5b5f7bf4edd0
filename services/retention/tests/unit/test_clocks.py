from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retention.clocks import (
    ACTIVITY_EVENT_TYPES, RetentionClock, apply_event, erasure_cutoff, erasure_due, moves_clock, retention_ends_at,
)

UTC = timezone.utc
LAST_ACTIVITY = datetime(2020, 3, 10, 14, 30, tzinfo=UTC)


def clock(last_activity_at=LAST_ACTIVITY, has_active_request=False, erased=False):
    return RetentionClock("dos-1", last_activity_at, has_active_request, erased, sequence=3)


# --- the 5-year boundary -------------------------------------------------------------------------

def test_one_day_short_of_five_years_the_dossier_stays():
    assert not erasure_due(clock(), datetime(2025, 3, 9, 14, 30, tzinfo=UTC))


def test_one_day_past_five_years_the_dossier_is_due():
    assert erasure_due(clock(), datetime(2025, 3, 11, 14, 30, tzinfo=UTC))


def test_due_from_the_same_instant_five_years_later_and_not_a_microsecond_before():
    assert retention_ends_at(LAST_ACTIVITY) == datetime(2025, 3, 10, 14, 30, tzinfo=UTC)
    assert erasure_due(clock(), datetime(2025, 3, 10, 14, 30, tzinfo=UTC))
    assert not erasure_due(clock(), datetime(2025, 3, 10, 14, 29, 59, 999999, tzinfo=UTC))


def test_five_calendar_years_not_five_times_365_days():
    # 2020-03-10 + 5 * 365 days is 2025-03-09: one leap day (2024) short of five years.
    assert not erasure_due(clock(), LAST_ACTIVITY + timedelta(days=5 * 365))


def test_an_active_request_blocks_erasure_however_old_the_activity():
    assert not erasure_due(clock(has_active_request=True), datetime(2035, 1, 1, tzinfo=UTC))


def test_an_erased_dossier_is_not_due_again():
    assert not erasure_due(clock(erased=True), datetime(2035, 1, 1, tzinfo=UTC))


def test_leap_day_activity_is_kept_through_28_february_and_due_on_1_march():
    leap = clock(datetime(2020, 2, 29, 10, 0, tzinfo=UTC))
    assert not erasure_due(leap, datetime(2025, 2, 28, 10, 0, tzinfo=UTC))
    assert not erasure_due(leap, datetime(2025, 2, 28, 23, 59, 59, 999999, tzinfo=UTC))
    assert erasure_due(leap, datetime(2025, 3, 1, 0, 0, tzinfo=UTC))


def test_leap_day_activity_reaches_a_leap_day_when_the_period_lands_in_a_leap_year():
    assert retention_ends_at(datetime(2020, 2, 29, 10, 0, tzinfo=UTC), years=4) == \
        datetime(2024, 2, 29, 10, 0, tzinfo=UTC)


def test_the_period_is_configurable():
    assert erasure_due(clock(), datetime(2023, 3, 10, 14, 30, tzinfo=UTC), years=3)
    assert not erasure_due(clock(), datetime(2023, 3, 10, 14, 30, tzinfo=UTC))


def test_other_timezones_are_compared_as_utc():
    brussels_summer = timezone(timedelta(hours=2))
    # 16:29 at UTC+2 is 14:29 UTC: one minute before the end of the period.
    assert not erasure_due(clock(), datetime(2025, 3, 10, 16, 29, tzinfo=brussels_summer))
    assert erasure_due(clock(), datetime(2025, 3, 10, 16, 30, tzinfo=brussels_summer))


def test_naive_instants_and_periods_under_a_year_are_refused():
    with pytest.raises(ValueError):
        erasure_due(clock(), datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        retention_ends_at(LAST_ACTIVITY, years=0)


# --- the cutoff the database query uses ----------------------------------------------------------

def test_cutoff_on_an_ordinary_day_is_the_same_instant_five_years_earlier():
    now = datetime(2025, 3, 10, 14, 30, tzinfo=UTC)
    assert erasure_cutoff(now) == datetime(2020, 3, 10, 14, 30, tzinfo=UTC)


def test_cutoff_on_28_february_takes_in_the_leap_day_up_to_the_same_time():
    assert erasure_cutoff(datetime(2025, 3, 1, 0, 0, tzinfo=UTC)) == datetime(2020, 3, 1, 0, 0, tzinfo=UTC)
    assert erasure_cutoff(datetime(2025, 2, 28, 12, 0, tzinfo=UTC)) == datetime(2020, 2, 28, 12, 0, tzinfo=UTC)


def test_cutoff_on_a_leap_day_takes_in_all_of_28_february():
    assert erasure_cutoff(datetime(2028, 2, 29, 8, 0, tzinfo=UTC)) == \
        datetime(2023, 2, 28, 23, 59, 59, 999999, tzinfo=UTC)


@given(last_activity_at=st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2090, 12, 31),
                                     timezones=st.just(UTC)),
       now=st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 12, 31),
                        timezones=st.just(UTC)),
       years=st.integers(1, 8))
def test_the_cutoff_selects_exactly_the_due_dossiers(last_activity_at, now, years):
    due = erasure_due(clock(last_activity_at), now, years)
    assert (last_activity_at <= erasure_cutoff(now, years)) == due


def _end_of_february(year):
    times = [timedelta(0), timedelta(hours=10), timedelta(hours=23), timedelta(days=1, microseconds=-1)]
    return [datetime(year, 2, 26, tzinfo=UTC) + timedelta(days=day) + time for day in range(5) for time in times]


@pytest.mark.parametrize("years", range(1, 9))
def test_the_cutoff_selects_exactly_the_due_dossiers_around_every_leap_day(years):
    # Random instants rarely hit 29 February both in the activity and the end of the period: try all.
    for year in range(2019, 2031):
        ends = _end_of_february(year + years)
        for last_activity_at in _end_of_february(year):
            for now in ends:
                due = erasure_due(clock(last_activity_at), now, years)
                assert (last_activity_at <= erasure_cutoff(now, years)) == due, (last_activity_at, now)


# --- clocks from events ----------------------------------------------------------------------------

def test_registration_starts_a_clock_with_an_active_request(snapshot, envelope):
    event = envelope("registration.dossier_registered", 0, "2020-01-06T09:00:00+00:00",
                     {"dossier": snapshot()})
    started = apply_event(None, event)
    assert started == RetentionClock("dos-1", datetime(2020, 1, 6, 9, tzinfo=UTC), True, False, 0)


@pytest.mark.parametrize("event_type", sorted(ACTIVITY_EVENT_TYPES))
def test_every_registration_event_is_activity(event_type, snapshot, envelope):
    event = envelope(event_type, 4, "2021-06-01T08:00:00+00:00",
                     {"dossier": snapshot("2021-06-01T08:00:00+00:00"), "request_id": "req-1"})
    assert apply_event(clock(), event).last_activity_at == datetime(2021, 6, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize("status", ["enrolled", "cancelled", "expired"])
def test_closing_the_last_request_starts_the_five_years(status, snapshot, envelope):
    opened = clock(has_active_request=True)
    event = envelope(f"registration.request_{status}", 4, "2021-06-01T08:00:00+00:00",
                     {"dossier": snapshot("2021-06-01T08:00:00+00:00", statuses=(status,)),
                      "request_id": "req-1"})
    closed = apply_event(opened, event)
    assert not closed.has_active_request
    assert not erasure_due(closed, datetime(2026, 5, 31, 8, tzinfo=UTC))
    assert erasure_due(closed, datetime(2026, 6, 2, 8, tzinfo=UTC))


def test_another_active_request_keeps_the_clock_stopped(snapshot, envelope):
    event = envelope("registration.request_cancelled", 4, "2021-06-01T08:00:00+00:00",
                     {"dossier": snapshot("2021-06-01T08:00:00+00:00", statuses=("cancelled", "active")),
                      "request_id": "req-1"})
    assert apply_event(clock(has_active_request=True), event).has_active_request


def test_the_closed_request_counts_as_closed_even_if_the_snapshot_lags(snapshot, envelope):
    event = envelope("registration.request_enrolled", 4, "2021-06-01T08:00:00+00:00",
                     {"dossier": snapshot("2021-06-01T08:00:00+00:00", statuses=("active",)),
                      "request_id": "req-1"})
    assert not apply_event(clock(has_active_request=True), event).has_active_request


def test_adding_a_child_reopens_the_clock(snapshot, envelope):
    event = envelope("registration.child_added", 4, "2024-01-01T08:00:00+00:00",
                     {"dossier": snapshot("2024-01-01T08:00:00+00:00", statuses=("enrolled", "active")),
                      "child_id": "chi-2", "request_id": "req-2"})
    assert apply_event(clock(), event).has_active_request


def test_an_older_or_repeated_event_changes_nothing(snapshot, envelope):
    current = clock(has_active_request=False)
    for sequence in (2, 3):
        stale = envelope("registration.child_added", sequence, "2024-01-01T08:00:00+00:00",
                         {"dossier": snapshot("2024-01-01T08:00:00+00:00"), "child_id": "chi-1",
                          "request_id": "req-1"})
        assert apply_event(current, stale) is current


def test_the_clock_never_runs_backwards(snapshot, envelope):
    late = envelope("registration.consent_given", 4, "2019-01-01T08:00:00+00:00",
                    {"dossier": snapshot("2019-01-01T08:00:00+00:00", statuses=("enrolled",)),
                     "partner": "lop"})
    moved = apply_event(clock(), late)
    assert moved.last_activity_at == LAST_ACTIVITY
    assert moved.sequence == 4


def test_the_later_of_event_time_and_snapshot_activity_counts(snapshot, envelope):
    event = envelope("registration.dossier_updated", 4, "2021-06-01T08:00:00+00:00",
                     {"dossier": snapshot("2021-06-02T10:00:00Z", statuses=("enrolled",)),
                      "changed_by": {"role": "parent", "actor_id": None}, "changed_sections": ["contact"]})
    assert apply_event(clock(), event).last_activity_at == datetime(2021, 6, 2, 10, tzinfo=UTC)


def test_erasure_is_final(snapshot, envelope):
    erased = apply_event(clock(), envelope("registration.dossier_erased", 4, "2025-03-11T00:00:00+00:00",
                                           {"dossier_id": "dos-1"}))
    assert erased.erased and erased.sequence == 4
    later = envelope("registration.child_added", 5, "2025-04-01T08:00:00+00:00",
                     {"dossier": snapshot("2025-04-01T08:00:00+00:00"), "child_id": "chi-1",
                      "request_id": "req-1"})
    assert apply_event(erased, later) is erased


def test_events_of_other_producers_or_dossiers_are_refused(snapshot, envelope):
    with pytest.raises(ValueError):
        apply_event(clock(), envelope("matching.offer_made", 4, "2021-06-01T08:00:00+00:00", {}))
    with pytest.raises(ValueError):
        apply_event(clock(), envelope("registration.dossier_registered", 4, "2021-06-01T08:00:00+00:00",
                                      {"dossier": snapshot()}, aggregate_id="dos-2"))


# --- a child leaving its facility closes the enrollment: activity (matching's departure_recorded) -----

def departure(envelope, occurred_at, left_on, dossier_id="dos-1", sequence=1):
    event = envelope("matching.departure_recorded", sequence, occurred_at, {
        "enrollment_id": 7, "facility_id": "fac-0001", "dossier_id": dossier_id,
        "request_id": "req-1" if dossier_id else None, "left_on": left_on},
        aggregate_id=dossier_id or "enrollment-7")
    return dict(event, producer="matching")


def test_a_departure_moves_the_last_activity_to_the_day_the_child_left(envelope):
    recorded_late = apply_event(clock(), departure(envelope, "2023-09-05T10:00:00+00:00", "2023-07-01"))
    assert recorded_late == RetentionClock("dos-1", datetime(2023, 9, 5, 10, tzinfo=UTC), False, False, 3)
    ahead = apply_event(clock(), departure(envelope, "2023-05-02T10:00:00+00:00", "2023-09-01"))
    assert ahead.last_activity_at == datetime(2023, 9, 1, tzinfo=UTC)
    assert not erasure_due(ahead, datetime(2028, 8, 31, 23, tzinfo=UTC))
    assert erasure_due(ahead, datetime(2028, 9, 1, tzinfo=UTC))


def test_a_departure_keeps_registrations_sequence_and_active_requests(envelope, snapshot):
    opened = clock(has_active_request=True)
    moved = apply_event(opened, departure(envelope, "2023-09-05T10:00:00+00:00", "2023-09-01", sequence=1))
    assert (moved.sequence, moved.has_active_request) == (3, True)  # matching's sequence 1 is not stale
    assert apply_event(clock(last_activity_at=datetime(2024, 1, 1, tzinfo=UTC)),
                       departure(envelope, "2023-09-05T10:00:00+00:00", "2023-09-01")).last_activity_at == datetime(
        2024, 1, 1, tzinfo=UTC)  # never backwards
    registered = envelope("registration.request_enrolled", 4, "2023-01-02T08:00:00+00:00",
                          {"dossier": snapshot("2023-01-02T08:00:00+00:00", statuses=("enrolled",)),
                           "request_id": "req-1"})
    assert apply_event(moved, registered).last_activity_at == datetime(2023, 9, 5, 10, tzinfo=UTC)


def test_a_departure_before_registrations_events_starts_a_clock_they_complete(envelope, snapshot):
    started = apply_event(None, departure(envelope, "2023-09-05T10:00:00+00:00", "2023-09-01"))
    assert started == RetentionClock("dos-1", datetime(2023, 9, 5, 10, tzinfo=UTC), False, False, -1)
    registered = envelope("registration.dossier_registered", 0, "2023-01-02T08:00:00+00:00",
                          {"dossier": snapshot("2023-01-02T08:00:00+00:00")})
    completed = apply_event(started, registered)
    assert (completed.sequence, completed.has_active_request) == (0, True)
    assert completed.last_activity_at == datetime(2023, 9, 5, 10, tzinfo=UTC)


def test_a_departure_revives_no_erased_dossier_and_one_without_a_dossier_is_no_activity(envelope):
    erased = clock(erased=True)
    assert apply_event(erased, departure(envelope, "2025-09-05T10:00:00+00:00", "2025-09-01")) is erased
    unlinked = departure(envelope, "2025-09-05T10:00:00+00:00", "2025-09-01", dossier_id=None)
    assert moves_clock(departure(envelope, "2025-09-05T10:00:00+00:00", "2025-09-01")) and not moves_clock(unlinked)
    with pytest.raises(ValueError):
        apply_event(None, unlinked)
