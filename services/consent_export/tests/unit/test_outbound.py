"""The outbound queue on SQLite: what an event queues and in which order the sender may send it."""
import pytest
from sqlalchemy import select

from consent_export import outbound
from consent_export.fields import KIND_EN_GEZIN, LOP
from consent_export.models import (
    DELIVERED, PARKED, QUEUED, SUPERSEDED, DossierState, ExportedData, QueuedTransfer,
    TransferLogEntry,
)
from consent_export.transfers import DELETE, PUSH, UPDATE
from consent_export.transport import Delivery, RejectedByPartner, TransientPartnerError
from loket.errors import Conflict, NotFound

def test_consent_queues_one_push_logs_it_and_records_what_the_partner_will_hold(dossier, queue):
    assert dossier.give(KIND_EN_GEZIN) == [(KIND_EN_GEZIN, PUSH)]

    [queued] = queue.rows()
    assert (queued.status, queued.kind, queued.attempts) == (QUEUED, PUSH, 0)
    assert queued.payload["applicant"]["email"] == "an@example.org"
    [entry] = queue.rows(TransferLogEntry)
    assert (entry.idempotency_key, entry.status, entry.consent_id) == (
        queued.idempotency_key, QUEUED, "con-kind_en_gezin")
    assert "applicant.email" in entry.field_names
    assert "an@example.org" not in str(entry.field_names)
    [held] = queue.rows(ExportedData)
    assert (held.partner, held.consent_id) == (KIND_EN_GEZIN, "con-kind_en_gezin")


def test_delivery_drops_the_payload_and_logs_the_partners_answer(dossier, queue):
    dossier.give(KIND_EN_GEZIN)

    [(transfer_id, transfer)] = queue.claim()
    assert transfer.payload["dossier_id"] == "dos-1"
    assert queue.record(transfer_id, Delivery(201, '{"ok": true}')) == DELIVERED

    [sent] = queue.rows()
    assert (sent.status, sent.payload, sent.attempts, sent.partner_status) == (DELIVERED, None, 1, 201)
    [entry] = queue.rows(TransferLogEntry)
    assert (entry.status, entry.attempts, entry.partner_status, entry.partner_answer) == (
        DELIVERED, 1, 201, '{"ok": true}')
    assert entry.sent_at is not None


def test_an_event_older_than_the_last_applied_is_ignored(dossier, queue):
    dossier.give(KIND_EN_GEZIN)
    dossier.change_phone("+32 2 000 00 00")
    assert dossier.send("registration.dossier_updated", sequence=1, changed_sections=["contact"]) == []

    with queue.transaction() as session:
        assert session.get(DossierState, "dos-1").last_sequence == 2
    assert [row.kind for row in queue.rows()] == [PUSH, UPDATE]


def test_the_head_of_a_dossier_holds_back_that_dossier_only(dossier_events, queue):
    first = dossier_events("dos-1")
    other = dossier_events("dos-2")
    first.give(KIND_EN_GEZIN)
    first.change_phone("+32 2 000 00 01")
    other.give(KIND_EN_GEZIN)

    claimed = queue.claim()
    assert [(t.dossier_id, t.kind) for _, t in claimed] == [("dos-1", PUSH), ("dos-2", PUSH)]
    assert queue.claim() == []  # the update waits for the push in flight

    queue.record(claimed[0][0], Delivery(201, "ok"))
    assert [(t.dossier_id, t.kind) for _, t in queue.claim()] == [("dos-1", UPDATE)]


def test_each_partner_has_its_own_queue(dossier, queue):
    dossier.give(KIND_EN_GEZIN)
    dossier.give(LOP)
    [(kg_id, _)] = queue.claim(KIND_EN_GEZIN)
    queue.record(kg_id, TransientPartnerError("HTTP 503", 503))

    assert [t.partner for _, t in queue.claim(LOP)] == [LOP]


