"""Matching's own sequence of the events it records about a dossier (offers, departures): a
counter on the dossier row (dossiers.offer_sequence), so consumers keep their order per dossier.
The increment locks the dossier row until the commit, so two transactions never share a number."""
from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from matching.models import DossierRow

_dossiers = DossierRow.__table__
_NEXT = (update(_dossiers).where(_dossiers.c.dossier_id == bindparam("dossier"))
         .values(offer_sequence=_dossiers.c.offer_sequence + 1).returning(_dossiers.c.offer_sequence))


def next_event_sequence(session: Session, dossier_id: str) -> int:
    return session.connection().execute(_NEXT, {"dossier": dossier_id}).scalar_one()
