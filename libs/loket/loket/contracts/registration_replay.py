"""Registration's replay: every dossier's current SNAPSHOT published again, for a consumer that
rebuilds its read model from scratch (matching; see services/matching/README.md, "Rebuild").

A producer namespace of its own on purpose: subscriptions to registration's events (`registration.#`:
notification, consent-export, retention) never receive a replay, which would send emails again,
export consents again or count as activity. Only `matching.registration_events` is bound to it
(loket.topology). The envelope's sequence is the dossier's current version, the sequence its last
registration event carried, so a consumer applies a replay only over something older.
"""
from loket.contracts.registration import _WithSnapshot

PRODUCER = "registration"
PREFIX = "registration_replay."
DOSSIER_SNAPSHOT = PREFIX + "dossier_snapshot"

EVENT_TYPES = (DOSSIER_SNAPSHOT,)


class DossierSnapshotV1(_WithSnapshot):
    """{"dossier": SNAPSHOT}, the snapshot schema of registration's own events."""


SCHEMAS = {
    (DOSSIER_SNAPSHOT, 1): DossierSnapshotV1,
}
