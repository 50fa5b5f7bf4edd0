"""Database access for nameko services, on SQLite (embedded default) and PostgreSQL (production).

PostgreSQL goes through psycopg2 made cooperative by psycogreen: while a query waits for the
server, the connection yields to the eventlet hub, so a slow query never stalls the other workers
(tests/test_db_eventlet.py proves the overlap). It costs about half the CPU of pure-Python pg8000.

SQLite runs in WAL mode and every transaction begins IMMEDIATE, so concurrent writers queue on the
lock instead of failing on a read-to-write upgrade. Within one process the transactions also take a
cooperative (green) lock first, one per database file: SQLite's own wait for its file lock is a blocking C call, and under
eventlet it would stall the hub - and with it the very greenthread that holds the lock and would
release it (one waiting on an RPC reply or a password hash), until the busy timeout ends.
"""
import os
import threading
from contextlib import contextmanager
from datetime import timezone

from nameko.extensions import DependencyProvider
from sqlalchemy import DateTime, create_engine, event
from sqlalchemy.types import TypeDecorator
from sqlalchemy.orm import Session, sessionmaker


# Names for indexes and constraints in every service's MetaData, so that each migration names them the
# same on SQLite and PostgreSQL (and batch migrations on SQLite can find them again).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, on SQLite (which stores naive values) as on PostgreSQL.
    A naive datetime is refused: it would silently mean local time somewhere."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def normalise_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://", "postgresql+pg8000://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def _make_psycopg2_cooperative():
    # Without this wait callback psycopg2 blocks the whole process for the duration of every query.
    from psycogreen.eventlet import patch_psycopg
    patch_psycopg()


_HOLDS_WRITER = "loket.db.holds_writer"  # connection.info: this connection took the writer lock
_writer_locks = {}


def _sqlite_writer_lock(engine):
    """One cooperative lock per SQLite file in this process, shared by every engine on that file
    (a test's second engine, a command run in-process): a lock per engine would let two of them
    meet in SQLite's blocking busy wait, which is the stall the lock is there to prevent."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return threading.Lock()  # green under eventlet's monkey patching
    return _writer_locks.setdefault(os.path.realpath(database), threading.Lock())


def _release(connection, writer):
    """Release the writer lock if this connection holds it, and only then: never someone else's."""
    if connection.info.pop(_HOLDS_WRITER, False):
        writer.release()


def create_db_engine(url: str, **kwargs):
    # Errors would otherwise carry the statement's parameters (names, addresses) into the logs.
    kwargs.setdefault("hide_parameters", True)
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        writer = _sqlite_writer_lock(engine)

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection):
            writer.acquire()
            connection.info[_HOLDS_WRITER] = True
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                # SQLAlchemy may already have rolled back (and so released) on the way here
                _release(connection, writer)
                raise

        @event.listens_for(engine, "commit")
        @event.listens_for(engine, "rollback")
        def _end(connection):
            _release(connection, writer)

        return engine
    _make_psycopg2_cooperative()
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, pool_pre_ping=True, **kwargs)


@contextmanager
def command_session(url: str):
    """For an operator's command (`python -m <service>.<command> <database url>`): a session on the
    database in one transaction, committed when the block ends and rolled back if it raises; the
    engine is disposed of afterwards."""
    engine = create_db_engine(url)
    try:
        with Session(engine) as session, session.begin():
            yield session
    finally:
        engine.dispose()


class DatabaseAccess:
    """What a worker gets: `with self.db.transaction() as session:` commits when the block ends
    (before the entrypoint returns its result) and rolls back if it raises."""

    def __init__(self, engine, session_factory):
        self.engine = engine
        self._session_factory = session_factory

    @contextmanager
    def transaction(self):
        with self._session_factory.begin() as session:
            yield session


class Database(DependencyProvider):
    """nameko dependency reading DATABASE_URL from the service config."""

    def setup(self):
        url = self.container.config.get("DATABASE_URL")
        if not url:
            raise RuntimeError(f"{self.container.service_name}: DATABASE_URL is not configured")
        self.engine = create_db_engine(url)
        self.session_factory = sessionmaker(self.engine, class_=Session, expire_on_commit=False)
        self.access = DatabaseAccess(self.engine, self.session_factory)

    def stop(self):
        self.engine.dispose()

    def kill(self):
        self.engine.dispose()

    def get_dependency(self, worker_ctx):
        return self.access
