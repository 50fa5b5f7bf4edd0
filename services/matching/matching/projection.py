"""Registration events into the read model, in batches (group commit).

Each handler worker hands its event to the Projection and waits. One committer greenthread takes
every event waiting (at most PROJECTION_BATCH; in practice up to max_workers, since that many
messages are in flight), claims them in the inbox and applies them in one transaction with bulk
statements, commits, puts the changes in this process's candidate index, and then releases the
workers: a worker returns, and its message is acked, only once its event is committed.

The inbox claim of a batch is loket.inbox.claim_all (loket.inbox.claim for many events at once).
If a batch fails, its events are applied again one by one, each in its own transaction, so one bad
event fails only its own worker (retried or parked by loket.consumer), never its neighbours. Two
instances claiming the same redelivered event end the same way: one batch fails on the inbox's
primary key, its events are redone one by one, and the one already applied is skipped.
"""
import logging
import queue
import threading
from dataclasses import dataclass, field

from nameko.extensions import DependencyProvider
from loket import inbox
from loket.db import Database
from matching import readmodel
from matching.candidates import Candidates
from matching.dependencies import RuleSets

log = logging.getLogger(__name__)

SUBSCRIPTION = "matching.registration_events"
_STOP = object()


@dataclass
class _Pending:
    event: dict
    recorder: object
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


def claim_all(session, events: list[dict]) -> list[dict]:
    """loket.inbox.claim_all for this subscription."""
    return inbox.claim_all(session, SUBSCRIPTION, events)


class Projection(DependencyProvider):
    """nameko dependency: `self.projection.apply(event, self.events)` from the event handler."""

    def setup(self):
        dependencies = self.container.dependencies
        self._database = next(dep for dep in dependencies if isinstance(dep, Database))
        self._rule_sets = next(dep for dep in dependencies if isinstance(dep, RuleSets))
        self._candidates = next(dep for dep in dependencies if isinstance(dep, Candidates))
        self.max_batch = int(self.container.config.get("PROJECTION_BATCH") or 100)
        self._queue = queue.Queue()
        self._thread = None

    def start(self):
        self._thread = self.container.spawn_managed_thread(self._run, identifier="projection-committer")

    def stop(self):
        # Workers have finished by now (nameko stops entrypoints and waits for workers first).
        self._queue.put(_STOP)
        if self._thread is not None:
            self._thread.wait()

    def kill(self):
        self._queue.put(_STOP)

    def get_dependency(self, worker_ctx):
        return self

    def apply(self, event: dict, recorder) -> None:
        """Apply the event and return once it is committed; raises what applying it alone raised."""
        item = _Pending(event, recorder)
        self._queue.put(item)
        item.done.wait()
        if item.error is not None:
            raise item.error

    def _run(self):
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[_Pending]):
        try:
            changes = self._apply(batch)
        except Exception as problem:  # noqa: BLE001 - each event then fails or succeeds on its own
            if len(batch) == 1:
                batch[0].error = problem
                batch[0].done.set()
                return
            log.warning("a batch of %d registration events failed (%s); applying them one by one",
                        len(batch), type(problem).__name__)
            for item in batch:
                self._commit([item])
            return
        pool = self._candidates.pool
        for change in changes:
            pool.apply(change)
        for item in batch:
            item.done.set()

    def _apply(self, batch: list[_Pending]) -> list:
        recorders = {item.event["id"]: item.recorder for item in batch}
        with self._database.access.transaction() as session:
            fresh = claim_all(session, [item.event for item in batch])
            return readmodel.apply_events(session, [(event, recorders[event["id"]]) for event in fresh],
                                          self._rule_sets.rule_sets)
