"""A tiny hand-made market whose figures are worked out by hand, and invalid input.

The market (activity threshold 1, so that three contracts make indices):

========  =======  ==================================  ==========  =========
contract  month    seller -> buyer (intermediary)      technical   total
========  =======  ==================================  ==========  =========
A         2020-01  S1 univ 320505 -> B1 ent 320506     100         100
B         2020-02  S1 univ 320505 -> B2 ent 320506 (I1) 300        400
C         2021-01  S2 univ 320505 -> B1 ent 320506     250         250
========  =======  ==================================  ==========  =========

Base year 2020 (A is in January). Over 2020: N = 2, V = 400, P = 2 + 3 = 5, E = 2 + 2 = 4
(B2 and I1 are new in February), X = 2, U = 2: all active, each weighs 1/6, and the references
are N 1/6, V 100/3, P 5/12, E 1/3, X 1/6, U 1/6. Hence

- CI(2020-01) = 100/6 · (6 + 3 + 24/5 + 6 + 6 + 6) = 530;
- CI(2020-02) = 100/6 · (6 + 9 + 36/5 + 6 + 6 + 6) = 670; every other month of 2020 is 0,
  so the year averages (530 + 670) / 12 = 100;
- February's change +140 = V 100 + P 40 (N, E, X and U did not move);
- L(2021) = 100, the references of 2021 are 2020's again (no cap with so few deals):
  CI(2021-01) = 100/6 · (6 + 7.5 + 24/5 + 3 + 6 + 6) = 555 (C's seller S2 is new, B1 is not:
  E = 1), year on year +4.716981...%.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

import pytest

from indices import (
    Cell,
    ContractRow,
    IndexInputError,
    Parameters,
    Period,
    aggregate,
    compute_caps,
    compute_figures,
    compute_from_rows,
    default_base_year,
    figure_to_dict,
    nearest_rank,
    normalise_code,
    period_of,
    run_to_dict,
)

D = Decimal
F = Fraction
ONE = Parameters(activity_threshold=1)


def _row(no: str, period: tuple[int, int], seller: str, buyer: str, inter: str | None,
         technical: str, total: str, *, seller_region: str = "320505",
         buyer_region: str = "320506", seller_kind: str = "university",
         buyer_kind: str = "enterprise", field: str = "aerospace") -> ContractRow:
    return ContractRow(no, Period(*period), seller, buyer, inter, seller_region, buyer_region,
                       seller_kind, buyer_kind, field, D(technical), D(total))


MARKET = [
    _row("A", (2020, 1), "S1", "B1", None, "100", "100"),
    _row("B", (2020, 2), "S1", "B2", "I1", "300", "400"),
    _row("C", (2021, 1), "S2", "B1", None, "250", "250"),
]


def test_hand_computed_base_year() -> None:
    run = compute_from_rows(MARKET, "2021-01", ONE)
    assert run.base_year == 2020 and run.caps == {2020: None, 2021: None}
    sz = {str(f.period): f for f in run.series("transfer", "SZ")}
    jan, feb, mar, apr = sz["2020-01"], sz["2020-02"], sz["2020-03"], sz["2020-04"]
    assert jan.value == 530 and feb.value == 670 and mar.value == 0 and apr.value == 0
    assert sum(sz[f"2020-{m:02d}"].value for m in range(1, 13)) / 12 == 100  # type: ignore[misc]
    assert jan.weights == {k: F(1, 6) for k in "NVPEXU"}
    assert jan.refs == {"N": F(1, 6), "V": F(100, 3), "P": F(5, 12), "E": F(1, 3),
                        "X": F(1, 6), "U": F(1, 6)}
    assert jan.link == 100 and jan.cap is None and jan.ref_year == 2020
    assert jan.x == {"N": 1, "V": D(100), "P": 2, "E": 2, "X": 1, "U": 1}
    assert feb.x == {"N": 1, "V": D(300), "P": 3, "E": 2, "X": 1, "U": 1}
    assert jan.contributions is None and jan.mom_pct is None and jan.yoy_pct is None
    assert feb.contributions == {"N": F(0), "V": F(100), "P": F(40), "E": F(0), "X": F(0),
                                 "U": F(0)}
    assert feb.contributions_split == {"N": {"320505": F(0)}, "V": {"320505": F(100)},
                                       "X": {"320505": F(0)}, "U": {"320505": F(0)}}
    assert feb.mom_pct == F(140, 530) * 100
    assert mar.mom_pct == -100 and apr.mom_pct is None  # from 0: empty
    assert mar.contributions == {"N": -6 * F(100, 6), "V": -9 * F(100, 6),
                                 "P": F(-36, 5) * F(100, 6), "E": -6 * F(100, 6),
                                 "X": -6 * F(100, 6), "U": -6 * F(100, 6)}
    assert feb.value_2dp == D("670.00") and feb.mom_pct_2dp == D("26.42")
    rendered = figure_to_dict(feb)
    assert rendered["mom_pct"] == "26.4150943396" and rendered["weights"]["N"] == "1/6"
    assert rendered["x"]["V"] == "300.00" and rendered["L"] == "100.0000000000"
    # the same market seen from the regions and the field
    for family, domain in (("regional", "320505"), ("regional", "320506"),
                           ("industry", "aerospace")):
        assert run.figure(family, domain, "2020-02").value == 670
    regional = run.figure("regional", "320506", "2020-02")
    assert regional.contributions_split == {
        "N": {"aerospace": F(0)}, "V": {"aerospace": F(100)}, "X": {"aerospace": F(0)},
        "U": {"aerospace": F(0)}}
    empty = run.figure("regional", "320508", "2020-05")
    assert empty.value is None and empty.reason == "no active indicator over 2020"
    assert empty.weights is None and empty.link is None and empty.x["N"] == 0


def test_hand_computed_second_year() -> None:
    run = compute_from_rows(MARKET, "2021-01", ONE)
    jan21 = run.figure("transfer", "SZ", "2021-01")
    assert jan21.link == 100 and jan21.ref_year == 2020
    assert jan21.x == {"N": 1, "V": D(250), "P": 2, "E": 1, "X": 1, "U": 1}
    assert jan21.value == 555
    assert jan21.yoy_pct == F(25, 530) * 100
    assert jan21.mom_pct is None  # December 2020 is 0
    assert jan21.contributions is None  # January has none


def test_hand_computed_cap() -> None:
    """C_2021 over 2018-01..2020-12 = {100, 300}: with q = 0.5 and at least 2 deals, the value
    at position ⌈0.5·2⌉ = 1, i.e. 100. V of 2021-01 = min(250, 100) = 100 (cut by 150); the
    reference V of 2021 is 2020 capped with C_2021: (100 + 100) / 12 = 50/3, so the V term is
    100 / (50/3) = 6 and CI = 100/6 · (6 + 6 + 24/5 + 3 + 6 + 6) = 530."""
    params = Parameters(activity_threshold=1, cap_min_contracts=2, percentile=D("0.5"))
    run = compute_from_rows(MARKET, "2021-01", params)
    assert run.caps == {2020: None, 2021: D(100)}
    jan21 = run.figure("transfer", "SZ", "2021-01")
    assert jan21.cap == D(100) and jan21.x["V"] == D(100)
    assert jan21.refs is not None and jan21.refs["V"] == F(50, 3)
    assert jan21.capped_count == 1 and jan21.capped_amount == D(150)
    assert jan21.technical_amount == D(250) and jan21.value == 530
    # 2020 itself is not touched by the 2021 cap
    assert run.figure("transfer", "SZ", "2020-02").x["V"] == D(300)
    assert run_to_dict(run)["caps"] == {"2020": None, "2021": "100.00"}


def test_cells_of_the_hand_market() -> None:
    caps = compute_caps(MARKET, [2020, 2021], ONE)
    cells = {(c.family, c.domain, str(c.period)): c
             for c in aggregate(MARKET, caps, Period(2021, 1))}
    feb = cells[("transfer", "SZ", "2020-02")]
    assert (feb.n, feb.v, feb.v_next, feb.p, feb.e, feb.x, feb.u) == (
        1, D(300), D(300), 3, 2, 1, 1)
    assert feb.total_amount == D(400) and feb.technical_amount == D(300)
    assert cells[("transfer", "SZ", "2021-01")].v_next is None  # C_2022 unknown
    assert ("regional", "320508", "2020-01") not in cells  # empty cells are left out
    assert len(cells) == 3 * 4


def test_outside_parties_and_intermediaries() -> None:
    """An intermediary alone puts no contract in a region; P counts it wherever it is; a
    contract between two outside parties is in no domain but makes its parties not new."""
    rows = [
        _row("O", (2019, 12), "X1", "X2", None, "5", "5", seller_region="310115",
             buyer_region="110108", seller_kind="enterprise"),
        _row("A", (2020, 1), "X1", "B1", "I1", "100", "100", seller_region="310115",
             buyer_region="320583"),
        _row("B", (2020, 1), "S1", "X2", None, "100", "100", seller_region="320583",
             buyer_region="310115", seller_kind="research_institute"),
    ]
    run = compute_from_rows(rows, "2020-12", ONE)
    assert run.base_year == 2020  # the first contract is in December: next year
    jan = run.figure("transfer", "SZ", "2020-01")
    assert jan.x == {"N": 2, "V": D(200), "P": 5, "E": 3, "X": 2, "U": 2}
    assert run.figure("regional", "320583", "2020-01").x["N"] == 2
    assert run.figure("regional", "320505", "2020-01").x["N"] == 0


def test_default_base_year_and_override() -> None:
    assert default_base_year([Period(2019, 1)]) == 2019
    assert default_base_year([Period(2019, 2), Period(2020, 6)]) == 2020
    run = compute_from_rows(MARKET, "2021-12", Parameters(activity_threshold=1, base_year=2021))
    assert run.base_year == 2021 and len(run.figures) == 22 * 12
    # 2021 is its own reference: C is 1/12 of every reference, each term is 12
    assert run.figure("transfer", "SZ", "2021-01").value == 1200
    with pytest.raises(ValueError, match="base year 2021 must be complete"):
        compute_from_rows(MARKET, "2021-01", Parameters(base_year=2021))


def test_the_default_threshold_needs_twelve() -> None:
    run = compute_from_rows(MARKET, "2020-12")
    assert all(f.value is None for f in run.figures)
    assert {f.reason for f in run.figures} == {"no active indicator over 2020"}


def test_parsing_helpers() -> None:
    assert normalise_code(" 91320505ma5ypf9g2r\u3000") == "91320505MA5YPF9G2R"
    assert normalise_code("９１３２０５０７ＭＡ９ＦＴ７ＨＭ２Ｑ") == "91320507MA9FT7HM2Q"
    utc = UTC
    assert period_of(datetime(2019, 2, 28, 15, 59, 59, tzinfo=utc)) == Period(2019, 2)
    assert period_of(datetime(2019, 2, 28, 16, 0, tzinfo=utc)) == Period(2019, 3)
    assert period_of(datetime(2019, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=8)))) \
        == Period(2019, 3)
    assert period_of(datetime(2021, 12, 31, 23, 49, 39)) == Period(2021, 12)
    assert period_of(date(2021, 12, 31)) == Period(2021, 12)
    assert Period.parse("2021-12").shift(1) == Period(2022, 1)
    assert str(Period(2021, 3)) == "2021-03"


# --- invalid input ---------------------------------------------------------------------

def test_through_before_any_data() -> None:
    assert issubclass(IndexInputError, ValueError)
    with pytest.raises(IndexInputError, match="no counted contract on or before 2019-12"):
        compute_from_rows(MARKET, "2019-12")
    with pytest.raises(ValueError, match="no counted contract"):
        compute_from_rows([], "2021-12")


def test_through_inside_the_base_year() -> None:
    with pytest.raises(ValueError, match="base year 2020 must be complete"):
        compute_from_rows(MARKET, "2020-11")
    with pytest.raises(ValueError, match="base year"):
        compute_figures([], caps={2020: None}, base_year=2020, through="2020-06")


@pytest.mark.parametrize("change, message", [
    ({"technical_amount": 1.5}, "never a float"),
    ({"technical_amount": D(0)}, "0 < technical_amount"),
    ({"technical_amount": D(500), "total_amount": D(400)}, "technical_amount <= total_amount"),
    ({"technical_amount": D("NaN")}, "finite"),
    ({"field": "astrology"}, "unknown field"),
    ({"seller_region": "3205"}, "six-digit"),
    ({"seller_kind": "person"}, "unknown seller_kind"),
    ({"buyer_id": "S1"}, "distinct"),
    ({"intermediary_id": "B1"}, "distinct"),
    ({"period": (2020, 0)}, "month must be 1..12"),
])
def test_invalid_rows(change: dict[str, object], message: str) -> None:
    valid = MARKET[0]
    assert replace(valid) == valid
    with pytest.raises(ValueError, match=message):
        replace(valid, **change)  # type: ignore[arg-type]


def test_invalid_periods_and_parameters() -> None:
    with pytest.raises(ValueError, match=r"month must be 1\.\.12"):
        Period.parse("2019-13")
    with pytest.raises(ValueError, match="YYYY-MM"):
        Period.parse("2019/01")
    with pytest.raises(ValueError, match="percentile"):
        Parameters(percentile=D("1.5"))
    with pytest.raises(ValueError, match="activity_threshold"):
        Parameters(activity_threshold=0)
    with pytest.raises(ValueError, match="no values"):
        nearest_rank([], D("0.99"))


def test_invalid_cells() -> None:
    with pytest.raises(ValueError, match="no cap given for 2021"):
        compute_figures([], caps={2020: None}, base_year=2020, through="2021-01")
    with pytest.raises(ValueError, match="unknown family/domain"):
        compute_figures([Cell("industry", "astrology", Period(2020, 1))], caps={2020: None},
                        base_year=2020, through="2020-12")
    with pytest.raises(ValueError, match="two cells"):
        twice = Cell("transfer", "SZ", Period(2020, 1))
        compute_figures([twice, twice],
                        caps={2020: None}, base_year=2020, through="2020-12")
    with pytest.raises(ValueError, match="has no v_next"):
        compute_figures([Cell("transfer", "SZ", Period(2020, 1), n=20, v=D(5), v_next=None)],
                        caps={2020: None, 2021: None}, base_year=2020, through="2021-01")
    with pytest.raises(ValueError, match="e <= p"):
        Cell("transfer", "SZ", Period(2020, 1), p=1, e=2)
    with pytest.raises(ValueError, match="no cap given for 2020"):
        aggregate(MARKET, {}, Period(2020, 12))
