"""Figures as JSON-friendly dicts, in the shape of the worked example's ``expected_indices.json``.

Exact values are published with ten decimals, rounded half up (``str`` of the ``Decimal``, so
zero prints ``0E-10`` as in the example); money with its two decimals; weights as fractions
(``"1/6"``); counts as ints.

>>> format_exact(Fraction(1, 3)), format_exact(Fraction(0)), format_money(Decimal("5"))
('0.3333333333', '0E-10', '5.00')
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from typing import Any, Final

from .cells import exact_decimal_context
from .compute import Figure, IndexRun, round_half_up
from .model import INDICATORS

__all__ = [
    "PLACES",
    "figure_to_dict",
    "format_exact",
    "format_money",
    "run_to_dict",
    "to_decimal",
]

#: Decimals of the published exact values (index, L, references, percentages, contributions).
PLACES: Final = 10
_CENT: Final = Decimal("0.01")


def to_decimal(value: Fraction | Decimal | int, places: int = PLACES) -> Decimal:
    """An exact value as a ``Decimal`` with ``places`` decimals, rounded half up.

    >>> to_decimal(Fraction(2, 3)), to_decimal(Fraction(-5, 2), 0)
    (Decimal('0.6666666667'), Decimal('-3'))
    """
    return round_half_up(value, places)


def format_exact(value: Fraction | Decimal | int | None, places: int = PLACES) -> str | None:
    """``str`` of :func:`to_decimal`, ``None`` stays ``None``.

    >>> format_exact(Fraction(545582584166, 3000)), format_exact(None)
    ('181860861.3886666667', None)
    """
    return None if value is None else str(to_decimal(value, places))


def format_money(amount: Decimal | None) -> str | None:
    """Yuan with two decimals (more only if the amount has more: it is never rounded).

    >>> format_money(Decimal("19274311.72")), format_money(Decimal("0")), format_money(None)
    ('19274311.72', '0.00', None)
    """
    if amount is None:
        return None
    with exact_decimal_context():
        if amount == amount.quantize(_CENT, rounding=ROUND_DOWN):
            return str(amount.quantize(_CENT))
    return format(amount, "f")


def figure_to_dict(figure: Figure, *, extended: bool = False) -> dict[str, Any]:
    """One figure in the example's shape: ``family, domain, period, value, value_2dp, mom_pct,
    yoy_pct, x, L, cap, weights, refs, contributions, contributions_split, reason``.

    With ``extended=True`` also ``ref_year``, ``mom_pct_2dp``, ``yoy_pct_2dp`` and ``raw``
    (contract count, Σ total_amount, Σ technical_amount, how many contracts the cap cut and by
    how much).
    """
    x = {k: (format_money(v) if isinstance(v, Decimal) else v) for k, v in figure.x.items()}
    result: dict[str, Any] = {
        "family": figure.family,
        "domain": figure.domain,
        "period": str(figure.period),
        "value": format_exact(figure.value),
        "value_2dp": None if figure.value_2dp is None else str(figure.value_2dp),
        "mom_pct": format_exact(figure.mom_pct),
        "yoy_pct": format_exact(figure.yoy_pct),
        "x": {k: x[k] for k in INDICATORS},
        "L": format_exact(figure.link),
        "cap": format_money(figure.cap),
        "weights": None if figure.weights is None else {
            k: str(w) for k, w in figure.weights.items()},
        "refs": None if figure.refs is None else {
            k: format_exact(r) for k, r in figure.refs.items()},
        "contributions": None if figure.contributions is None else {
            k: format_exact(c) for k, c in figure.contributions.items()},
        "contributions_split": None if figure.contributions_split is None else {
            k: {b: format_exact(c) for b, c in parts.items()}
            for k, parts in figure.contributions_split.items()},
        "reason": figure.reason,
    }
    if extended:
        mom, yoy = figure.mom_pct_2dp, figure.yoy_pct_2dp
        result["ref_year"] = figure.ref_year
        result["mom_pct_2dp"] = None if mom is None else str(mom)
        result["yoy_pct_2dp"] = None if yoy is None else str(yoy)
        result["raw"] = {
            "contracts": figure.contract_count,
            "total_amount": format_money(figure.total_amount),
            "technical_amount": format_money(figure.technical_amount),
            "capped_count": figure.capped_count,
            "capped_amount": format_money(figure.capped_amount),
        }
    return result


def run_to_dict(run: IndexRun, *, extended: bool = False) -> dict[str, Any]:
    """A whole run in the shape of ``expected_indices.json``: ``methodology_version``,
    ``base_year``, ``through``, ``caps`` (year -> yuan or ``None``) and ``figures``.

    With ``extended=True`` also ``parameters``, ``rows_hash`` and each figure's extras.
    """
    result: dict[str, Any] = {
        "methodology_version": run.params.methodology_version,
        "base_year": run.base_year,
        "through": str(run.through),
        "caps": {str(year): format_money(cap) for year, cap in sorted(run.caps.items())},
        "figures": [figure_to_dict(f, extended=extended) for f in run.figures],
    }
    if extended:
        result["parameters"] = run.params.to_dict()
        result["rows_hash"] = run.rows_hash
    return result
