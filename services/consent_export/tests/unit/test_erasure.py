"""Erasing a dossier: partners get their delete, the rest goes, the log stays only pseudonymised.

On SQLite and on PostgreSQL: the erasure's bulk statements (IN, CASE, RETURNING) differ per database."""
from datetime import timedelta

import pytest

from consent_export import erasure, outbound
from consent_export.fields import KIND_EN_GEZIN, LOP
from consent_export.models import (
    DELIVERED, QUEUED, DossierState, ErasedDossier, ExportedData, QueuedTransfer, TransferLogEntry,
)
from consent_export.transfers import DELETE, PUSH, UPDATE
from consent_export.transport import Delivery, RejectedByPartner
from loket.contracts import envelope
from loket.contracts.retention import ERASURE_REQUESTED, batch_aggregate

KEY = "test-key"  # conftest.QueueDriver.pseudonym_key
REF = erasure.pseudonym(KEY, "dos-1")
TABLES = (DossierState, ExportedData, QueuedTransfer, TransferLogEntry, ErasedDossier)


@pytest.fixture
def store_url(database_url):
    return database_url


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


def request(request_id, dossier_id, run_id):
    """A version-1 erasure request (one dossier, the shape queued before the batches)."""
    return envelope(ERASURE_REQUESTED, {"dossier_id": dossier_id, "run_id": run_id, "reason": "retention_expired"},
                    aggregate_id=dossier_id, sequence=0, producer="retention", event_id=request_id)


def batch_request(request_id, runs):
    """A version-2 erasure request naming every dossier of `runs` ({dossier id: run id})."""
    return envelope(ERASURE_REQUESTED, {"requests": [
        {"dossier_id": dossier_id, "run_id": run_id, "reason": "retention_expired"}
        for dossier_id, run_id in runs.items()]},
        aggregate_id=batch_aggregate(request_id), sequence=1, producer="retention", version=2, event_id=request_id)


def rows_of(queue, dossier_ref):
    """{table: rows (as dicts) whose dossier column holds `dossier_ref`}."""
    found = {}
    for model in TABLES:
        column = "dossier_ref" if "dossier_ref" in model.__table__.c else "dossier_id"
        found[model.__tablename__] = [
            {key: getattr(row, key) for key in model.__table__.c.keys()}
            for row in queue.rows(model) if getattr(row, column) == dossier_ref]
    return found


def test_a_batch_erases_each_dossier_as_alone_and_leaves_the_others_untouched(dossier_events, queue):
    first, second, other = (dossier_events(dossier_id) for dossier_id in ("dos-1", "dos-2", "dos-3"))
    for events in (first, second, other):
        events.give(KIND_EN_GEZIN)
    second.give(LOP)
    other.give(LOP)
    queue.deliver_all(KIND_EN_GEZIN)
    queue.deliver_all(LOP)
    second.change_phone("+32 2 000 00 09")  # an update for Kind en Gezin only, still waiting
    other.change_phone("+32 2 000 00 10")
    before = rows_of(queue, "dos-3")
    # dos-1 twice (the first request's run erases it), a dossier never seen here
    requests = [request("req-a", "dos-1", "run-a"), request("req-b", "dos-2", "run-b"),
                request("req-c", "dos-unknown", "run-c"), request("req-d", "dos-1", "run-d")]

    with queue.transaction() as session:
        erased = erasure.erase_dossiers(session, erasure.request_ids(requests), queue.now, queue.pseudonym)

    # exported, state, transfers, log rows (the new deletes' own included)
    assert erased == {"dos-1": 1 + 1 + 1 + 2, "dos-2": 2 + 1 + 3 + 5, "dos-unknown": 0}
    assert rows_of(queue, "dos-3") == before
    assert [(row.dossier_id, row.partner, row.kind, row.status, row.idempotency_key)
            for row in queue.rows() if row.dossier_id != "dos-3"] == [
        ("dos-1", KIND_EN_GEZIN, DELETE, QUEUED, f"run-a:{KIND_EN_GEZIN}"),
        ("dos-2", KIND_EN_GEZIN, DELETE, QUEUED, f"run-b:{KIND_EN_GEZIN}"),
        ("dos-2", LOP, DELETE, QUEUED, f"run-b:{LOP}")]
    assert {row.dossier_id for row in queue.rows(ExportedData)} == {"dos-3"}
    assert [row.dossier_id for row in queue.rows(DossierState)] == ["dos-3"]
    assert {row.dossier_ref for row in queue.rows(ErasedDossier)} == {
        queue.pseudonym(dossier_id) for dossier_id in ("dos-1", "dos-2", "dos-unknown")}
    with queue.transaction() as session:
        log = outbound.transfer_log(session, ("dos-2", queue.pseudonym("dos-2")))
    assert [(entry["partner"], entry["kind"], entry["status"], entry["pseudonymised"]) for entry in log] == [
        (KIND_EN_GEZIN, PUSH, DELIVERED, True), (LOP, PUSH, DELIVERED, True),
        (KIND_EN_GEZIN, UPDATE, "superseded", True), (KIND_EN_GEZIN, DELETE, QUEUED, True),
        (LOP, DELETE, QUEUED, True)]

    with queue.transaction() as session:
        again = erasure.erase_dossiers(session, {"dos-1": "run-e", "dos-2": "run-f"}, queue.now, queue.pseudonym)
    assert again == {"dos-1": 0, "dos-2": 0}
    assert len(queue.rows()) == 3 + len(before["transfers"])


