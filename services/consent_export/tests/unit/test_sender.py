import random

from sqlalchemy import update

from consent_export.sender import PartnerHealth
from consent_export.transport import Delivery, RejectedByPartner, TransientPartnerError

DOWN = TransientPartnerError("HTTP 503", 503)
OK = Delivery(201, "ok")


def test_a_delivery_after_an_outage_means_the_partner_is_back():
    health = PartnerHealth()

    assert [health.back(outcome) for outcome in (DOWN, DOWN, DOWN, OK, OK)] == [
        False, False, False, True, False]


def test_one_transfer_failing_between_successes_is_no_outage():
    health = PartnerHealth()

    assert not any(health.back(outcome) for outcome in (OK, DOWN, OK, DOWN, DOWN, OK))


def test_a_rejection_neither_counts_as_down_nor_as_back():
    health = PartnerHealth()

    assert [health.back(outcome) for outcome in (DOWN, DOWN, RejectedByPartner(400, "no"), DOWN, OK)] == [
        False, False, False, False, True]


def test_a_turn_brings_forward_only_the_retries_recorded_before_the_partner_came_back(dossier_events, queue):
    """One turn records several outcomes together; the first delivery after an outage brings the
    waiting retries forward, but not one that failed after it (that one keeps its backoff)."""
    import time
    from types import SimpleNamespace

    from sqlalchemy import select

    from consent_export.fields import KIND_EN_GEZIN
    from consent_export.models import DELIVERED, QUEUED, QueuedTransfer
    from consent_export.sender import PartnerSender

    for dossier_id in ("dos-1", "dos-2", "dos-3"):
        dossier_events(dossier_id).give(KIND_EN_GEZIN)
    sender = PartnerSender.__new__(PartnerSender)
    sender._database = SimpleNamespace(session_factory=SimpleNamespace(begin=queue.transaction))
    sender._clock, sender.owner, sender.policy = None, "instance-a", queue.policy
    sender._rng, sender.lease_seconds = random.Random(1), 30.0
    claimed = sender._turn(KIND_EN_GEZIN, [], 3, PartnerHealth())
    [(waiting, _), (back, _), (failing_after, _)] = claimed
    health = PartnerHealth()
    # The first turn: the partner is down for all three; the second: one comes back, then
    # another fails again in the same turn.
    sender._turn(KIND_EN_GEZIN, [(i, "push", DOWN) for i, _ in claimed], 0, health)
    with queue.transaction() as session:
        session.execute(update(QueuedTransfer).values(next_attempt_at=0.0).where(
            QueuedTransfer.id.in_([back, failing_after])))
    [(again, _), (again_2, _)] = sender._turn(KIND_EN_GEZIN, [], 2, health)
    assert {again, again_2} == {back, failing_after}
    sender._turn(KIND_EN_GEZIN, [(back, "push", OK), (failing_after, "push", DOWN)], 0, health)

    with queue.transaction() as session:
        rows = {row.id: row for row in session.scalars(select(QueuedTransfer))}
    assert rows[back].status == DELIVERED
    assert rows[waiting].status == QUEUED and rows[waiting].next_attempt_at <= time.time()
    # Brought forward to the turn's "now"; the one that failed after the delivery waits longer.
    assert rows[failing_after].status == QUEUED
    assert rows[failing_after].next_attempt_at > rows[waiting].next_attempt_at
