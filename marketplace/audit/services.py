"""The audit trail: every state change that matters leaves an entry, chained by hash.

`record` keeps the entry with the session, and the entries are chained when the transaction
commits (or when something reads the trail first): under one advisory lock, each takes the
hash of the entry before it. The lock is held from then to the end of the commit only, so
concurrent requests do their work in parallel and queue only for each other's commits, not
for whole transactions. An entry of a transaction that rolls back is never written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from marketplace import db
from marketplace.audit.models import AuditEntry

if TYPE_CHECKING:
    from marketplace.auth.identity import Identity

GENESIS = "0" * 64
AUDIT_LOCK = 0x4D4B5441  # one writer at a time extends the chain


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    return value


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    payload = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


def _hashed_fields(e: AuditEntry) -> dict[str, Any]:
    return {
        "occurred_at": e.occurred_at.isoformat(timespec="microseconds"),
        "actor": e.actor,
        "actor_user_id": e.actor_user_id,
        "action": e.action,
        "entity_type": e.entity_type,
        "entity_id": e.entity_id,
        "before": e.before,
        "after": e.after,
        "reason": e.reason,
    }


def record(
    actor: Identity,
    action: str,
    entity_type: str,
    entity_id: Any,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction; it commits or rolls back with the change."""
    s = db.session()
    entry = AuditEntry(
        occurred_at=db.utcnow(),
        actor_user_id=actor.user_id,
        actor=actor.label,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=_plain(before) if before is not None else None,
        after=_plain(after) if after is not None else None,
        reason=reason,
    )
    s.info.setdefault(PENDING, []).append(entry)
    return entry


PENDING = db.transaction_info("audit_pending")


def seal(s: Session | None = None) -> None:
    """Chain and write the session's pending entries (a no-op without any).

    The transaction's own pending writes are flushed first, outside the lock; under it there
    are only the previous hash and the entries' Core insert, whose ids (and so the chain's
    order) follow the order of the rows."""
    s = s or db.session()
    pending = s.info.pop(PENDING, None)
    if not pending:
        return
    s.flush()
    prev = _locked_chain_head(s)
    rows = []
    for entry in pending:
        entry.prev_hash = prev
        entry.hash = prev = entry_hash(prev, _hashed_fields(entry))
        rows.append({column: getattr(entry, column) for column in _COLUMNS})
    db.connection(s).execute(_INSERT, rows)


def _locked_chain_head(s: Session) -> str:
    """The hash of the chain's last entry, read under the audit lock (held to the commit).

    On PostgreSQL the lock and the read go to the server as one message of two statements (the
    simple query protocol): one round trip where there were two, on every audited change. Under
    READ COMMITTED each statement of such a message takes its snapshot when it starts, so the
    read, which starts once the lock is granted, sees every entry committed by the lock's previous
    holder. One statement that locked and read would take its snapshot before waiting for the
    lock, and fork the chain. SQLite serialises writers: no lock."""
    connection = db.connection(s)
    if not db.is_postgres(s):
        return connection.scalar(_LAST_HASH) or GENESIS
    # Through SQLAlchemy, so that a connection lost here is handled as anywhere else. Without
    # parameters psycopg sends the simple query and never prepares one of several statements.
    result = connection.exec_driver_sql(_LOCK_THEN_LAST_HASH)
    try:
        cursor = result.cursor  # psycopg has both answers; the result shows the first
        cursor.nextset()
        row = cursor.fetchone()
    finally:
        result.close()
    return row[0] if row and row[0] else GENESIS


# Built once: every change that matters runs them.
_TABLE = AuditEntry.__table__
_COLUMNS = tuple(c.name for c in _TABLE.columns if c.name != "id")
_LAST_HASH = select(_TABLE.c.hash).order_by(_TABLE.c.id.desc()).limit(1)
_LOCK_THEN_LAST_HASH = f"SELECT pg_advisory_xact_lock({AUDIT_LOCK}); " + str(
    _LAST_HASH.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
_INSERT = insert(_TABLE)


@event.listens_for(Session, "before_commit")
def _seal_before_commit(s: Session) -> None:
    seal(s)




@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_bad_id: int | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.first_bad_id is None


def _entries(batch: int = 5000) -> Iterator[AuditEntry]:
    seal()
    last = 0
    while True:
        rows = list(db.session.scalars(
            select(AuditEntry).where(AuditEntry.id > last).order_by(AuditEntry.id).limit(batch)
        ))
        if not rows:
            return
        yield from rows
        last = rows[-1].id


def verify_chain() -> ChainReport:
    prev = GENESIS
    checked = 0
    for e in _entries():
        if e.prev_hash != prev:
            return ChainReport(checked, e.id, "links to a different previous entry")
        if entry_hash(prev, _hashed_fields(e)) != e.hash:
            return ChainReport(checked, e.id, "its content does not match its hash")
        prev = e.hash
        checked += 1
    return ChainReport(checked, None, None)