def test_dossiers_of_one_batch_request_get_each_their_own_delete_keyed_by_their_run(dossier_events, queue):
    held = {dossier_id: dossier_events(dossier_id) for dossier_id in ("dos-1", "dos-2", "dos-4")}
    for events in held.values():
        events.give(KIND_EN_GEZIN)
    held["dos-2"].give(LOP)
    queue.deliver_all(KIND_EN_GEZIN)
    queue.deliver_all(LOP)
    runs = {"dos-1": "run-1", "dos-2": "run-2", "dos-unknown": "run-3"}
    # one version-2 request for three dossiers, and a version-1 request queued before the upgrade
    requests = [batch_request("req-batch", runs), request("req-old", "dos-4", "run-4")]

    assert erasure.request_ids(requests) == {**runs, "dos-4": "run-4"}
    with queue.transaction() as session:
        erased = erasure.erase_dossiers(session, erasure.request_ids(requests), queue.now, queue.pseudonym)

    # exported, state, the delivered pushes, log rows (the new deletes' own included)
    assert erased == {"dos-1": 1 + 1 + 1 + 2, "dos-2": 2 + 1 + 2 + 4, "dos-unknown": 0, "dos-4": 1 + 1 + 1 + 2}
    assert [(row.dossier_id, row.partner, row.kind, row.status, row.payload, row.idempotency_key)
            for row in queue.rows()] == [
        ("dos-1", KIND_EN_GEZIN, DELETE, QUEUED, {"dossier_id": "dos-1"}, f"run-1:{KIND_EN_GEZIN}"),
        ("dos-2", KIND_EN_GEZIN, DELETE, QUEUED, {"dossier_id": "dos-2"}, f"run-2:{KIND_EN_GEZIN}"),
        ("dos-2", LOP, DELETE, QUEUED, {"dossier_id": "dos-2"}, f"run-2:{LOP}"),
        ("dos-4", KIND_EN_GEZIN, DELETE, QUEUED, {"dossier_id": "dos-4"}, f"run-4:{KIND_EN_GEZIN}")]
    assert queue.rows(ExportedData) == [] and queue.rows(DossierState) == []
    # Kind en Gezin gets the three deletes, each under its own Idempotency-Key
    assert sorted((transfer.dossier_id, transfer.idempotency_key) for _, transfer in queue.claim()) == [
        ("dos-1", f"run-1:{KIND_EN_GEZIN}"), ("dos-2", f"run-2:{KIND_EN_GEZIN}"), ("dos-4", f"run-4:{KIND_EN_GEZIN}")]

    # retention asks again (a new request, the same runs): nothing more is erased or queued
    again = [batch_request("req-again", {**runs, "dos-4": "run-4"})]
    with queue.transaction() as session:
        assert erasure.erase_dossiers(session, erasure.request_ids(again), queue.now, queue.pseudonym) == {
            "dos-1": 0, "dos-2": 0, "dos-unknown": 0, "dos-4": 0}
    assert len(queue.rows()) == 4
