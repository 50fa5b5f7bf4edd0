"""Erasing a dossier: partners get their delete, the rest goes, the log stays only pseudonymised."""
from datetime import timedelta

from consent_export import erasure, outbound
from consent_export.fields import KIND_EN_GEZIN, LOP
from consent_export.models import (
    DELIVERED, QUEUED, DossierState, ErasedDossier, ExportedData, QueuedTransfer, TransferLogEntry,
)
from consent_export.transfers import DELETE, PUSH
from consent_export.transport import Delivery, RejectedByPartner

KEY = "test-key"  # conftest.QueueDriver.pseudonym_key
REF = erasure.pseudonym(KEY, "dos-1")


def erase(queue, request_id="req-1"):
    with queue.transaction() as session:
        return erasure.erase_dossier(session, request_id, "dos-1", queue.now, REF)


def test_the_pseudonym_is_keyed_and_stable():
    assert erasure.pseudonym(KEY, "dos-1") == REF
    assert erasure.pseudonym("other-key", "dos-1") != REF
    assert "dos-1" not in REF and len(REF) == 64


def test_erasure_tells_each_holding_partner_to_delete_and_forgets_the_rest(dossier, queue):
    dossier.give(KIND_EN_GEZIN)
    dossier.give(LOP)  # the LOP push never leaves: LOP holds nothing
    queue.deliver_all(KIND_EN_GEZIN)
    dossier.change_phone("+32 2 000 00 07")
    [(update_id, _)] = queue.claim(KIND_EN_GEZIN)
    queue.record(update_id, RejectedByPartner(422, "An Peeters: phone format"))

    # exported x2, the state, the K&G push and update, the LOP push, 4 log rows
    assert erase(queue) == 2 + 1 + 3 + 4

    [pending] = queue.rows()
    assert (pending.kind, pending.partner, pending.status, pending.payload) == (
        DELETE, KIND_EN_GEZIN, QUEUED, {"dossier_id": "dos-1"})
    assert queue.rows(ExportedData) == []
    assert queue.rows(DossierState) == []
    assert [row.dossier_ref for row in queue.rows(ErasedDossier)] == [REF]
    log = queue.rows(TransferLogEntry)
    assert {entry.dossier_ref for entry in log} == {REF}
    assert all(entry.pseudonymised and entry.partner_answer is None for entry in log)
    assert "Peeters" not in str([(e.field_names, e.partner_answer) for e in log])
    assert [(e.partner, e.kind) for e in log] == [
        (KIND_EN_GEZIN, PUSH), (LOP, PUSH), (KIND_EN_GEZIN, "update"), (KIND_EN_GEZIN, DELETE)]


def test_the_kept_delete_goes_once_delivered_and_its_log_row_stays_pseudonymised(dossier, queue):
    dossier.give(KIND_EN_GEZIN)
    queue.deliver_all()
    erase(queue)

    [(delete_id, _)] = queue.claim()
    assert queue.record(delete_id, Delivery(204, "")) == DELIVERED

    assert queue.rows() == []
    assert [(e.kind, e.status, e.dossier_ref) for e in queue.rows(TransferLogEntry)] == [
        (PUSH, DELIVERED, REF), (DELETE, DELIVERED, REF)]
    with queue.transaction() as session:
        assert outbound.transfer_log(session, ("dos-1",)) == []
        assert [e["kind"] for e in outbound.transfer_log(session, ("dos-1", REF))] == [PUSH, DELETE]


def test_an_event_after_the_erasure_changes_nothing(dossier, queue):
    dossier.give(KIND_EN_GEZIN)
    queue.deliver_all()
    erase(queue)
    queue.deliver_all()

    assert dossier.change_phone("+32 2 000 00 08") == []
    assert queue.rows() == [] and queue.rows(DossierState) == []


def test_a_repeated_request_erases_nothing_more(dossier, queue):
    dossier.give(KIND_EN_GEZIN)
    queue.deliver_all()
    erase(queue)

    assert erase(queue, "req-2") == 0
    assert len(queue.rows()) == 1


def test_the_pseudonymised_log_is_purged_after_the_keeping_period(dossier, dossier_events, queue):
    dossier.give(KIND_EN_GEZIN)
    queue.deliver_all()
    erase(queue)
    other = dossier_events("dos-2")
    other.give(KIND_EN_GEZIN)

    with queue.transaction() as session:
        assert erasure.purge_expired(session, queue.now) == 0
        assert erasure.purge_expired(session, queue.now + timedelta(seconds=1)) == 2 + 1

    assert [e.dossier_ref for e in queue.rows(TransferLogEntry)] == ["dos-2"]
    assert queue.rows(ErasedDossier) == []
