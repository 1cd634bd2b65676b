"""The worked example: every one of the 792 figures of expected_indices.json, field by field."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from indices import (
    DOMAINS,
    FAMILIES,
    Cell,
    ContractRow,
    IndexRun,
    Parameters,
    Period,
    SplitCell,
    aggregate,
    compute_caps,
    compute_figures,
    compute_from_rows,
    default_base_year,
    domains_of,
    figure_to_dict,
    run_to_dict,
)

TOLERANCE = Decimal("1e-9")


def _close(got: str | None, want: str | None, where: str) -> None:
    if want is None:
        assert got is None, where
        return
    assert got is not None, where
    assert abs(Decimal(got) - Decimal(want)) <= TOLERANCE, f"{where}: {got} != {want}"


def _close_map(got: dict[str, Any] | None, want: dict[str, Any] | None, where: str) -> None:
    if want is None:
        assert got is None, where
        return
    assert got is not None, where
    assert set(got) == set(want), f"{where}: keys {sorted(got)} != {sorted(want)}"
    for key, value in want.items():
        _close(got[key], value, f"{where}.{key}")


def test_header(example_run: IndexRun, expected_indices: dict[str, Any]) -> None:
    assert example_run.params.methodology_version == expected_indices["methodology_version"]
    assert example_run.base_year == expected_indices["base_year"] == 2019
    assert str(example_run.through) == expected_indices["through"]
    assert {str(y): (None if c is None else str(c)) for y, c in example_run.caps.items()} \
        == expected_indices["caps"]
    assert example_run.caps == {2019: None, 2020: Decimal("3530903.00"),
                                2021: Decimal("4723036.45")}


def test_every_figure_field_by_field(example_run: IndexRun,
                                     expected_indices: dict[str, Any]) -> None:
    expected = expected_indices["figures"]
    got = [figure_to_dict(f) for f in example_run.figures]
    assert len(got) == len(expected) == 792
    for g, e in zip(got, expected, strict=True):
        where = f"{e['family']}/{e['domain']}/{e['period']}"
        assert (g["family"], g["domain"], g["period"]) == (e["family"], e["domain"],
                                                            e["period"]), where
        assert set(g) == set(e), where
        _close(g["value"], e["value"], f"{where} value")
        assert g["value_2dp"] == e["value_2dp"], where
        _close(g["mom_pct"], e["mom_pct"], f"{where} mom_pct")
        _close(g["yoy_pct"], e["yoy_pct"], f"{where} yoy_pct")
        assert g["x"] == e["x"], where
        _close(g["L"], e["L"], f"{where} L")
        assert g["cap"] == e["cap"], where
        assert g["weights"] == e["weights"], where
        _close_map(g["refs"], e["refs"], f"{where} refs")
        _close_map(g["contributions"], e["contributions"], f"{where} contributions")
        if e["contributions_split"] is None:
            assert g["contributions_split"] is None, where
        else:
            assert set(g["contributions_split"]) == set(e["contributions_split"]), where
            for k, parts in e["contributions_split"].items():
                _close_map(g["contributions_split"][k], parts, f"{where} split {k}")
        assert g["reason"] == e["reason"], where


def test_whole_document_is_reproduced_exactly(example_run: IndexRun,
                                              expected_indices: dict[str, Any]) -> None:
    """Not only within 1e-9: the rendered run equals the example string for string."""
    assert run_to_dict(example_run) == expected_indices


def test_full_precision_values_round_to_the_published_ones(example_run: IndexRun) -> None:
    for figure in example_run.figures:
        if figure.value is None:
            assert figure.reason is not None and figure.value_2dp is None
            continue
        assert isinstance(figure.value, Fraction) and figure.value_2dp is not None
        assert abs(Fraction(figure.value_2dp) - figure.value) <= Fraction(1, 200)


def test_publication_order_and_coverage(example_run: IndexRun) -> None:
    keys = [(f.family, f.domain) for f in example_run.figures[::36]]
    assert keys == [(family, d) for family in FAMILIES for d in DOMAINS[family]]
    assert len(keys) == 22
    periods = [str(f.period) for f in example_run.series("regional", "320508")]
    assert periods[0] == "2019-01" and periods[-1] == "2021-12" and len(periods) == 36


def test_raw_totals(example_rows: list[ContractRow], example_run: IndexRun) -> None:
    sz = example_run.series("transfer", "SZ")
    assert sum(f.contract_count for f in sz) == sum(
        1 for r in example_rows if ("transfer", "SZ") in domains_of(r))
    capped = 0
    for figure in example_run.figures:
        assert figure.x["N"] == figure.contract_count
        assert figure.technical_amount - figure.capped_amount == figure.x["V"]
        assert figure.total_amount >= figure.technical_amount
        capped += figure.capped_count if figure.family == "transfer" else 0
    assert capped > 0  # the example has deals above the cap in 2020 and 2021
    assert all(f.capped_count == 0 for f in sz if f.period.year == 2019)


def test_the_two_layers_through_plain_data(example_rows: list[ContractRow],
                                           example_run: IndexRun) -> None:
    """Cells rebuilt from plain values (as a SQL query would fill them) give the same run."""
    params = Parameters()
    base = default_base_year(r.period for r in example_rows)
    caps = compute_caps(example_rows, range(base, 2022), params)
    cells = aggregate(example_rows, caps, Period(2021, 12), start=Period(base, 1))
    plain = [
        Cell(family=c.family, domain=c.domain, period=Period(c.period.year, c.period.month),
             n=c.n, v=c.v, v_next=c.v_next, p=c.p, e=c.e, x=c.x, u=c.u,
             total_amount=c.total_amount, technical_amount=c.technical_amount,
             capped_count=c.capped_count, capped_amount=c.capped_amount,
             split={b: SplitCell(s.n, s.v, s.x, s.u) for b, s in c.split.items()})
        for c in reversed(cells)
    ]
    run = compute_figures(plain, caps=caps, base_year=base, through="2021-12", params=params)
    assert run.figures == example_run.figures


def test_a_later_run_keeps_earlier_months(example_rows: list[ContractRow],
                                          example_run: IndexRun) -> None:
    """Publishing through 2020-12 gives the same figures for those months (no revision
    without a change of data)."""
    earlier = compute_from_rows(example_rows, "2020-12")
    assert len(earlier.figures) == 22 * 24
    for figure in earlier.figures:
        assert example_run.figure(figure.family, figure.domain, figure.period) == figure


@pytest.mark.parametrize("through", ["2021-06", "2021-01"])
def test_mid_year_runs_agree(example_rows: list[ContractRow], example_run: IndexRun,
                             through: str) -> None:
    run = compute_from_rows(example_rows, through)
    assert run.figures[-1].period == Period.parse(through)
    for figure in run.figures:
        assert example_run.figure(figure.family, figure.domain, figure.period) == figure
