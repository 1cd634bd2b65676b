"""Idempotency keys: a POST retried with the same `Idempotency-Key` gets the first answer.

The key row is inserted first (INSERT … ON CONFLICT DO NOTHING), inside the request's
transaction, under the unique (user, key) index. A concurrent request with the same key blocks
on that index until the first one commits, then inserts nothing, reads the committed answer
and replays it: twenty
parallel retries make one contract. A failed request rolls back its key with everything else,
so a retry after an error runs again. Keys are per user; the same key with a different body
(or on another endpoint) is refused with 422 naming the header.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, select, text, update

from marketplace import db
from marketplace.auth.identity import Identity
from marketplace.contracts.models import IdempotencyKey
from marketplace.errors import Conflict, ValidationProblem

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")

HEADER_DOC = {
    "in": "header", "name": HEADER, "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": "Optional, recommended: a client-chosen unique key (a UUID) per intended "
                   "operation. A retry with the same key and body replays the first response; "
                   "the same key with another body is refused (422). Keys are per user.",
}


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                           default=str)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


# The two statements of every keyed request, built once (see auth.services._TOKEN_IDENTITY):
# claim the key, or find it taken; then store the answer under it.
# The claim is written as SQL because SQLAlchemy compiles a dialect's INSERT … ON CONFLICT
# afresh on every execution (it is not cached); a text() statement is compiled once. Both
# PostgreSQL and SQLite (3.35 and later) take it as it is.
_TABLE = IdempotencyKey.__table__
_CLAIM = text(
    "INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, response, created_at)"
    " VALUES (:user_id, :key, :request_hash, 0, :response, :created_at)"
    " ON CONFLICT (user_id, key) DO NOTHING RETURNING id"
).bindparams(bindparam("response", type_=_TABLE.c.response.type),
             bindparam("created_at", type_=_TABLE.c.created_at.type))
_ANSWER = (update(_TABLE).where(_TABLE.c.id == bindparam("key_id"))
           .values(status_code=bindparam("answer_status"), response=bindparam("answer_body")))


def run_once(
    actor: Identity, key: str | None, request_hash: str,
    produce: Callable[[], tuple[int, dict[str, Any]]],
) -> tuple[int, dict[str, Any], bool]:
    """(status, body, replayed): the stored answer for a known key, else `produce()`'s."""
    if key is None or actor.user_id is None:
        return (*produce(), False)
    if not _KEY.match(key):
        raise ValidationProblem(errors={HEADER: [
            "1 to 200 visible ASCII characters (a UUID is a good key)"]})
    s = db.session()
    key_id = db.connection(s).scalar(_CLAIM, {
        "user_id": actor.user_id, "key": key, "request_hash": request_hash, "response": {},
        "created_at": db.utcnow()})
    if key_id is None:  # the key is taken: by a committed request (waited for), or in flight
        stored = s.scalar(
            select(IdempotencyKey)
            .where(IdempotencyKey.user_id == actor.user_id, IdempotencyKey.key == key)
            .execution_options(populate_existing=True)
        )
        if stored is None:  # pragma: no cover - the holder rolled back between our two steps
            raise Conflict("a request with this key was just abandoned; retry")
        if stored.request_hash != request_hash:
            raise ValidationProblem(errors={HEADER: [
                "this key was used for a different request; use a new key for a new "
                "request"]})
        if stored.status_code == 0:  # pragma: no cover - only visible uncommitted on SQLite
            raise Conflict("a request with this key is still being processed")
        return stored.status_code, stored.response, True
    status, body = produce()
    db.connection(s).execute(_ANSWER,
                             {"key_id": key_id, "answer_status": status, "answer_body": body})
    return status, body, False
