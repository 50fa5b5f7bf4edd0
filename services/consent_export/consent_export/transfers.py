"""Which transfers a dossier event causes: a pure decision, no I/O.

The decision compares the dossier snapshot with what each partner already holds (`Exported`,
kept by the caller per dossier and partner). That makes it the same rule for every event:
consented and not yet held -> push; consented and the exported fields changed -> update;
not consented (withdrawn) or erased while the partner holds data -> delete (GDPR art. 19);
anything else -> nothing. Without consent no transfer of any kind is ever produced.

A restricted dossier (GDPR art. 18: kept, not processed) gets no push and no update; what the
partner holds is left as it was, so lifting the restriction sends what changed meanwhile. A
withdrawal or an erasure still sends the delete: that is the parent's right, not processing.
"""
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from consent_export.fields import (
    DOSSIER_REFERENCE,
    PARTNERS,
    build_payload,
    consent_id,
    consented,
    field_names,
)
from loket.contracts.registration import CONSENT_WITHDRAWN, DOSSIER_ERASED, EVENT_TYPES

PUSH = "push"
UPDATE = "update"
DELETE = "delete"

# The subscription also brings registration's other messages (its erasure receipt): only the
# dossier events of the contract can cause a transfer.
DOSSIER_EVENT_TYPES = frozenset(EVENT_TYPES)


@dataclass(frozen=True)
class Exported:
    """What one partner holds (or has queued) for one dossier after the last transfer."""

    payload_hash: str
    consent_id: str | None


@dataclass(frozen=True)
class Transfer:
    idempotency_key: str
    partner: str
    dossier_id: str
    kind: str
    payload: dict
    field_names: tuple[str, ...]
    consent_id: str | None
    payload_hash: str | None

    @property
    def exported(self) -> Exported | None:
        """What the partner holds once this transfer is queued: the caller's next `Exported`."""
        if self.kind == DELETE:
            return None
        return Exported(self.payload_hash, self.consent_id)


def payload_hash(payload: Mapping) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def transfers_for_event(envelope: Mapping, exported: Mapping[str, Exported]) -> list[Transfer]:
    """Transfers caused by one event envelope, in partner order.

    `exported` maps partner -> what that partner holds for this envelope's dossier, as left by
    the last transfer the caller queued (not the last one delivered: queued transfers are sent in
    order, so a delete decided now always follows an update queued earlier). A partner absent
    from it holds nothing.
    """
    event_type = envelope["type"]
    if event_type not in DOSSIER_EVENT_TYPES:
        return []
    data = envelope["data"]
    if event_type == DOSSIER_ERASED:
        return transfers_for_erasure(envelope["id"], data["dossier_id"], exported)
    snapshot = data["dossier"]
    restricted = snapshot.get("restricted") is True
    # A withdrawal wins even over a snapshot that still shows the consent as given.
    withdrawn = data.get("partner") if event_type == CONSENT_WITHDRAWN else None
    transfers = []
    for partner in PARTNERS:
        held = exported.get(partner)
        if partner != withdrawn and consented(partner, snapshot):
            if restricted:
                continue
            payload = build_payload(partner, snapshot)
            digest = payload_hash(payload)
            if held is None or held.payload_hash != digest:
                transfers.append(Transfer(
                    idempotency_key=_key(envelope["id"], partner),
                    partner=partner,
                    dossier_id=payload[DOSSIER_REFERENCE],
                    kind=PUSH if held is None else UPDATE,
                    payload=payload,
                    field_names=field_names(payload),
                    consent_id=consent_id(partner, snapshot),
                    payload_hash=digest,
                ))
        elif held is not None:
            record = consent_id(partner, snapshot) or held.consent_id
            transfers.append(_delete(envelope["id"], partner, snapshot["id"], record))
    return transfers


def transfers_for_erasure(event_id: str, dossier_id: str,
                          exported: Mapping[str, Exported]) -> list[Transfer]:
    """The dossier is erased: every partner holding data is told to delete it (GDPR art. 17(2), 19)."""
    return [
        _delete(event_id, partner, dossier_id, exported[partner].consent_id)
        for partner in PARTNERS
        if partner in exported
    ]


def _delete(event_id: str, partner: str, dossier_id: str, record: str | None) -> Transfer:
    payload = {DOSSIER_REFERENCE: dossier_id}
    return Transfer(
        idempotency_key=_key(event_id, partner),
        partner=partner,
        dossier_id=dossier_id,
        kind=DELETE,
        payload=payload,
        field_names=field_names(payload),
        consent_id=record,
        payload_hash=None,
    )


def _key(event_id: str, partner: str) -> str:
    return f"{event_id}:{partner}"
