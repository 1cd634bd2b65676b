"""The synthetic market generator: formats, determinism, validity and realism of the data."""

from __future__ import annotations

import csv
import re
import statistics
from collections import Counter, defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from stdnum.cn import uscc as stdnum_uscc

from marketplace.generate import (
    CONTRACTS_HEADER,
    ORGANISATIONS_HEADER,
    PAYMENTS_HEADER,
    MarketSummary,
    generate_market,
    uscc_check_char,
)

N = 3000
SEED = 2718
FIELDS = {
    "electronic_information", "aerospace", "advanced_manufacturing", "biomedicine",
    "new_materials", "new_energy", "environment", "nuclear", "agriculture", "modern_transport",
    "urban_social",
}
SUBTYPES = {
    "development_commissioned": {""},
    "development_cooperative": {""},
    "transfer": {"patent_right", "patent_application_right", "technical_secret", "other_ip"},
    "license": {"exclusive", "sole", "ordinary"},
    "consulting": {""},
    "service": {""},
}
SUZHOU = {"320505", "320506", "320507", "320508", "320509", "320571", "320581", "320582",
          "320583", "320585"}
AMOUNT = re.compile(r"^[1-9]\d*\.\d{2}$|^0\.(?!00)\d{2}$")


def read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def registered_day(value: str) -> date:
    if "T" in value:
        instant = datetime.fromisoformat(value)
        assert instant.utcoffset() is not None and instant.utcoffset().total_seconds() == 8 * 3600
        return instant.date()
    return date.fromisoformat(value)


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> MarketSummary:
    calls: list[int] = []
    summary = generate_market(tmp_path_factory.mktemp("market"), N, SEED, progress=calls.append)
    assert sum(calls) == N
    return summary


@pytest.fixture(scope="module")
def orgs(market: MarketSummary) -> dict[str, dict[str, str]]:
    return {row["uscc"]: row for row in read(market.organisations_path)}


@pytest.fixture(scope="module")
def contracts(market: MarketSummary) -> list[dict[str, str]]:
    return read(market.contracts_path)


@pytest.fixture(scope="module")
def payments(market: MarketSummary) -> list[dict[str, str]]:
    return read(market.payments_path)


def test_check_char_matches_the_standard_examples() -> None:
    assert uscc_check_char("91350100M000100Y4") == "3"
    assert uscc_check_char("12100000400000624") == "D"
    with pytest.raises(ValueError):
        uscc_check_char("91350100M000100Y")
    with pytest.raises(ValueError):
        uscc_check_char("91350100M000100I4")  # I is not in the alphabet


def test_header_rows_are_exactly_the_interface(market: MarketSummary) -> None:
    expected = {
        market.organisations_path: "uscc,name,kind,region_code",
        market.contracts_path: "contract_no,type,subtype,title,field,seller_uscc,buyer_uscc,"
        "intermediary_uscc,total_amount,technical_amount,signed_on,registered_at,related_party,"
        "status,cancelled_at",
        market.payments_path: "contract_no,paid_on,amount",
    }
    for path, header in expected.items():
        with open(path, encoding="utf-8") as f:
            assert f.readline() == header + "\n"
    assert ",".join(ORGANISATIONS_HEADER) == expected[market.organisations_path]
    assert ",".join(CONTRACTS_HEADER) == expected[market.contracts_path]
    assert ",".join(PAYMENTS_HEADER) == expected[market.payments_path]
    assert sorted(p.name for p in market.out_dir.iterdir()) == [
        "contracts.csv", "organisations.csv", "payments.csv"]


def test_summary_counts_what_was_written(market, orgs, contracts, payments) -> None:
    assert market.contracts == len(contracts) == N
    assert market.organisations == len(orgs) == N // 8
    assert market.payments == len(payments)
    assert market.cancelled == sum(c["status"] == "cancelled" for c in contracts)
    assert market.related_party == sum(c["related_party"] == "1" for c in contracts)
    assert market.with_intermediary == sum(bool(c["intermediary_uscc"]) for c in contracts)