def test_a_passing_failure_is_retried_after_the_backoff_then_parked(dossier, queue):
    dossier.give(KIND_EN_GEZIN)
    now = queue.t0
    for attempt in range(1, queue.policy.max_attempts):
        [(transfer_id, _)] = queue.claim(now=now)
        assert queue.record(transfer_id, TransientPartnerError("HTTP 500", 500, "boom"), now) == QUEUED
        [row] = queue.rows()
        assert now < row.next_attempt_at <= now + min(queue.policy.cap, 2 ** (attempt - 1))
        assert queue.claim(now=now) == []  # not before its time
        now = row.next_attempt_at

    [(transfer_id, _)] = queue.claim(now=now)
    assert queue.record(transfer_id, TransientPartnerError("HTTP 500", 500, "boom"), now) == PARKED
    [row] = queue.rows()
    assert (row.attempts, row.partner_status, row.partner_answer) == (queue.policy.max_attempts, 500, "boom")
    assert queue.rows(TransferLogEntry)[0].status == PARKED


def test_a_rejection_parks_at_once_holds_back_the_dossier_and_can_be_replayed(dossier, queue):
    dossier.give(KIND_EN_GEZIN)
    dossier.change_phone("+32 2 000 00 02")
    [(push_id, _)] = queue.claim()
    assert queue.record(push_id, RejectedByPartner(400, '{"error": "gender"}')) == PARKED

    assert queue.claim(now=queue.t0 + 3600) == []
    with queue.transaction() as session:
        assert outbound.waiting(session) == {(KIND_EN_GEZIN, PARKED): 1, (KIND_EN_GEZIN, QUEUED): 1}
        [parked] = outbound.parked_transfers(session)
    assert (parked["id"], parked["kind"], parked["partner_answer"]) == (push_id, PUSH, '{"error": "gender"}')
    assert "payload" not in parked

    with queue.transaction() as session:
        assert outbound.replay_transfer(session, push_id, queue.t0 + 1)["status"] == QUEUED
    assert queue.deliver_all(now=queue.t0 + 1) == [PUSH, UPDATE]


def test_only_a_parked_transfer_can_be_replayed(dossier, queue):
    dossier.give(KIND_EN_GEZIN)
    [queued] = queue.rows()

    with queue.transaction() as session, pytest.raises(Conflict):
        outbound.replay_transfer(session, queued.id, queue.t0)
    with queue.transaction() as session, pytest.raises(NotFound):
        outbound.replay_transfer(session, queued.id + 100, queue.t0)


def test_a_withdrawal_supersedes_waiting_updates_and_only_the_delete_goes_out(dossier, queue):
    dossier.give(KIND_EN_GEZIN)
    assert queue.deliver_all() == [PUSH]
    dossier.change_phone("+32 2 000 00 03")
    [(update_id, _)] = queue.claim()
    queue.record(update_id, TransientPartnerError("ReadTimeout"))  # retrying

    assert dossier.withdraw(KIND_EN_GEZIN) == [(KIND_EN_GEZIN, DELETE)]

    assert [(row.kind, row.status) for row in queue.rows()] == [
        (PUSH, DELIVERED), (UPDATE, SUPERSEDED), (DELETE, QUEUED)]
    assert queue.rows()[1].payload is None
    assert queue.deliver_all(now=queue.t0 + 3600) == [DELETE]
    assert [entry.status for entry in queue.rows(TransferLogEntry)] == [
        DELIVERED, SUPERSEDED, DELIVERED]
    assert queue.rows(ExportedData) == []


def test_a_withdrawal_also_supersedes_a_parked_update(dossier, queue):
    dossier.give(KIND_EN_GEZIN)
    queue.deliver_all()
    dossier.change_phone("+32 2 000 00 04")
    [(update_id, _)] = queue.claim()
    queue.record(update_id, RejectedByPartner(422, "no"))

    dossier.withdraw(KIND_EN_GEZIN)

    assert queue.deliver_all() == [DELETE]
    assert queue.rows()[1].status == SUPERSEDED


def test_a_withdrawal_before_anything_left_sends_nothing(dossier, queue):
    dossier.give(KIND_EN_GEZIN)

    assert dossier.withdraw(KIND_EN_GEZIN) == []

    assert [(row.kind, row.status) for row in queue.rows()] == [(PUSH, SUPERSEDED)]
    assert queue.deliver_all() == []
    assert queue.rows(ExportedData) == []


