"""Rebuilding the read model of requests from scratch: the reset step.

    python -m matching.rebuild <database url>

then registration's replay (`python -m registration.replay`), which publishes every dossier's
current snapshot to matching only; matching applies them as it applies registration's events
(services/matching/README.md, "Rebuild").

What the reset empties is the read model, what registration's events build: `requests` and
`request_facilities`, and of every dossier row that is not a tombstone its applied sequence (so
that the replay, carrying the sequence the dossier's last event carried, is applied). What stays:

- the dossier rows themselves: a row keeps matching's own event sequence for the dossier
  (`offer_sequence`: offers and departures go on numbering where they were, or consumers would
  take the next ones for old), and its new revision is how every process learns the reset;
- tombstones of erased dossiers, as they are: a late event (or a replay) cannot bring one back;
- facilities, places, offers, enrollments: matching's own data, not registration's.

Every reset dossier is stamped with one new read-model revision (revisions.py), so each process's
candidate index sees it, without requests, on its next catch-up and drops its candidates. Until the
replay arrives the dossiers have no requests: rankings are empty and candidates_dossier_ids lists
nothing. Open offers stay open; the replay lapses those whose request can no longer take them, as
any registration event would.
"""
import sys
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from loket.db import command_session
from matching.models import DossierRow, RequestFacilityRow, RequestRow
from matching.revisions import bump

_dossiers, _requests = DossierRow.__table__, RequestRow.__table__
_request_facilities = RequestFacilityRow.__table__
NOT_APPLIED = -1  # below any registration sequence: the next snapshot of the dossier is applied


@dataclass(frozen=True)
class Reset:
    dossiers: int  # dossier rows emptied (tombstones not counted)
    requests: int  # requests deleted
    revision: int | None  # the read-model revision the reset dossiers carry (None: nothing to reset)


def reset_read_model(session: Session) -> Reset:
    """Empty the read model of requests in the caller's transaction (nothing here commits)."""
    session.flush()
    connection = session.connection()
    # Locked in id order, as a batch of registration events locks them: a batch applied meanwhile
    # either commits before the reset (and is reset) or waits for it (and is applied after).
    dossier_ids = list(connection.execute(
        select(_dossiers.c.dossier_id).where(_dossiers.c.erased.is_(False))
        .order_by(_dossiers.c.dossier_id).with_for_update()).scalars())
    connection.execute(delete(_request_facilities))
    requests = connection.execute(delete(_requests)).rowcount
    if not dossier_ids:
        return Reset(0, requests, None)
    # Bumped with no dossier named, then every reset dossier stamped by one statement: naming them
    # all would take more bound parameters than SQLite allows.
    revision = bump(session, [])
    connection.execute(update(_dossiers).where(_dossiers.c.erased.is_(False))
                       .values(applied_sequence=NOT_APPLIED, revision=revision))
    return Reset(len(dossier_ids), requests, revision)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    with command_session(argv[1]) as session:
        reset = reset_read_model(session)
    print(f"read model reset: {reset.dossiers} dossiers emptied, {reset.requests} requests deleted; "
          "now run registration's replay (python -m registration.replay)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