def test_same_seed_same_bytes_other_seed_other_bytes(market: MarketSummary,
                                                     tmp_path: Path) -> None:
    again = generate_market(tmp_path / "again", N, SEED)
    other = generate_market(tmp_path / "other", N, SEED + 1)
    for name in ("organisations_path", "contracts_path", "payments_path"):
        mine = getattr(market, name).read_bytes()
        assert getattr(again, name).read_bytes() == mine
        assert getattr(other, name).read_bytes() != mine


def test_organisations_have_valid_unique_codes_and_names(orgs) -> None:
    assert len({o["name"] for o in orgs.values()}) == len(orgs)
    for code, o in orgs.items():
        assert stdnum_uscc.is_valid(code), code
        assert len(code) == 18 and code[17] == uscc_check_char(code[:17])
        assert code[2:8] == o["region_code"]
        assert re.fullmatch(r"\d{6}", o["region_code"])
        assert o["kind"] in {"university", "research_institute", "enterprise", "intermediary"}
        first = {"university": "1", "research_institute": "1", "enterprise": "9"}.get(o["kind"])
        assert code[0] == first if first else code[0] in "59"
        assert re.search(r"[\u4e00-\u9fff]", o["name"])
    kinds = Counter(o["kind"] for o in orgs.values())
    assert kinds["enterprise"] > kinds["intermediary"] > 0
    assert kinds["university"] > 0 and kinds["research_institute"] > 0


def test_organisation_count_scales_with_contracts(tmp_path: Path) -> None:
    small = generate_market(tmp_path / "small", 100, 1, years=1)
    assert small.organisations == 60
    assert len(read(small.contracts_path)) == 100
    empty = generate_market(tmp_path / "empty", 0, 1)
    assert empty.contracts == 0 and empty.payments == 0
    assert empty.contracts_path.read_text(encoding="utf-8") == ",".join(CONTRACTS_HEADER) + "\n"


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate_market(tmp_path, -1, 1)
    with pytest.raises(ValueError):
        generate_market(tmp_path, 10, 1, years=0)


def test_contract_numbers_types_fields_and_dates(market, contracts) -> None:
    numbers = [c["contract_no"] for c in contracts]
    assert len(set(numbers)) == N
    for c in contracts:
        reg = registered_day(c["registered_at"])
        assert re.fullmatch(rf"{reg.year}3205\d{{7}}", c["contract_no"])
        assert market.first_day <= reg <= market.last_day
        assert date.fromisoformat(c["signed_on"]) < reg
        assert c["subtype"] in SUBTYPES[c["type"]]
        assert c["title"]
        assert c["related_party"] in {"0", "1"}
        if c["status"] == "cancelled":
            assert date.fromisoformat(c["cancelled_at"]) > reg
        else:
            assert c["status"] == "registered" and c["cancelled_at"] == ""
    assert {c["field"] for c in contracts} == FIELDS
    assert {c["type"] for c in contracts} == set(SUBTYPES)
    assert {c["subtype"] for c in contracts} == set().union(*SUBTYPES.values())
    assert any("T" in c["registered_at"] for c in contracts)
    assert any("T" not in c["registered_at"] for c in contracts)


def test_parties_exist_and_differ(orgs, contracts) -> None:
    for c in contracts:
        seller, buyer, inter = c["seller_uscc"], c["buyer_uscc"], c["intermediary_uscc"]
        assert seller in orgs and buyer in orgs
        assert seller != buyer
        if inter:
            assert inter in orgs and inter not in (seller, buyer)
            assert orgs[inter]["kind"] == "intermediary"
    share = sum(bool(c["intermediary_uscc"]) for c in contracts) / N
    assert 0.15 <= share <= 0.25


