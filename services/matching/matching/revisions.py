"""Revisions of the read model: how each process's candidate index learns what other processes changed.

Every change of a dossier in the read model bumps one counter row, last in its transaction, and
stamps the dossier row with the new value. The counter row stays locked from the bump to the
commit, so revisions become visible in increasing order: once revision N is visible, every change
below N is too, and "dossiers with a revision above the last one seen" is everything missed
(see candidates.py).
"""
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from matching.model import Candidate
from matching.models import DossierRow, ReadModelRevision

_dossiers, _revision = DossierRow.__table__, ReadModelRevision.__table__
_BUMP = (update(_revision).where(_revision.c.id == 1).values(revision=_revision.c.revision + 1)
         .returning(_revision.c.revision))
_STAMP = update(_dossiers).where(_dossiers.c.dossier_id.in_(bindparam("dossiers", expanding=True))).values(
    revision=bindparam("revision"))
_CURRENT = select(_revision.c.revision).where(_revision.c.id == 1)


@dataclass(frozen=True)
class DossierChange:
    """A dossier as committed at `revision`: all its requests (any status); none once erased."""
    dossier_id: str
    revision: int
    restricted: bool
    candidates: tuple[Candidate, ...]


def current_revision(session: Session) -> int:
    return session.connection().execute(_CURRENT).scalar_one()


def bump(session: Session, dossier_ids: list[str]) -> int:
    """Stamp the dossiers changed at a new revision; call it last in the transaction."""
    connection = session.connection()
    revision = connection.execute(_BUMP).scalar_one()
    connection.execute(_STAMP, {"dossiers": dossier_ids, "revision": revision})
    return revision
