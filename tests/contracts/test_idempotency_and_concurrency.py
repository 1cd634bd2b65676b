"""Idempotency keys, and what must not happen twice when requests race (PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select

from marketplace import db
from marketplace.contracts.models import Contract, IdempotencyKey, Payment

KEY = "Idempotency-Key"


def _count(model: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_retry_replays_the_first_answer(market) -> None:
    body = market.terms()
    first = market.post("", "seller", body, headers={KEY: "order-1"})
    again = market.post("", "seller", body, headers={KEY: "order-1"})
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _count(Contract) == 1

    other = market.post("", "seller", market.terms(total_amount="1.00",
                                                   technical_amount="1.00"),
                        headers={KEY: "order-1"})
    assert other.status_code == 422 and other.mimetype == "application/problem+json"
    assert [e["field"] for e in other.get_json()["errors"]] == [KEY]
    assert _count(Contract) == 1

    # Keys belong to a user: another member of the same organisation makes its own contract.
    mine = market.post("", "seller_admin", body, headers={KEY: "order-1"})
    assert mine.status_code == 201 and mine.get_json()["id"] != first.get_json()["id"]
    # Without a key every POST records a contract.
    market.post("", "seller", body)
    market.post("", "seller", body)
    assert _count(Contract) == 4
    assert _count(IdempotencyKey) == 2


def test_a_failed_request_keeps_no_key(market) -> None:
    bad = market.post("", "seller", market.terms(technical_amount="999999.00"),
                      headers={KEY: "k-2"})
    assert bad.status_code == 422
    good = market.post("", "seller", market.terms(), headers={KEY: "k-2"})
    assert good.status_code == 201
    assert _count(IdempotencyKey) == 1


def test_bad_keys_are_named(market) -> None:
    for key in ("x" * 201, "with space", "ключ"):
        response = market.post("", "seller", market.terms(),
                               headers={KEY: key.encode().decode("latin-1")})
        assert response.status_code == 422
        assert [e["field"] for e in response.get_json()["errors"]] == [KEY]
    assert _count(Contract) == 0


def test_payments_take_keys_too(market) -> None:
    cid = market.draft()["id"]
    payment = {"paid_on": "2025-04-01", "amount": "10.00"}
    a = market.post(f"/{cid}/payments", "buyer", payment, headers={KEY: "pay-1"})
    b = market.post(f"/{cid}/payments", "buyer", payment, headers={KEY: "pay-1"})
    assert a.status_code == b.status_code == 201 and a.get_json() == b.get_json()
    assert _count(Payment) == 1
    # The same key on another endpoint is another request.
    clash = market.post("", "buyer", market.terms(), headers={KEY: "pay-1"})
    assert clash.status_code == 422


def _race(n: int, request: Callable[[Any], Any], app: Any) -> list[Any]:
    """Run `request(client)` from n threads at once, each with its own client and session."""
    barrier = threading.Barrier(n)

    def one(_: int) -> Any:
        client = app.test_client()
        barrier.wait()
        return request(client)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def test_twenty_parallel_retries_make_one_contract(committed_market, committing_app) -> None:
    m = committed_market
    body = m.terms()
    headers = {**m.headers["seller"], KEY: "parallel-1"}
    responses = _race(20, lambda c: c.post("/api/v1/contracts", json=body, headers=headers),
                      committing_app)
    assert [r.status_code for r in responses] == [201] * 20
    assert len({r.get_json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19
    db.session.rollback()
    assert _count(Contract) == 1
    assert _count(IdempotencyKey) == 1


def test_two_reviewers_register_once(committed_market, committing_app) -> None:
    m = committed_market
    cid = m.submitted()["id"]
    reviewers = [m.headers["reviewer"], m.headers["admin"]]
    responses = _race(2, lambda c: c.post(f"/api/v1/contracts/{cid}/register",
                                          headers=reviewers.pop()), committing_app)
    assert sorted(r.status_code for r in responses) == [200, 409]
    db.session.rollback()
    numbers = db.session.scalars(select(Contract.contract_no)).all()
    assert len(numbers) == 1 and numbers[0] is not None
    # The loser's number was not used up: the next registration takes the next one.
    nxt = m.registered()["contract_no"]
    assert int(nxt[8:]) == int(numbers[0][8:]) + 1


def test_two_payments_cannot_pass_the_total_together(committed_market, committing_app) -> None:
    m = committed_market
    cid = m.registered()["id"]  # total 500000.00
    payment = {"paid_on": "2025-04-01", "amount": "300000.00"}
    payers = [m.headers["seller"], m.headers["buyer"], m.headers["reviewer"]]
    responses = _race(3, lambda c: c.post(f"/api/v1/contracts/{cid}/payments", json=payment,
                                          headers=payers.pop()), committing_app)
    assert sorted(r.status_code for r in responses) == [201, 422, 422]
    db.session.rollback()
    assert _count(Payment) == 1


def test_a_connection_lost_as_the_audit_chain_is_extended_is_503(committed_market, committing_app,
                                                                 database_url) -> None:
    """The server drops the request's connection just before its commit extends the audit
    chain (as when PostgreSQL restarts): the client is told to retry (503, not 500), nothing is
    stored, and the retry with the same key records the contract."""
    import psycopg
    from sqlalchemy import event
    from sqlalchemy.engine import make_url
    from sqlalchemy.orm import Session

    m = committed_market
    server = make_url(database_url).set(drivername="postgresql")

    def drop_the_connection(s: Session) -> None:
        pid = s.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with psycopg.connect(server.render_as_string(hide_password=False),
                             autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])

    before = _count(Contract)
    headers = {**m.headers["seller"], KEY: "lost-1"}
    event.listen(Session, "before_commit", drop_the_connection, insert=True)
    try:
        lost = committing_app.test_client().post("/api/v1/contracts", json=m.terms(),
                                                 headers=headers)
    finally:
        event.remove(Session, "before_commit", drop_the_connection)
    assert lost.status_code == 503 and lost.mimetype == "application/problem+json"
    db.session.rollback()
    assert _count(Contract) == before
    again = committing_app.test_client().post("/api/v1/contracts", json=m.terms(),
                                              headers=headers)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    db.session.rollback()
    assert _count(Contract) == before + 1