def test_amounts_are_positive_two_decimal_and_technical_within_total(contracts) -> None:
    for c in contracts:
        assert AMOUNT.match(c["total_amount"]) and AMOUNT.match(c["technical_amount"])
        assert 0 < Decimal(c["technical_amount"]) <= Decimal(c["total_amount"])


def test_amounts_are_heavy_tailed(contracts) -> None:
    totals = [Decimal(c["total_amount"]) for c in contracts]
    assert max(totals) / statistics.median(totals) > 100


def test_payments_are_instalments_after_signing_within_the_total(contracts, payments) -> None:
    by_contract = {c["contract_no"]: c for c in contracts}
    paid: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    for p in payments:
        assert AMOUNT.match(p["amount"])
        paid[p["contract_no"]].append((date.fromisoformat(p["paid_on"]), Decimal(p["amount"])))
    assert set(paid) <= set(by_contract)
    for no, c in by_contract.items():
        instalments = paid[no]
        assert 1 <= len(instalments) <= 4
        assert sum(a for _, a in instalments) <= Decimal(c["total_amount"])
        signed = date.fromisoformat(c["signed_on"])
        assert all(on >= signed for on, _ in instalments)
        if c["cancelled_at"]:
            assert all(on <= date.fromisoformat(c["cancelled_at"]) for on, _ in instalments)
    assert Counter(len(v) for v in paid.values()).keys() == {1, 2, 3, 4}


def test_a_third_of_counterparties_are_outside_suzhou(orgs, contracts) -> None:
    places = [orgs[c[role]]["region_code"] for c in contracts
              for role in ("seller_uscc", "buyer_uscc")]
    outside = sum(r not in SUZHOU for r in places) / len(places)
    assert 0.25 <= outside <= 0.42
    inside = Counter(r for r in places if r in SUZHOU)
    assert set(inside) == SUZHOU
    top = [r for r, _ in inside.most_common(3)]
    assert "320571" in top and "320505" in top
    assert inside["320508"] / sum(inside.values()) < 0.1
    assert {"310115", "320211", "110108", "330106", "340104"} <= {o["region_code"]
                                                                  for o in orgs.values()}


def test_universities_and_institutes_sell_to_enterprises(orgs, contracts) -> None:
    academic = [c for c in contracts
                if orgs[c["seller_uscc"]]["kind"] in ("university", "research_institute")]
    assert len(academic) / N > 0.2
    to_enterprises = sum(orgs[c["buyer_uscc"]]["kind"] == "enterprise" for c in academic)
    assert to_enterprises / len(academic) > 0.8


def test_growth_and_a_february_dip(contracts) -> None:
    months = Counter(registered_day(c["registered_at"]).strftime("%Y-%m") for c in contracts)
    years = Counter()
    for month, n in months.items():
        years[month[:4]] += n
    per_year = [years[y] for y in sorted(years)]
    assert per_year == sorted(per_year) and per_year[-1] > 1.5 * per_year[0]
    by_month = Counter()
    for month, n in months.items():
        by_month[int(month[5:])] += n
    assert by_month[2] < by_month[1] and by_month[2] < by_month[3]


def test_some_cancelled_and_related_party_deals(contracts) -> None:
    cancelled = sum(c["status"] == "cancelled" for c in contracts) / N
    related = sum(c["related_party"] == "1" for c in contracts) / N
    assert 0.005 <= cancelled <= 0.03
    assert 0.015 <= related <= 0.05


def test_end_stops_registrations_on_that_day(tmp_path) -> None:
    import csv as _csv
    from datetime import date as _date

    summary = generate_market(tmp_path, 500, 3, start_year=2024, years=3, end=_date(2025, 6, 30))
    with open(summary.contracts_path, encoding="utf-8") as f:
        last = max(r["registered_at"][:10] for r in _csv.DictReader(f))
    assert summary.contracts == 500
    assert "2025-06-01" <= last <= "2025-06-30"
