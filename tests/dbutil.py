"""Database helpers shared by the test modules and the conftest."""

from __future__ import annotations

import os
import secrets
from itertools import count
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ADMIN_URL = os.environ.get(
    "MARKETPLACE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
UNDER_CI = os.environ.get("CI", "").lower() == "true"
EXAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "spec" / "example"
PASSWORD = "test-password-123"


def _no_postgres(reason: str) -> None:
    message = f"PostgreSQL tests need a server at {PG_ADMIN_URL}: {reason}"
    if UNDER_CI:
        pytest.fail(message + " (CI=true: a skipped PostgreSQL test is a failure)")
    pytest.skip(message)


def _postgres_database(worker: str) -> str:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    # One database per process and xdist worker: parallel runs never share one.
    name = f"marketplace_test_{os.getpid()}_{worker}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        _no_postgres(f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}")
    finally:
        admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


_seq = count(1)


def next_seq() -> int:
    return next(_seq)


def uscc_for(region_code: str, kind: str = "enterprise") -> str:
    """A valid, unique unified social credit code registered in the given region."""
    from stdnum.cn import uscc as stdnum_uscc

    head = {"university": "12", "research_institute": "12", "intermediary": "52"}.get(kind, "91")
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    n = next_seq() * 7919 + secrets.randbelow(10_000) * 100_000
    body = ""
    for _ in range(9):
        n, r = divmod(n, len(alphabet))
        body = alphabet[r] + body
    first17 = head + region_code + body
    return first17 + stdnum_uscc.calc_check_digit(first17)




def run_together(app, n: int, work, timeout: float = 300):
    """Start `work()` in n threads at the same moment, each in its own session and
    transaction (committed on success, rolled back on error). Returns the results in thread
    order, with an exception object where a thread raised one."""
    import threading

    from marketplace import db

    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def one(i: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                results[i] = work()
                db.session.commit()
            except BaseException as exc:
                db.session.rollback()
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    return results
