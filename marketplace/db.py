"""The database: one declarative base with a naming convention, one scoped session.

Services add and flush; exactly one boundary (the request, a CLI command, a job) commits or
rolls back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, Numeric, Table, create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant, stored in UTC and always returned timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give an aware instant")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """Yuan with two decimals: NUMERIC(18, 2), exact on both databases."""

    impl = Numeric(18, 2)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> Any:
        if value is None:
            return None
        value = Decimal(value).quantize(Decimal("0.01"))
        # SQLite has no exact decimal type: its NUMERIC affinity stores a REAL, which reads
        # back exactly (up to 15 significant digits, 10^13 yuan). The service therefore adds
        # money up in Python, never with SQL SUM on SQLite.
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).quantize(Decimal("0.01"))


# Keys of Session.info that hold what one transaction gathered; a rollback of the whole
# transaction (not of a savepoint in it) forgets them.
_TRANSACTION_INFO: set[str] = set()


def transaction_info(key: str) -> str:
    """Declare `key` of Session.info as belonging to the transaction; returns the key."""
    _TRANSACTION_INFO.add(key)
    return key


@event.listens_for(Session, "after_soft_rollback")
def _forget_transaction_info(s: Session, previous_transaction: Any) -> None:
    if not previous_transaction.nested:
        for key in _TRANSACTION_INFO:
            s.info.pop(key, None)


def utcnow() -> datetime:
    return datetime.now(UTC)


session: scoped_session[Session] = scoped_session(sessionmaker(expire_on_commit=False))
_engines: dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    """One engine per URL and process (the tests create many apps over one database)."""
    engine = _engines.get(url)
    if engine is None:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})

            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
                # pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy's
                # documented recipe: the driver stays out, SQLAlchemy emits BEGIN itself.
                dbapi_connection.isolation_level = None
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()

            @event.listens_for(engine, "begin")
            def _sqlite_begin(conn: Any) -> None:
                conn.exec_driver_sql("BEGIN")
        else:
            engine = create_engine(url, pool_size=5, max_overflow=5)
            _ping_rested_connections(engine)
        _engines[url] = engine
    return engine


# A pooled connection that has rested this long is pinged before it is handed out.
PING_AFTER_REST_S = 1.0


def _ping_rested_connections(engine: Engine) -> None:
    """Ping a pooled connection before use only if it has rested in the pool a while.

    SQLAlchemy's `pool_pre_ping` pings on every checkout: one more round trip on every request,
    though under load a connection comes back to the pool and out again within milliseconds.
    A server that restarted while the service was quiet is still found out before a request
    uses a dead connection. One that restarts under load fails the requests then in flight (503,
    as while it is down), and SQLAlchemy then discards every connection of the pool opened
    before the failure, so the next requests connect afresh."""

    @event.listens_for(engine, "checkin")
    def _rested_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_rested(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.get("checked_in")
        if checked_in is None or time.monotonic() - checked_in < PING_AFTER_REST_S:
            return  # new, or back from a request a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool replaces the connection and tries again (SQLAlchemy's documented way).
            raise DisconnectionError("a pooled connection was found dead") from exc


def bind(url: str) -> Engine:
    engine = engine_for(url)
    session.remove()
    session.configure(bind=engine)
    return engine


def rollback() -> None:
    """Roll back the thread's session, if it has one: a request answered without the database
    (a cached read, a refused one) makes none, and need not make one to roll it back."""
    if session.registry.has():
        session.rollback()


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """Commit on success, roll back on any error: the boundary for CLI commands and jobs."""
    s = session()
    try:
        yield s
        s.commit()
    except BaseException:
        s.rollback()
        raise


def connection(s: Session | None = None) -> Connection:
    """The session's connection, in its transaction. A Core statement (no ORM entities)
    executed here skips the session's ORM handling, which it does not need: about a quarter
    of the cost of a small statement."""
    return (s or session()).connection()


def driver_connection(s: Session | None = None) -> Any:
    """The driver's own connection (psycopg's or sqlite3's), in the session's transaction: for
    COPY, and for reads of many rows without SQLAlchemy's per-row cost."""
    return connection(s).connection.driver_connection


def is_postgres(s: Session | None = None) -> bool:
    bind_ = (s or session()).get_bind()
    return bind_.dialect.name == "postgresql"


def insert_many(table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows (dicts with the same keys) in the session's transaction: one COPY on
    PostgreSQL (an executemany sends each row on its own), one executemany on SQLite."""
    if not rows:
        return
    if not is_postgres():
        session.execute(table.insert(), rows)
        return
    columns = list(rows[0])
    json_columns = {c for c in columns if isinstance(table.c[c].type, JSON)}
    raw = driver_connection()
    names = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cursor, cursor.copy(
            f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for r in rows:
            copy.write_row([json.dumps(r[c], ensure_ascii=False) if c in json_columns
                            else r[c] for c in columns])


def advisory_xact_lock(key: int, s: Session | None = None) -> None:
    """Serialise a critical section across processes (PostgreSQL); SQLite writers are serial."""
    s = s or session()
    if is_postgres(s):
        connection(s).execute(_ADVISORY_LOCK, {"k": key})


_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:k)")


def try_advisory_xact_lock(key: int, s: Session | None = None) -> bool:
    s = s or session()
    if is_postgres(s):
        return bool(s.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar())
    return True
