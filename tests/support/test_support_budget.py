"""Step 6 with a budget: every item the budget leaves unfunded, wholly or in part, is recorded
with the reason and shown to the bureau; and a rerun over unchanged inputs stops at the digest.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from marketplace import db
from marketplace.auth.identity import system
from marketplace.contracts.models import Contract
from marketplace.organisations.models import Organisation
from marketplace.support import rules, services
from marketplace.support.models import LedgerEntry, SupportAward
from tests.dbutil import EXAMPLE
from tests.support.test_rules import example_items
from tests.support.test_support_api import _all_awards, _load_example

POLICY = json.loads((EXAMPLE / "policy.json").read_text())
BUDGET = Decimal("12000000.00")
CODE = "SZ-TT-2021-B"


@pytest.fixture
def budgeted(app):
    _load_example()
    services.load_policy(system("test"), dict(POLICY, code=CODE, budget=str(BUDGET)))
    db.session.commit()
    return CODE


def _run() -> services.RunResult:
    result = services.run_policy(system("test"), CODE)
    db.session.commit()
    db.session.expire_all()
    return result


def _ledger_total() -> Decimal:
    return sum(db.session.scalars(select(LedgerEntry.amount).where(
        LedgerEntry.kind != "payment")), Decimal("0"))


def test_every_item_left_unfunded_by_the_budget_is_recorded_with_the_reason(
        budgeted, client, as_role) -> None:
    policy = rules.parse_policy(dict(POLICY, code=CODE, budget=str(BUDGET)))
    pure = rules.Allocator(policy).allocate(example_items(policy))
    want_unfunded = {a.item.key: a for a in pure if a.unfunded > 0}
    assert len(want_unfunded) > 1 and sum(a.amount for a in pure) == BUDGET

    result = _run()
    assert result.unfunded == sum(a.unfunded for a in pure) > 0
    assert "left unfunded (budget spent)" in result.summary()
    assert _ledger_total() == BUDGET

    bureau = as_role("bureau_reviewer")
    listed = _all_awards(client, bureau, f"policy={CODE}&unfunded=true")
    got = {(a["contract_no"], a["role"], a["uscc"]): a for a in listed}
    assert set(got) == set(want_unfunded)
    for key, a in want_unfunded.items():
        award = got[key]
        assert award["unfunded"] == str(a.unfunded) and award["amount"] == str(a.amount)
        detail = client.get(f"/api/v1/support/awards/{award['id']}", headers=bureau).get_json()
        assert detail["explanation"]["unfunded"] == str(a.unfunded)
        if a.amount > 0:  # the item that crosses the budget: funded in part
            assert award["unfunded_reason"] == "budget spent: funded in part"
            assert detail["explanation"]["reason"] == "budget spent: funded in part"
            assert [e["kind"] for e in detail["ledger"]] == ["award"]
        else:  # the rest: recorded with nothing awarded
            assert award["unfunded_reason"] == "budget spent"
            assert detail["explanation"]["reason"] == "budget spent"
            assert detail["ledger"] == [] and award["status"] == "computed"
            assert client.post(f"/api/v1/support/awards/{award['id']}/approve",
                               headers=as_role("bureau_admin")).status_code == 409
    crossing = [a for a in want_unfunded.values() if a.amount > 0]
    assert len(crossing) == 1 and crossing[0] == min(want_unfunded.values(),
                                                     key=lambda a: a.item.order)
    funded = _all_awards(client, bureau, f"policy={CODE}&unfunded=false")
    assert all(a["unfunded"] == "0.00" and a["unfunded_reason"] is None for a in funded)
    assert len(funded) + len(listed) == len(_all_awards(client, bureau, f"policy={CODE}"))
    assert sum(Decimal(a["amount"]) for a in funded + listed) == BUDGET


def test_budget_freed_by_a_cancellation_tops_up_the_unfunded_in_order(budgeted) -> None:
    _run()
    before = {a.id: a.unfunded for a in db.session.scalars(select(SupportAward))}
    total_before = sum(before.values(), Decimal("0"))
    funded = db.session.scalars(select(SupportAward).where(SupportAward.unfunded == 0)
                                .order_by(SupportAward.order_key)).first()
    contract = db.session.get(Contract, funded.contract_id)
    contract.status, contract.cancelled_at = "cancelled", db.utcnow()
    db.session.commit()

    result = _run()
    assert result.clawed_back > 0 and result.awarded > 0
    assert _ledger_total() == BUDGET  # the freed budget went to the next items in order
    after = {a.id: (a.unfunded, a.unfunded_reason, a.explanation, a.order_key)
             for a in db.session.scalars(select(SupportAward))}
    assert sum(u for u, *_ in after.values()) < total_before
    for unfunded, reason, explanation, _ in after.values():
        assert explanation.get("unfunded", "0.00") == str(unfunded) or unfunded == 0
        assert (reason is None) == (unfunded == 0)
    # those still unfunded come after every item funded in whole (step 4's order)
    amounts = {d["id"]: d["amount"] for d in services.describe_many(
        list(db.session.scalars(select(SupportAward))))}
    still = [k for u, _r, _e, k in after.values() if u > 0]
    whole = [k for a_id, (u, _r, _e, k) in after.items() if u == 0 and amounts[a_id] > 0]
    assert still and whole and max(whole) < min(still)
    assert "nothing new" in _run().summary()


def test_a_rerun_over_the_same_inputs_stops_at_the_digest(budgeted, monkeypatch) -> None:
    first = _run()
    entries = db.session.scalar(select(func.count()).select_from(LedgerEntry))

    def not_called(*_args, **_kwargs):
        raise AssertionError("the rerun should have stopped at the digest")

    with monkeypatch.context() as m:
        m.setattr(services, "_paying_contracts", not_called)
        again = _run()
    assert again.run_id is None and again.items == first.items
    assert again.unfunded == first.unfunded
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == entries

    # A changed input (an organisation no longer of an eligible kind) is read again.
    award = db.session.scalars(select(SupportAward).join(LedgerEntry).where(
        SupportAward.role == "buyer")).first()
    org = db.session.get(Organisation, award.organization_id)
    org.kind = "university"
    db.session.commit()
    changed = _run()
    assert changed.run_id is not None and changed.clawed_back > 0
    assert changed.items < first.items
