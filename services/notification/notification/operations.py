"""What the entrypoints do, as plain functions over the caller's session (nothing commits here)."""
from collections import Counter
from datetime import datetime
from typing import Iterable, Mapping, Sequence

from sqlalchemy.orm import Session

from loket.contracts.gateway import ACCOUNT_CONFIRMATION_REQUESTED
from loket.contracts.matching import OFFER_LAPSED, OFFER_MADE
from loket.contracts.registration import DOSSIER_ERASED
from notification import email_log, projection
from notification.emails import (
    Kind, Site, UndeliverableEmail, account_confirmation_email, emails_for_event, offer_email,
    reminder_email,
)

OFFER_EMAILS = {OFFER_MADE: Kind.OFFER_RECEIVED, OFFER_LAPSED: Kind.OFFER_LAPSED}


class RequestNotProjected(Exception):
    """An offer for a request whose registration event has not been applied yet (the two
    producers' queues are consumed independently). Worth a retry: the consumer tries again
    after its delays, then parks the offer event for an operator."""


class UndeliverableEvent(Exception):
    """An event of a batch whose emails cannot be built (`UndeliverableEmail`), by id."""

    def __init__(self, event_id: str, reason: str):
        super().__init__(reason)
        self.event_id, self.reason = event_id, reason


def apply_registration_events(session: Session, events: Sequence[Mapping], *, site: Site,
                              now: datetime, wall_now: datetime) -> int:
    """`apply_registration_event` for each event, in order, with the erased dossiers among
    theirs looked up once; returns how many emails were queued. Raises UndeliverableEvent
    naming the first event whose emails cannot be built."""
    erased = projection.erased_among(session, {event["aggregate_id"] for event in events})
    queued = 0
    for event in events:
        try:
            queued += apply_registration_event(session, event, site=site, now=now,
                                               wall_now=wall_now, erased=erased)
        except UndeliverableEmail as problem:
            raise UndeliverableEvent(event["id"], problem.reason) from None
    return queued


def apply_registration_event(session: Session, event: Mapping, *, site: Site, now: datetime,
                             wall_now: datetime, erased: set[str] | None = None) -> int:
    """Bring the projection up to the event and queue the emails it causes; returns how many
    were queued. An event older than the projection still sends its emails (a cancellation
    overtaken by a later change must still reach the parent; the inbox has already made sure
    this event is handled once), but it does not roll the projection back. Raises
    UndeliverableEmail when the event is inconsistent (a request missing from its snapshot).
    `erased`: the erased dossiers among this event's, if the caller looked them up (kept up
    to date here), else looked up now."""
    dossier_id = event["aggregate_id"]
    if erased is None:
        erased = projection.erased_among(session, {dossier_id})
    if dossier_id in erased:
        return 0  # a late event must not bring an erased dossier back
    if event["type"] == DOSSIER_ERASED:
        erase_dossier(session, dossier_id, now)
        erased.add(dossier_id)
        return 0
    emails = emails_for_event(event, site=site)
    projection.apply_snapshot(session, event["sequence"], event["data"]["dossier"])
    statuses = email_log.queue(session, emails, event_id=event["id"], now=now, wall_now=wall_now)
    return statuses.count("queued")


def apply_matching_event(session: Session, event: Mapping, *, site: Site, now: datetime,
                         wall_now: datetime) -> int:
    """Queue the email an offer event causes (offer made, offer lapsed; accepted and declined
    are the parent's own answers); returns how many were queued. Offers are the request's
    legal course: a restricted dossier gets them too."""
    kind = OFFER_EMAILS.get(event["type"])
    if kind is None:
        return 0
    offer = event["data"]
    if projection.is_erased(session, offer["dossier_id"]):
        return 0
    request = projection.request(session, offer["request_id"])
    if request is None:
        raise RequestNotProjected(offer["request_id"])
    statuses = email_log.queue(session, [offer_email(kind, request, offer, site=site)],
                               event_id=event["id"], now=now, wall_now=wall_now)
    return statuses.count("queued")


def apply_gateway_event(session: Session, event: Mapping, *, site: Site, now: datetime,
                        wall_now: datetime) -> int:
    """Queue the account confirmation email the gateway asked for; returns how many were queued."""
    if event["type"] != ACCOUNT_CONFIRMATION_REQUESTED:
        return 0
    statuses = email_log.queue(session, [account_confirmation_email(event, site=site)],
                               event_id=event["id"], now=now, wall_now=wall_now)
    return statuses.count("queued")


def queue_due_reminders(session: Session, *, site: Site, now: datetime, wall_now: datetime,
                        weeks_before: int, limit: int) -> int:
    """Queue up to `limit` due start-date reminders, each marked sent on its request in the same
    transaction, so a rescan never queues it again. Returns how many were due."""
    due = projection.due_reminders(session, now, weeks_before, limit)
    email_log.queue(session, [reminder_email(reminder, site=site) for reminder in due],
                    event_id=None, now=now, wall_now=wall_now)
    projection.mark_reminders_sent(session, due)
    return len(due)


def erase_dossier(session: Session, dossier_id: str, now: datetime) -> int:
    """P14/P15/P23: the dossier's email log and projection go; returns the rows deleted."""
    return erase_dossiers(session, [dossier_id], now)[dossier_id]


def erase_dossiers(session: Session, dossier_ids: Iterable[str], now: datetime) -> dict[str, int]:
    """`erase_dossier` for many dossiers with a few bulk statements (IN (...)), whatever their
    number: {dossier id: rows deleted} for each dossier named (0 for one unknown here). Callers
    pass a batch at a time (SQLite takes up to 32766 ids per statement)."""
    dossier_ids = list(dict.fromkeys(dossier_ids))
    erased = Counter(dict.fromkeys(dossier_ids, 0))
    erased.update(email_log.erase_all(session, dossier_ids))
    erased.update(projection.erase_all(session, dossier_ids, now))
    return dict(erased)


def personal_data(session: Session, dossier_id: str) -> dict:
    return {
        "dossier_id": dossier_id,
        "projection": projection.export(session, dossier_id),
        "emails": email_log.for_dossier(session, dossier_id),
    }


def replay_email(session: Session, idempotency_key: str, *, site: Site,
                 wall_now: datetime) -> dict:
    return email_log.replay(
        session, idempotency_key, site=site, wall_now=wall_now,
        current_recipient=lambda dossier_id: projection.current_recipient(session, dossier_id))
