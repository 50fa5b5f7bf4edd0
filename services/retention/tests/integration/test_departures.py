"""A child leaving its facility closes its enrollment, which the privacy policy counts as activity on the
dossier: matching's `departure_recorded`, on the real broker, moves retention's clock, and the five years
run from the day the child left."""
from datetime import date, datetime, timedelta, timezone

from loket.contracts import envelope
from loket.testing import publish_raw, queue_depth, wait_for
from retention.clocks import retention_ends_at

ENROLLED = datetime(2021, 1, 6, 9, 0, tzinfo=timezone.utc)
LEFT_ON = date(2023, 7, 1)
LEFT = datetime(2023, 7, 1, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def publish_departure(amqp_uri, dossier_id, recorded_at, left_on):
    body = envelope("matching.departure_recorded", {
        "enrollment_id": 7, "facility_id": "fac-0001", "dossier_id": dossier_id,
        "request_id": f"{dossier_id}-req" if dossier_id else None, "left_on": left_on.isoformat()},
        aggregate_id=dossier_id or "enrollment-7", sequence=1 if dossier_id is None else 3, producer="matching",
        occurred_at=recorded_at)
    publish_raw(amqp_uri, body["type"], body)


def test_the_five_years_run_from_the_day_the_child_left(start_retention, rpc, registration, clock, amqp_uri):
    start_retention()
    dossier = registration("dos-left", ENROLLED - 40 * DAY)
    dossier.register()
    dossier.close_request(ENROLLED, "registration.request_enrolled")
    assert wait_for(lambda: (rpc.personal_data("dos-left")["retention_clock"] or {}).get("has_active_request") is False)
    assert rpc.personal_data("dos-left")["retention_clock"]["last_activity_at"] == ENROLLED.isoformat()

    publish_departure(amqp_uri, None, LEFT - 30 * DAY, LEFT_ON)  # an erased dossier's child: no clock to move
    publish_departure(amqp_uri, "dos-left", LEFT - 30 * DAY, LEFT_ON)  # recorded a month ahead
    assert wait_for(lambda: rpc.personal_data("dos-left")["retention_clock"]["last_activity_at"] == LEFT.isoformat())
    assert rpc.personal_data("dos-left")["retention_clock"]["erased_from"] == retention_ends_at(LEFT).isoformat()
    assert rpc.personal_data("enrollment-7")["retention_clock"] is None
    assert queue_depth(amqp_uri, "retention.activity_events.parked") == 0

    clock.set(retention_ends_at(ENROLLED) + DAY)
    assert rpc.run_due_erasures()["started"] == 0  # five years after the enrollment, but not after the departure
    clock.set(retention_ends_at(LEFT) + DAY)
    assert rpc.run_due_erasures()["started"] == 1
