"""The in-memory candidate index of one process, and how it stays in step with the database.

Ranking reads candidates from memory (a `CandidateIndex`), never from the tables: at 100,000
requests a ranking has milliseconds, not the time to load thousands of rows. Every process builds
its own index from the read-model tables at start, then keeps it in step two ways:

- the registration events this process handles are applied to its index right after they commit;
- before every ranking it catches up on the dossiers other processes changed: those whose
  read-model revision is above the last one it has seen (revisions.py says why that is all).

A dossier's candidates are replaced only by a newer revision of that dossier, so the two ways may
deliver the same change in any order. Restricted dossiers (GDPR art. 18) are kept out of the index.
"""
import gc
import logging
import threading
from itertools import groupby

from nameko.extensions import DependencyProvider
from sqlalchemy import select

from loket.db import Database
from matching.index import CandidateIndex
from matching.model import Candidate
from matching.models import DossierRow, RequestRow
from matching.readmodel import CANDIDATE_COLUMNS, candidate_from_row
from matching.revisions import DossierChange, current_revision

log = logging.getLogger(__name__)
_STREAM_ROWS = 5000

# Core rows, not ORM objects: the start-up load reads every request.
_dossiers, _requests = DossierRow.__table__, RequestRow.__table__
_CHANGED = (select(_dossiers.c.revision, _dossiers.c.restricted, *CANDIDATE_COLUMNS)
            .select_from(_dossiers.outerjoin(_requests, _requests.c.dossier_id == _dossiers.c.dossier_id)))


class CandidatePool:
    def __init__(self):
        self.index = CandidateIndex()
        self.revision = 0  # every change up to this revision is in the index
        self._dossier_revisions: dict[str, int] = {}
        self._loaded = threading.Event()

    @property
    def loaded(self) -> bool:
        return self._loaded.is_set()

    def wait_loaded(self, timeout: float = 300) -> None:
        """nameko starts entrypoints while the index loads: a ranking waits for the whole index."""
        if not self._loaded.wait(timeout):
            raise RuntimeError("the candidate index is still loading")

    def apply(self, change: DossierChange) -> bool:
        """Replace the dossier's candidates unless the index already has this revision of it or a newer one."""
        if change.revision <= self._dossier_revisions.get(change.dossier_id, -1):
            return False
        self._dossier_revisions[change.dossier_id] = change.revision
        self.index.remove_dossier(change.dossier_id)
        if not change.restricted:
            for candidate in change.candidates:
                self.index.put(candidate)
        return True

    def load(self, session) -> int:
        """Rebuild the index from the tables; returns how many active candidates it holds. The new
        index replaces the old one only when complete, so rankings meanwhile use the old one."""
        fresh = CandidatePool()
        fresh.catch_up(session)
        self.index, self._dossier_revisions, self.revision = fresh.index, fresh._dossier_revisions, fresh.revision
        # The index lives as long as the process: freeze it out of the collector's full passes,
        # which otherwise walk every candidate and add 100 ms to a ranking (bench/results/matching_rank.md).
        gc.collect()
        gc.freeze()
        self._loaded.set()
        return len(self.index)

    def catch_up(self, session) -> int:
        """Apply every dossier changed since the last catch-up; returns how many were applied."""
        # Read the counter first: rows committed meanwhile are applied now and again next time.
        revision = current_revision(session)
        if revision == self.revision:
            return 0
        # Streamed in dossier order, so that a full load never holds all rows at once.
        rows = session.execute(_CHANGED.where(_dossiers.c.revision > self.revision).order_by(_dossiers.c.dossier_id)
                               .execution_options(yield_per=_STREAM_ROWS))
        applied = 0
        for dossier_id, group in groupby(rows, key=lambda row: row.dossier_id):
            group = list(group)
            candidates = tuple(candidate_from_row(row) for row in group if row.request_id is not None)
            applied += self.apply(DossierChange(dossier_id, group[0].revision, group[0].restricted, candidates))
        self.revision = max(self.revision, revision)
        return applied

    def get(self, request_id: str) -> Candidate | None:
        return self.index.get(request_id)

    def candidates_for(self, facility_id: str) -> list[Candidate]:
        return self.index.candidates_for(facility_id)

    def __len__(self) -> int:
        return len(self.index)


class Candidates(DependencyProvider):
    """nameko dependency: this process's CandidatePool, loaded from the database at start."""

    def setup(self):
        self._database = next(dep for dep in self.container.dependencies if isinstance(dep, Database))
        self.pool = CandidatePool()

    def start(self):
        with self._database.access.transaction() as session:
            loaded = self.pool.load(session)
        log.info("candidate index loaded: %d active candidates at revision %d", loaded, self.pool.revision)

    def get_dependency(self, worker_ctx):
        return self.pool
