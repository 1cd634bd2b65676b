"""Support runs over the worked example, through the CLI and the API."""

from __future__ import annotations

import io
import json
import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from marketplace import db
from marketplace.auth.identity import system
from marketplace.cli import cli
from marketplace.contracts.importer import import_contracts, import_grants, import_payments
from marketplace.contracts.models import Contract, Payment
from marketplace.organisations.services import import_csv as import_organisations
from marketplace.support import services
from marketplace.support.models import LedgerEntry, SupportAward
from tests.dbutil import EXAMPLE, run_together

EXPECTED = json.loads((EXAMPLE / "expected_support.json").read_text())
POLICY = json.loads((EXAMPLE / "policy.json").read_text())


def _load_example() -> None:
    actor = system("test")
    import_organisations(actor, EXAMPLE / "organisations.csv", name="organisations.csv")
    import_contracts(actor, EXAMPLE / "contracts.csv", name="contracts.csv")
    import_payments(actor, EXAMPLE / "payments.csv", name="payments.csv")
    import_grants(actor, EXAMPLE / "grants.csv", name="grants.csv")
    db.session.commit()


@pytest.fixture
def example(app):
    _load_example()
    runner = app.test_cli_runner()
    loaded = runner.invoke(cli, ["support", "policy", "load", str(EXAMPLE / "policy.json")])
    assert loaded.exit_code == 0, loaded.output
    return runner


def _run(runner) -> str:
    result = runner.invoke(cli, ["support", "run", "--policy", "SZ-TT-2021"])
    assert result.exit_code == 0, result.output
    return result.output


def _all_awards(client, headers, query="policy=SZ-TT-2021") -> list[dict]:
    items, page = [], 1
    while True:
        response = client.get(f"/api/v1/support/awards?{query}&page={page}&page_size=100",
                              headers=headers)
        assert response.status_code == 200, response.get_json()
        batch = response.get_json()
        items += batch
        if len(batch) < 100:
            return items
        page += 1


def _ledger_total() -> Decimal:
    db.session.expire_all()
    return sum((e for e in db.session.scalars(select(LedgerEntry.amount).where(
        LedgerEntry.kind != "payment"))), Decimal("0"))


def test_the_worked_example_to_the_fen(example, client, as_role) -> None:
    _run(example)
    awards = _all_awards(client, as_role("bureau_reviewer"))
    expected = [i for i in EXPECTED["items"] if Decimal(i["amount"]) > 0]
    assert len(awards) == len(expected)
    for got, want in zip(awards, expected, strict=True):
        assert (got["contract_no"], got["role"], got["uscc"], got["amount"], got["city_share"],
                got["local_share"], got["status"]) == (
            want["contract_no"], want["role"], want["uscc"], want["amount"],
            want["city_share"], want["local_share"], "computed")
    assert str(sum(Decimal(a["amount"]) for a in awards)) == EXPECTED["total_awarded"]
    assert str(_ledger_total()) == EXPECTED["total_awarded"]


def test_rerun_writes_nothing_and_new_payments_add_only_the_difference(example) -> None:
    _run(example)
    entries = db.session.scalar(select(func.count()).select_from(LedgerEntry))
    assert "nothing new" in _run(example)
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == entries

    # A 2021 instalment on a buyer's contract that is not fully paid, with cap room left.
    def paid_on(contract_id: int) -> Decimal:
        return sum(db.session.scalars(select(Payment.amount).where(
            Payment.contract_id == contract_id)), Decimal("0"))

    contract = next(
        c for a in db.session.scalars(select(SupportAward).where(SupportAward.role == "buyer")
                                      .order_by(SupportAward.id))
        if Decimal(a.explanation["cap_room_after"]) > 1000
        for c in [db.session.get(Contract, a.contract_id)]
        if c.technical_amount - paid_on(c.id) >= Decimal("100.00"))
    db.session.add(Payment(contract_id=contract.id, paid_on=date(2021, 12, 30),
                           amount=Decimal("100.00"), ordinal=99, recorded_by="test"))
    db.session.commit()
    buyer_award = db.session.scalar(select(SupportAward).where(
        SupportAward.contract_id == contract.id, SupportAward.role == "buyer"))

    def award_total() -> Decimal:
        db.session.expire_all()
        return sum(db.session.scalars(select(LedgerEntry.amount).where(
            LedgerEntry.award_id == buyer_award.id)), Decimal("0"))

    before, before_all = award_total(), _ledger_total()
    out = _run(example)
    assert award_total() - before == Decimal("10.00")  # the buyer's rate is 10 %
    added = Decimal(re.search(r"worth (\d+\.\d\d) yuan", out).group(1))
    assert _ledger_total() - before_all == added  # the seller's 3 % may come too