def test_a_push_that_timed_out_may_have_arrived_so_the_withdrawal_deletes(dossier, queue):
    dossier.give(KIND_EN_GEZIN)
    [(push_id, _)] = queue.claim()
    queue.record(push_id, TransientPartnerError("ReadTimeout"))

    assert dossier.withdraw(KIND_EN_GEZIN) == [(KIND_EN_GEZIN, DELETE)]
    assert queue.deliver_all(now=queue.t0 + 3600) == [DELETE]


def test_an_update_in_flight_during_a_withdrawal_finishes_before_the_delete(dossier, queue):
    dossier.give(KIND_EN_GEZIN)
    queue.deliver_all()
    dossier.change_phone("+32 2 000 00 05")
    [(update_id, _)] = queue.claim()

    dossier.withdraw(KIND_EN_GEZIN)
    assert queue.claim() == []  # the update is still on its way

    assert queue.record(update_id, Delivery(200, "ok")) == SUPERSEDED
    assert queue.rows(TransferLogEntry)[1].status == DELIVERED  # it did reach the partner
    assert [t.kind for _, t in queue.claim()] == [DELETE]


def test_an_expired_lease_lets_another_instance_send_again(dossier, queue):
    dossier.give(KIND_EN_GEZIN)
    [(transfer_id, first)] = queue.claim(owner="instance-a")
    assert queue.claim(owner="instance-b", now=queue.t0 + queue.lease - 1) == []

    [(again_id, again)] = queue.claim(owner="instance-b", now=queue.t0 + queue.lease + 1)

    assert (again_id, again.idempotency_key) == (transfer_id, first.idempotency_key)
    assert queue.record(transfer_id, Delivery(201, "late"), owner="instance-a") is None
    assert queue.record(transfer_id, Delivery(201, "ok"), owner="instance-b") == DELIVERED
    assert queue.rows()[0].attempts == 2


def test_a_restricted_dossier_is_held_and_its_changes_follow_when_lifted(dossier, queue):
    dossier.give(KIND_EN_GEZIN)
    assert dossier.restrict(True) == []
    assert queue.claim() == []  # the push queued before the restriction waits

    assert dossier.change_phone("+32 2 000 00 06") == []
    assert dossier.restrict(False) == [(KIND_EN_GEZIN, UPDATE)]
    assert queue.deliver_all() == [PUSH, UPDATE]
    assert queue.rows()[1].kind == UPDATE


def test_a_restricted_dossier_still_gets_its_delete(dossier, queue):
    dossier.give(KIND_EN_GEZIN)
    queue.deliver_all()
    dossier.restrict(True)

    assert dossier.withdraw(KIND_EN_GEZIN) == [(KIND_EN_GEZIN, DELETE)]
    assert queue.deliver_all() == [DELETE]


def test_personal_data_shows_unsent_payloads_and_the_log(dossier, queue):
    dossier.give(LOP)

    with queue.transaction() as session:
        data = outbound.personal_data(session, "dos-1")

    assert data["restricted"] is False
    assert data["exported"] == [{"partner": LOP, "consent_id": "con-lop"}]
    [transfer] = data["transfers"]
    assert transfer["payload"]["partner"] == {"email": "bart@example.org"}
    assert [entry["kind"] for entry in data["transfer_log"]] == [PUSH]


def test_registrations_erasure_receipt_leaves_the_dossier_alone(dossier, queue):
    dossier.give(KIND_EN_GEZIN)

    assert dossier.send("registration.erasure_receipt", sequence=0) == []
    with queue.transaction() as session:
        assert session.get(DossierState, "dos-1").last_sequence == 1


def test_retries_waiting_for_their_backoff_can_be_made_due_at_once(dossier_events, queue):
    first, second = dossier_events("dos-1"), dossier_events("dos-2")
    first.give(KIND_EN_GEZIN)
    second.give(KIND_EN_GEZIN)
    for transfer_id, _ in queue.claim():
        queue.record(transfer_id, TransientPartnerError("ConnectionError"))
    assert queue.claim(now=queue.t0 + 0.001) == []

    with queue.transaction() as session:
        assert outbound.retry_now(session, KIND_EN_GEZIN, queue.t0 + 0.001) == 2

    assert len(queue.claim(now=queue.t0 + 0.001)) == 2
