from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from marketplace import db
from marketplace.audit.models import AuditEntry


def _pay(market, cid: int, who: str, amount: str, paid_on: str = "2025-04-01", **kw):
    return market.post(f"/{cid}/payments", who, {"paid_on": paid_on, "amount": amount}, **kw)


def test_payments_add_up_to_the_total_and_no_more(market) -> None:
    cid = market.registered()["id"]
    first = _pay(market, cid, "buyer", "300000.00")
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert (body["amount"], body["paid_on"], body["ordinal"]) == ("300000.00", "2025-04-01", 1)
    assert body["recorded_by"].startswith("org_admin")
    assert _pay(market, cid, "seller", "150000.00", "2025-05-01").status_code == 201
    over = _pay(market, cid, "reviewer", "50000.01")
    assert over.status_code == 422
    assert [e["field"] for e in over.get_json()["errors"]] == ["amount"]
    assert "450000.00" in over.get_json()["errors"][0]["message"]
    assert _pay(market, cid, "reviewer", "50000.00").status_code == 201
    listed = market.get(f"/{cid}/payments", "intermediary")
    assert [p["amount"] for p in listed.get_json()] == ["300000.00", "50000.00", "150000.00"]
    assert len(db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "contract.payment")).all()) == 3


def test_identical_instalments_are_numbered(market) -> None:
    cid = market.draft()["id"]
    ordinals = [_pay(market, cid, "seller", "1000.00").get_json()["ordinal"] for _ in range(3)]
    assert ordinals == [1, 2, 3]
    assert _pay(market, cid, "seller", "1000.01").get_json()["ordinal"] == 1


def test_bad_payments_name_each_field(market) -> None:
    cid = market.draft()["id"]
    bad = market.post(f"/{cid}/payments", "buyer",
                      {"paid_on": "2025-02-30", "amount": "12.345", "note": "x"})
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    assert {e["field"] for e in bad.get_json()["errors"]} == {"paid_on", "amount", "note"}
    for amount in ("0", "-1.00", "abc", True):
        response = _pay(market, cid, "buyer", amount)
        assert {e["field"] for e in response.get_json()["errors"]} == {"amount"}, amount
    future = (date.today() + timedelta(days=2)).isoformat()
    for day in (future, "2025-02-28"):  # signed on 2025-03-01
        response = _pay(market, cid, "buyer", "1.00", day)
        assert {e["field"] for e in response.get_json()["errors"]} == {"paid_on"}, day
    assert market.get(f"/{cid}/payments", "buyer").get_json() == []


def test_who_records_payments_and_when(market, client) -> None:
    c = market.submitted()
    cid = c["id"]
    assert _pay(market, cid, "intermediary", "1.00").status_code == 403
    assert _pay(market, cid, "outsider", "1.00").status_code == 404
    assert client.post(f"/api/v1/contracts/{cid}/payments",
                       json={"paid_on": "2025-04-01", "amount": "1.00"}).status_code == 401
    assert market.get(f"/{cid}/payments", "outsider").status_code == 404
    market.post(f"/{cid}/reject", "reviewer", {"reason": "other", "note": "材料不全"})
    closed = _pay(market, cid, "buyer", "1.00")
    assert closed.status_code == 409 and closed.get_json()["current_state"] == "rejected"
