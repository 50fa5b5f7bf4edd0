"""Group commit: items that concurrent workers submit at the same moment are handled in one call.

An erasure brings four receipts per dossier, 400,000 for 100,000 dossiers. One transaction per
receipt spends most of its time on round trips and the commit itself; one transaction for all the
receipts that nameko's workers hold at that moment spends it once per group.

The first worker to submit leads: it lets the other workers queue their items, hands the whole
group to `handle_group` and gives every worker its own outcome, then leads the next group if more
came in meanwhile. Each worker returns (and its message is acked) only after its item's group
committed, so nothing is acked before it is stored. An exception instance as an item's outcome is
raised in that item's worker only; an exception from `handle_group` itself (the database is down)
is raised in every worker of the group, so each message is retried on its own.
"""
from collections.abc import Callable, Sequence

import eventlet
from eventlet.event import Event


class GroupCommit:
    def __init__(self):
        self._queue = []
        self._leading = False

    def submit(self, item, handle_group: Callable[[Sequence], Sequence]):
        """`handle_group(items)` returns one outcome per item, in order."""
        waiter = Event()
        self._queue.append((item, waiter))
        if not self._leading:
            self._lead(handle_group)
        outcome = waiter.wait()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _lead(self, handle_group):
        self._leading = True
        try:
            eventlet.sleep(0)  # the workers already started queue their items first
            while self._queue:
                group, self._queue = self._queue, []
                try:
                    outcomes = list(handle_group([item for item, _ in group]))
                    if len(outcomes) != len(group):
                        raise RuntimeError(f"{len(outcomes)} outcomes for a group of {len(group)}")
                except Exception as error:  # noqa: BLE001 - every worker of the group gets it
                    outcomes = [error] * len(group)
                for (_, waiter), outcome in zip(group, outcomes):
                    waiter.send(outcome)
        finally:
            self._leading = False
