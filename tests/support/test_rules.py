"""The support rule as pure functions: the worked example, tables and properties."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.imports import parse_instant
from marketplace.reference import normalise_code
from marketplace.support.rules import (
    Allocator,
    Item,
    Payment,
    PolicyError,
    base_for,
    half_up,
    ineligible_reason,
    parse_policy,
    raw_amount,
    split,
    wanted,
)
from tests.dbutil import EXAMPLE

POLICY = json.loads((EXAMPLE / "policy.json").read_text())
EXPECTED = json.loads((EXAMPLE / "expected_support.json").read_text())


def _rows(name: str) -> list[dict[str, str]]:
    with open(EXAMPLE / name, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def example_items(policy) -> list[Item]:
    orgs = {normalise_code(o["uscc"]): o for o in _rows("organisations.csv")}
    payments: dict[str, list[Payment]] = defaultdict(list)
    for seq, p in enumerate(_rows("payments.csv")):
        payments[p["contract_no"].strip()].append(
            Payment(date.fromisoformat(p["paid_on"]), seq, D(p["amount"])))
    grants: dict[tuple[str, str, str], list[D]] = defaultdict(list)
    for g in _rows("grants.csv"):
        grants[(g["contract_no"].strip(), g["role"], normalise_code(g["uscc"]))].append(
            D(g["amount"]))
    items = []
    for c in _rows("contracts.csv"):
        no = c["contract_no"].strip()
        technical = D(c["technical_amount"])
        for role in ("seller", "buyer", "intermediary"):
            code = normalise_code(c[f"{role}_uscc"])
            if not code:
                continue
            org = orgs[code]
            if ineligible_reason(status=c["status"], contract_type=c["type"],
                                 related_party=c["related_party"] == "1",
                                 technical_amount=technical, role=role, kind=org["kind"],
                                 region_code=org["region_code"], policy=policy):
                continue
            base, _ = base_for(payments[no], technical, policy.year)
            raw = raw_amount(base, policy.rates[role])
            grant = sum(grants[(no, role, code)], D("0"))
            items.append(Item(no, parse_instant(c["registered_at"]), role, code,
                              org["region_code"], base, raw, half_up(grant),
                              wanted(raw, grants[(no, role, code)])))
    return items


def test_the_worked_example_to_the_fen() -> None:
    policy = parse_policy(POLICY)
    result = Allocator(policy).allocate(example_items(policy))
    assert len(result) == len(EXPECTED["items"])
    for got, want in zip(result, EXPECTED["items"], strict=True):
        assert (got.item.contract_no, got.item.role, got.item.uscc) == (
            want["contract_no"], want["role"], want["uscc"])
        assert str(got.item.base) == want["base"]
        assert str(got.item.raw) == want["raw"]
        assert str(got.item.external_grant) == want["external_grant"]
        assert str(got.item.wanted) == want["wanted"]
        assert str(got.cap_room) == want["cap_room"], want
        assert str(got.payable) == want["payable"]
        assert (str(got.amount), str(got.city_share), str(got.local_share)) == (
            want["amount"], want["city_share"], want["local_share"])
    assert str(sum(a.amount for a in result)) == EXPECTED["total_awarded"]


def test_a_rerun_on_the_same_data_adds_nothing() -> None:
    policy = parse_policy(POLICY)
    items = example_items(policy)
    first = Allocator(policy).allocate(items)
    held = {a.item.key: a.amount for a in first}
    again = Allocator(policy, held).allocate(items)
    assert all(a.delta == 0 for a in again)
    assert [a.amount for a in again] == [a.amount for a in first]


@pytest.mark.parametrize(("payments", "technical", "base"), [
    ([("2025-01-01", "100")], "100", "100.00"),
    ([("2024-12-31", "60"), ("2025-01-01", "60")], "100", "40.00"),
    ([("2025-12-31", "150")], "100", "100.00"),
    ([("2026-01-01", "50")], "100", "0.00"),
    ([("2025-06-01", "30"), ("2025-06-01", "30")], "50", "50.00"),
])
def test_base_table(payments, technical, base) -> None:
    got, _ = base_for([Payment(date.fromisoformat(d), i, D(a))
                       for i, (d, a) in enumerate(payments)], D(technical), 2025)
    assert str(got) == base


def test_policy_problems_are_reported_together() -> None:
    bad = dict(POLICY, rates={"seller": 0.1000000001, "buyer": "1.5", "broker": "0.1"},
               cap="-1", eligible_types=["magic"], extra=True)
    with pytest.raises(PolicyError) as problem:
        parse_policy(bad)
    fields = set(problem.value.errors)
    assert {"rates.seller", "rates.buyer", "rates.broker", "rates.intermediary", "cap",
            "eligible_types", "extra"} <= fields


def test_lists_of_other_things_than_names_are_problems_not_crashes() -> None:
    bad = dict(POLICY, eligible_types=[{"type": "transfer"}, ["license"]],
               eligible_kinds={"seller": [{}], "buyer": [["enterprise"]], "intermediary": []})
    with pytest.raises(PolicyError) as problem:
        parse_policy(bad)
    assert {"eligible_types", "eligible_kinds.seller", "eligible_kinds.buyer"} <= set(
        problem.value.errors)


def test_a_string_rate_with_too_many_places_is_refused() -> None:
    with pytest.raises(PolicyError) as problem:
        parse_policy(dict(POLICY, rates=dict(POLICY["rates"], buyer="0.1000000001")))
    assert "rates.buyer" in problem.value.errors


money = st.decimals(min_value=0, max_value=10_000_000, places=2, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["91A", "91B", "12C"]),
                          st.sampled_from(["seller", "buyer", "intermediary"]),
                          st.sampled_from(["320505", "320583"]), money), max_size=40),
       st.sampled_from([None, D("300000.00"), D("5000000.00")]), st.randoms())
def test_cap_budget_split_and_order_properties(rows, budget, rng) -> None:
    policy = parse_policy(dict(POLICY, budget=None if budget is None else str(budget)))
    items = [Item(f"C{i:05d}", parse_instant(f"2021-01-{1 + i % 28:02d}"), role, uscc, region,
                  w, w, D("0.00"), w) for i, (uscc, role, region, w) in enumerate(rows)]
    result = Allocator(policy).allocate(items)
    shuffled = list(items)
    rng.shuffle(shuffled)
    assert Allocator(policy).allocate(shuffled) == result  # the order of input does not matter
    per_key: dict[tuple[str, str], D] = defaultdict(D)
    for a in result:
        per_key[(a.item.uscc, a.item.role)] += a.amount
        assert a.city_share + a.local_share == a.amount
        assert a.amount >= 0 and a.amount == a.amount.quantize(D("0.01"))
        assert a.city_share == half_up(a.amount * (D("0.3") if a.item.region_code == "320505"
                                                   else D("0.1")))
    assert all(v <= policy.cap for v in per_key.values())
    if budget is not None:
        assert sum(a.amount for a in result) <= budget
    else:
        assert sum(a.amount for a in result) == sum(a.payable for a in result)


@settings(max_examples=60, deadline=None)
@given(money, st.sampled_from(["320505", "320581", "320571", "320585"]))
def test_split_adds_up(amount, region) -> None:
    city, local = split(amount, region)
    assert city + local == amount and city >= 0 and local >= 0