def test_cancellation_claws_back_and_paid_money_is_owed_back(example, client, as_role) -> None:
    _run(example)
    bureau = as_role("bureau_admin")
    award = _all_awards(client, bureau)[0]
    assert client.post(f"/api/v1/support/awards/{award['id']}/approve",
                       headers=bureau).status_code == 200
    paid = client.post(f"/api/v1/support/awards/{award['id']}/pay", headers=bureau,
                       json={"reference": "国库集中支付 2022-001"})
    assert paid.status_code == 200 and paid.get_json()["paid"] == award["amount"]
    again = client.post(f"/api/v1/support/awards/{award['id']}/pay", headers=bureau, json={})
    assert again.status_code == 409

    contract = db.session.scalar(select(Contract).where(
        Contract.contract_no == award["contract_no"]))
    contract.status, contract.cancelled_at = "cancelled", db.utcnow()
    db.session.commit()
    out = _run(example)
    assert "clawed back" in out and "0.00 yuan clawed back" not in out
    detail = client.get(f"/api/v1/support/awards/{award['id']}", headers=bureau).get_json()
    assert detail["amount"] == "0.00"
    assert detail["owed_back"] == award["amount"]
    assert [e["kind"] for e in detail["ledger"]] == ["award", "payment", "clawback"]


def test_every_award_explains_itself(example, client, as_role) -> None:
    _run(example)
    bureau = as_role("bureau_reviewer")
    award = _all_awards(client, bureau)[0]
    detail = client.get(f"/api/v1/support/awards/{award['id']}", headers=bureau).get_json()
    e = detail["explanation"]
    assert e["policy"] == "SZ-TT-2021" and e["base_payments"] and e["run_id"]
    assert Decimal(e["raw"]) == (Decimal(e["base"]) * Decimal(e["rate"])).quantize(
        Decimal("0.01"))
    assert Decimal(e["split"]["city_share"]) + Decimal(e["split"]["local_share"]) == Decimal(
        e["amount"])
    assert {"cap_room_before", "cap_room_after", "external_grant", "wanted"} <= set(e)


def test_organisations_see_only_their_own_awards(example, client, as_role) -> None:
    _run(example)
    from marketplace.organisations.services import by_uscc

    owner = by_uscc(EXPECTED["items"][-1]["uscc"])
    mine = next(i for i in reversed(EXPECTED["items"]) if Decimal(i["amount"]) > 0)
    owner = by_uscc(mine["uscc"])
    headers = as_role("org_member", owner)
    own = _all_awards(client, headers)
    assert own and {a["uscc"] for a in own} == {owner.uscc}
    other = next(a for a in _all_awards(client, as_role("bureau_admin"))
                 if a["uscc"] != owner.uscc)
    assert client.get(f"/api/v1/support/awards/{other['id']}", headers=headers
                      ).status_code == 404
    assert client.get("/api/v1/support/awards").status_code == 401


def test_treasury_export(example, client, as_role) -> None:
    _run(example)
    bureau = as_role("bureau_reviewer")
    text = client.get("/api/v1/support/policies/SZ-TT-2021/treasury?format=csv",
                      headers=bureau).get_data(as_text=True).lstrip("\ufeff")
    lines = text.splitlines()
    assert lines[0].startswith("policy,region_code,region_name")
    total = sum(Decimal(line.split(",")[5]) for line in lines[1:])
    assert str(total) == EXPECTED["total_awarded"] and len(lines) == 11
    xlsx = client.get("/api/v1/support/policies/SZ-TT-2021/treasury?format=xlsx",
                      headers=bureau)
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert sheet.max_row == 11 and sheet["B2"].value in {"320505", "320506"}


def test_policy_documents_are_checked_and_immutable_once_used(example, client,
                                                              as_role) -> None:
    admin = as_role("bureau_admin")
    bad = dict(POLICY, code="BAD", rates={"seller": 0.1000000001, "buyer": "0.1",
                                          "broker": "0.1"}, cap="-5")
    response = client.post("/api/v1/support/policies", json=bad, headers=admin)
    assert response.status_code == 422
    fields = {e["field"] for e in response.get_json()["errors"]}
    assert {"rates.seller", "rates.broker", "rates.intermediary", "cap"} <= fields
    _run(example)
    changed = client.post("/api/v1/support/policies", headers=admin,
                          json=dict(POLICY, cap="400000.00"))
    assert changed.status_code == 409
    same = client.post("/api/v1/support/policies", headers=admin, json=POLICY)
    assert same.status_code == 201


def test_eight_concurrent_runs_give_the_ledger_of_one(committing_app) -> None:
    _load_example()
    services.load_policy(system("test"), POLICY)
    db.session.commit()
    results = run_together(committing_app, 8,
                           lambda: services.run_policy(system("scheduler"), "SZ-TT-2021"))
    assert not [r for r in results if isinstance(r, BaseException)], results
    db.session.expire_all()
    assert str(_ledger_total()) == EXPECTED["total_awarded"]
    runs_with_entries = db.session.scalar(select(func.count(func.distinct(LedgerEntry.run_id))))
    assert runs_with_entries == 1
