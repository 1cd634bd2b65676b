"""Properties of the methodology on random small markets (hypothesis).

- the base year averages exactly 100, and each year's average is the next year's link;
- contributions add up exactly to the change, and their splits to each contribution;
- multiplying every amount by the same positive constant changes no index;
- the order of the input rows changes nothing;
- the cap is the nearest-rank percentile;
- the cells agree with a naive reading of the definitions, contract set by contract set.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indices import (
    DOMAINS,
    FAMILIES,
    FIELD_CODES,
    KINDS,
    REGION_CODES,
    ContractRow,
    IndexRun,
    Parameters,
    Period,
    aggregate,
    compute_caps,
    compute_from_rows,
    figure_to_dict,
    nearest_rank,
    split_key,
)

D = Decimal
F = Fraction
SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
REGIONS = (*REGION_CODES[:4], "320585", "310115", "110108")
FIELDS = FIELD_CODES[:3]
START = Period(2019, 1)

# every market starts with this contract, so that the base year is 2019 and, with a threshold
# of 1, the transfer index has all six indicators active in it
ANCHOR = ContractRow("ANCHOR", START, "U0", "E0", None, "320505", "320506", "university",
                     "enterprise", FIELDS[0], D("1000.00"), D("1200.00"))


@st.composite
def markets(draw: st.DrawFn, max_contracts: int = 50) -> list[ContractRow]:
    size = draw(st.integers(3, 9))
    orgs = [(f"O{i}", draw(st.sampled_from(REGIONS)), draw(st.sampled_from(KINDS)))
            for i in range(size)]
    orgs += [("U0", "320505", "university"), ("E0", "320506", "enterprise")]
    rows = [ANCHOR]
    for i in range(draw(st.integers(0, max_contracts))):
        seller, buyer = draw(st.lists(st.sampled_from(orgs), min_size=2, max_size=2,
                                      unique_by=lambda o: o[0]))
        others = [o for o in orgs if o[0] not in (seller[0], buyer[0])]
        intermediary = draw(st.none() | st.sampled_from(others))
        technical = D(draw(st.integers(1, 10**7))).scaleb(-2)
        total = technical + D(draw(st.integers(0, 10**6))).scaleb(-2)
        rows.append(ContractRow(
            f"C{i}", START.shift(draw(st.integers(0, 37))), seller[0], buyer[0],
            None if intermediary is None else intermediary[0], seller[1], buyer[1],
            seller[2], buyer[2], draw(st.sampled_from(FIELDS)), technical, total))
    return rows


parameters = st.builds(
    Parameters,
    percentile=st.sampled_from([D("0.5"), D("0.75"), D("0.9"), D("0.99"), D(1)]),
    cap_min_contracts=st.integers(1, 20),
    activity_threshold=st.integers(1, 4),
)
throughs = st.sampled_from(
    [Period(2019, 12), Period(2020, 7), Period(2021, 5), Period(2021, 12)])


def _index_values(run: IndexRun) -> dict[tuple[str, str, Period], Fraction | None]:
    return {f.key: f.value for f in run.figures}


@SETTINGS
@given(markets(), parameters, throughs)
def test_base_year_averages_100_and_years_chain(rows: list[ContractRow], params: Parameters,
                                                 through: Period) -> None:
    run = compute_from_rows(rows, through, params)
    assert run.base_year == 2019
    for family in FAMILIES:
        for domain in DOMAINS[family]:
            series = run.series(family, domain)
            base = series[:12]
            if base[0].value is not None:
                assert sum(f.value for f in base if f.value is not None) / 12 == 100
                assert all(f.link == 100 for f in base)
            else:
                assert all(f.value is None and f.reason for f in base)
            for year in range(2020, through.year + 1):
                months = [f for f in series if f.period.year == year]
                before = [f.value for f in series if f.period.year == year - 1]
                if months[0].value is None:
                    assert all(f.value is None and f.link is None for f in months)
                    continue
                # each January renews the link: the previous year's average, or 100 after a
                # year without index
                expected = 100 if before[0] is None else sum(
                    v for v in before if v is not None) / 12
                assert all(f.link == expected for f in months)
    if params.activity_threshold == 1:
        weights = run.figure("transfer", "SZ", START).weights
        assert weights == {k: F(1, 6) for k in "NVPEXU"}


@SETTINGS
@given(markets(), parameters, throughs)
def test_contributions_add_up_to_the_change(rows: list[ContractRow], params: Parameters,
                                            through: Period) -> None:
    run = compute_from_rows(rows, through, params)
    values = _index_values(run)
    for figure in run.figures:
        previous = values.get((figure.family, figure.domain, figure.period.shift(-1)))
        if figure.contributions is None:
            assert figure.period.month == 1 or figure.value is None
            continue
        assert figure.value is not None and previous is not None
        assert sum(figure.contributions.values()) == figure.value - previous
        assert figure.contributions_split is not None and figure.weights is not None
        for k, parts in figure.contributions_split.items():
            assert k in figure.weights
            assert sum(parts.values(), F(0)) == figure.contributions[k]
        for k in set("NVPEXU") - set(figure.weights):
            assert figure.contributions[k] == 0
        # the published (rounded) parts add up to the published change within rounding
        shown = figure_to_dict(figure)
        change = D(shown["value"]) - D(figure_to_dict(run.figure(
            figure.family, figure.domain, figure.period.shift(-1)))["value"])
        total = sum(D(v) for v in shown["contributions"].values())
        assert abs(total - change) <= D("8e-10")
        if previous != 0:
            assert figure.mom_pct == (figure.value / previous - 1) * 100


@SETTINGS
@given(markets(), parameters, throughs,
       st.decimals(min_value=D("0.01"), max_value=D(1000), places=2))
def test_scaling_amounts_changes_no_index(rows: list[ContractRow], params: Parameters,
                                          through: Period, factor: Decimal) -> None:
    run = compute_from_rows(rows, through, params)
    scaled = compute_from_rows(
        [replace(r, technical_amount=r.technical_amount * factor,
                 total_amount=r.total_amount * factor) for r in rows], through, params)
    assert scaled.caps == {y: None if c is None else c * factor for y, c in run.caps.items()}
    for a, b in zip(run.figures, scaled.figures, strict=True):
        assert (a.key, a.value, a.mom_pct, a.yoy_pct, a.link, a.weights, a.reason) == \
               (b.key, b.value, b.mom_pct, b.yoy_pct, b.link, b.weights, b.reason)
        assert a.contributions == b.contributions
        assert a.contributions_split == b.contributions_split
        assert b.x == {**a.x, "V": a.x["V"] * factor}
        if a.refs is not None:
            assert b.refs == {k: r * F(factor) if k == "V" else r for k, r in a.refs.items()}


@SETTINGS
@given(markets(), parameters, throughs, st.randoms(use_true_random=False))
def test_row_order_changes_nothing(rows: list[ContractRow], params: Parameters,
                                   through: Period, rnd: random.Random) -> None:
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    assert compute_from_rows(shuffled, through, params) == compute_from_rows(rows, through,
                                                                             params)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.decimals(min_value=D("0.01"), max_value=D(10**6), places=2), min_size=1,
                max_size=300),
       st.decimals(min_value=D("0.001"), max_value=D(1), places=3))
def test_cap_is_the_nearest_rank_percentile(values: list[Decimal], q: Decimal) -> None:
    cap = nearest_rank(values, q)
    n = len(values)
    assert cap in values
    assert sum(1 for v in values if v <= cap) >= F(q) * n  # enough values at or below
    assert sum(1 for v in values if v < cap) < F(q) * n  # and it is the smallest such
    assert cap == sorted(values)[math.ceil(F(q) * n) - 1]


@SETTINGS
@given(markets(max_contracts=60), parameters)
def test_caps_and_cells_follow_the_definitions(rows: list[ContractRow],
                                               params: Parameters) -> None:
    through = Period(2021, 12)
    caps = compute_caps(rows, [2019, 2020, 2021, 2022], params)
    sz = [r for r in rows if r.seller_region in REGION_CODES or r.buyer_region in REGION_CODES]
    for year, cap in caps.items():
        window = [r.technical_amount for r in sz
                  if Period(year - 3, 1) <= r.period <= Period(year - 1, 12)]
        assert cap == (None if len(window) < params.cap_min_contracts
                       else nearest_rank(window, params.percentile))
    cells = {c.key: c for c in aggregate(rows, caps, through, start=START)}
    first: dict[str, Period] = {}
    for r in sorted(rows, key=lambda r: r.period):
        for party in filter(None, (r.seller_id, r.buyer_id, r.intermediary_id)):
            first.setdefault(party, r.period)

    def members(family: str, domain: str, r: ContractRow) -> bool:
        in_sz = r.seller_region in REGION_CODES or r.buyer_region in REGION_CODES
        if family == "transfer":
            return in_sz
        if family == "regional":
            return domain in (r.seller_region, r.buyer_region)
        return in_sz and r.field == domain

    def capped(amount: Decimal, cap: Decimal | None) -> Decimal:
        return amount if cap is None else min(amount, cap)

    seen = 0
    for family in FAMILIES:
        for domain in DOMAINS[family]:
            for ordinal in range(START.ordinal, through.ordinal + 1):
                t = Period.from_ordinal(ordinal)
                s = [r for r in rows if r.period == t and members(family, domain, r)]
                cell = cells.get((family, domain, t))
                if not s:
                    assert cell is None
                    continue
                seen += 1
                assert cell is not None
                parties = {p for r in s for p in (r.seller_id, r.buyer_id, r.intermediary_id)
                           if p}
                assert cell.n == len(s)
                assert cell.v == sum(capped(r.technical_amount, caps[t.year]) for r in s)
                assert cell.v_next == sum(capped(r.technical_amount, caps[t.year + 1])
                                          for r in s)
                assert cell.p == len(parties)
                assert cell.e == sum(1 for p in parties if first[p] == t)
                assert cell.x == sum(1 for r in s if r.seller_region != r.buyer_region)
                assert cell.u == sum(1 for r in s if r.buyer_kind == "enterprise" and
                                     r.seller_kind in ("university", "research_institute"))
                assert cell.total_amount == sum(r.total_amount for r in s)
                assert cell.technical_amount - cell.capped_amount == cell.v
                assert cell.capped_count == sum(
                    1 for r in s if capped(r.technical_amount, caps[t.year]) < r.technical_amount)
                buckets = {split_key(family, r) for r in s}
                assert set(cell.split) == buckets
                assert sum(b.n for b in cell.split.values()) == cell.n
                assert sum((b.v for b in cell.split.values()), D(0)) == cell.v
                assert sum(b.x for b in cell.split.values()) == cell.x
                assert sum(b.u for b in cell.split.values()) == cell.u
    assert seen == len(cells)
