"""The audit trail: every state change that matters leaves an entry, chained by hash.

`record` keeps the entry with the session, and the entries are chained when the transaction
commits (or when something reads the trail first): under the row lock of the chain's head
(`audit_head`), each takes the hash of the entry before it. The lock is held from then to the
end of the commit only, so concurrent requests do their work in parallel and queue only for
each other's commits, not for whole transactions. An entry of a transaction that rolls back is
never written.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, bindparam, event, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from marketplace import db
from marketplace.audit.models import AuditEntry, AuditHead

if TYPE_CHECKING:
    from marketplace.auth.identity import Identity

log = logging.getLogger("marketplace.audit")

GENESIS = "0" * 64
HEAD = 1  # the id of audit_head's one row


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
    """sha256 of the previous entry's hash and the entry's fields as canonical JSON, in UTF-8
    (computed in SQL too, by `seal` on PostgreSQL: keep the two alike)."""
    return hashlib.sha256((prev_hash + _payload(fields)).encode()).hexdigest()


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

    The transaction's own pending writes are flushed first. Then the chain's head row
    (`audit_head`) is locked and moved forward to the last new entry; its row lock, held to
    the commit, makes concurrent commits extend the chain one after another. Under READ
    COMMITTED a statement that waited for that lock works on the row as the previous holder
    committed it, so no two entries ever take the same previous hash.

    On PostgreSQL a single entry (nearly every request) is one statement: the head moves
    forward in a data-modifying WITH, the entry's hash computed there by `entry_hash`'s formula,
    and the entry takes both hashes from it. Several entries are chained here, in the order
    recorded, and written in one insert."""
    s = s or db.session()
    pending = s.info.pop(PENDING, None)
    if not pending:
        return
    s.flush()
    connection = db.connection(s)
    if len(pending) == 1 and db.is_postgres(s):
        entry = pending[0]
        sealed = connection.execute(_SEAL_ONE, {
            "payload": _payload(_hashed_fields(entry)),
            **{f"entry_{column}": getattr(entry, column) for column in _ENTRY_COLUMNS},
        }).first()
        if sealed is not None:
            entry.prev_hash, entry.hash = sealed
            return
        # No head row yet: a database emptied by hand. The general way below makes it.
    prev = _locked_head(connection)
    rows = []
    for entry in pending:
        entry.prev_hash = prev
        entry.hash = prev = entry_hash(prev, _hashed_fields(entry))
        rows.append({column: getattr(entry, column) for column in _COLUMNS})
    connection.execute(_INSERT, rows)
    connection.execute(_MOVE_HEAD, {"prev": rows[-1]["prev_hash"], "last": prev})


def _locked_head(connection: Any) -> str:
    """The head's hash, its row locked to the commit; the row is made if it is missing (from
    the chain's last entry, which an emptied database does not have)."""
    head = connection.scalar(_LOCK_HEAD)
    if head is None:
        last = connection.execute(_LAST_LINK).first() or (GENESIS, GENESIS)
        if last[1] != GENESIS:
            log.warning("the audit chain's head row was missing; made again from its last entry")
        dialect_insert = (postgresql.insert if connection.dialect.name == "postgresql"
                          else sqlite.insert)
        connection.execute(dialect_insert(_HEAD).values(  # or wait for a concurrent commit's
            id=HEAD, prev_hash=last[0], hash=last[1]).on_conflict_do_nothing())
        head = connection.scalar(_LOCK_HEAD)
    return str(head)


def _payload(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# Built once: every change that matters runs them.
_TABLE, _HEAD = AuditEntry.__table__, AuditHead.__table__
_COLUMNS = tuple(c.name for c in _TABLE.columns if c.name != "id")
_ENTRY_COLUMNS = tuple(c for c in _COLUMNS if c not in ("prev_hash", "hash"))
_LAST_LINK = select(_TABLE.c.prev_hash, _TABLE.c.hash).order_by(_TABLE.c.id.desc()).limit(1)
_INSERT = insert(_TABLE)
_HEAD_HASH = select(_HEAD.c.hash).where(_HEAD.c.id == HEAD)
_LOCK_HEAD = _HEAD_HASH.with_for_update()
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == HEAD).values(prev_hash=bindparam("prev"),
                                                           hash=bindparam("last"))
# entry_hash in SQL: sha256 of the previous hash and the payload, as UTF-8, in hex.
_ADVANCED = update(_HEAD).where(_HEAD.c.id == HEAD).values(
    prev_hash=_HEAD.c.hash,
    hash=func.encode(func.sha256(func.convert_to(
        _HEAD.c.hash.concat(bindparam("payload", type_=Text)), "UTF8")), "hex"),
).returning(_HEAD.c.prev_hash, _HEAD.c.hash).cte("advanced")
_SEAL_ONE = insert(_TABLE).from_select(
    [*_ENTRY_COLUMNS, "prev_hash", "hash"],
    select(*(bindparam(f"entry_{c}", type_=_TABLE.c[c].type) for c in _ENTRY_COLUMNS),
           _ADVANCED.c.prev_hash, _ADVANCED.c.hash),
).returning(_TABLE.c.prev_hash, _TABLE.c.hash)


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
    """Every entry from the first: its link to the one before and its own hash; and the head,
    read before the walk, must be among them (else entries were deleted from the end). Entries
    committed during the walk come after that head: the trail can be verified while in use."""
    head = db.session.scalar(_HEAD_HASH)
    head_seen = head == GENESIS
    prev = GENESIS
    checked = last_id = 0
    for e in _entries():
        if e.prev_hash != prev:
            return ChainReport(checked, e.id, "links to a different previous entry")
        if entry_hash(prev, _hashed_fields(e)) != e.hash:
            return ChainReport(checked, e.id, "its content does not match its hash")
        prev, last_id = e.hash, e.id
        head_seen = head_seen or e.hash == head
        checked += 1
    if head is None and checked and db.session.scalar(_HEAD_HASH) is None:
        return ChainReport(checked, last_id, "the chain's head row is missing")
    if head is not None and not head_seen:
        return ChainReport(checked, last_id, "the chain's head is not this last entry: entries "
                           "recorded after it are missing")
    return ChainReport(checked, None, None)
