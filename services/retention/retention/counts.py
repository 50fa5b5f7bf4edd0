"""The stored aggregate of request facts: one counter per combination of categories, no ids."""
from collections import Counter
from dataclasses import astuple

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from retention.facts import DIMENSIONS, RequestFact
from retention.models import request_counts


def add_fact(session: Session, fact: RequestFact) -> None:
    """Count one closed request. Two workers creating the same new counter at once: the loser's
    insert fails on the primary key and its event is retried, which then finds the row."""
    match = [request_counts.c[dimension] == value for dimension, value in zip(DIMENSIONS, astuple(fact))]
    updated = session.execute(
        update(request_counts).where(*match).values(count=request_counts.c["count"] + 1)
    ).rowcount
    if not updated:
        session.execute(insert(request_counts).values(**dict(zip(DIMENSIONS, astuple(fact))), count=1))


def load_counts(session: Session) -> Counter:
    """The aggregate as statistics.publish takes it: {RequestFact: count}."""
    columns = [request_counts.c[dimension] for dimension in DIMENSIONS]
    rows = session.execute(select(*columns, request_counts.c["count"])).all()
    return Counter({RequestFact(*row[:-1]): row[-1] for row in rows})
