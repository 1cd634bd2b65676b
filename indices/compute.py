"""Layer 2: monthly cells -> published figures (methodology v1, *Base year* to *Contributions*).

For a domain d and a month t of year y ≥ B (the base year), with ref(y) = B when y = B and
y − 1 otherwise:

- reference x̄(k, d, y) = (1/12) Σ_{m in ref(y)} x(k, d, m), V capped with C_y;
- k is active when Σ_{m in ref(y)} x(k, d, m) ≥ 12 (N's total for V); w(k) = 1 / (A · a_p);
- CI(d, t) = L(d, y) · Σ_{k active} w(k) · x(k, d, t) / x̄(k, d, y);
- L(d, B) = 100, L(d, y) = mean of CI(d, ·) over y − 1 (100 again after a year without index);
- month on month 100 · (CI(t)/CI(t−1) − 1), year on year 100 · (CI(t)/CI(t−12) − 1);
- contribution of k from t − 1 to t (same year): L · w(k) · (x(k, t) − x(k, t−1)) / x̄(k).

All of it is exact rational arithmetic (``Fraction``): the contributions add up to the change
exactly, and any figure recomputed from the same cells comes out identical. Money stays
``Decimal``; :func:`indices.render.to_decimal` rounds an exact value for publication.

>>> active_indicators({"N": 30, "V": 10**6, "P": 40, "E": 5, "X": 12, "U": 11})
('N', 'V', 'P', 'X')
>>> {k: str(w) for k, w in indicator_weights(("N", "V", "P", "X")).items()}
{'N': '1/6', 'V': '1/6', 'P': '1/3', 'X': '1/3'}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from typing import Final

from .caps import compute_caps, default_base_year
from .cells import Cell, aggregate, exact_decimal_context
from .model import (
    DOMAINS,
    FAMILIES,
    INDICATORS,
    PILLAR_OF,
    PILLARS,
    SPLIT_INDICATORS,
    ContractRow,
    IndexInputError,
    Parameters,
    rows_digest,
)
from .periods import Period

__all__ = [
    "Figure",
    "IndexRun",
    "active_indicators",
    "composite_index",
    "compute_figures",
    "compute_from_rows",
    "contributions",
    "indicator_weights",
    "link_factor",
    "pct_change",
    "reference_year",
    "round_half_up",
]

_HUNDRED: Final = Fraction(100)
_ZERO: Final = Decimal(0)
_Number = int | Decimal | Fraction


def round_half_up(value: Fraction | Decimal | int, places: int) -> Decimal:
    """Round to ``places`` decimals, halves away from zero (the publication's rounding).

    >>> round_half_up(Fraction(1, 8), 2), round_half_up(Fraction(-1, 8), 2)
    (Decimal('0.13'), Decimal('-0.13'))
    >>> round_half_up(Fraction(2, 3), 10)
    Decimal('0.6666666667')
    >>> round_half_up(Fraction(-1, 10**12), 10)
    Decimal('0E-10')
    """
    q = Fraction(value)
    scaled = abs(q) * 10**places
    digits = int(scaled + Fraction(1, 2))  # floor(|q|·10^p + 1/2): half-up on the magnitude
    sign = 1 if q < 0 and digits != 0 else 0
    return Decimal((sign, tuple(int(c) for c in str(digits)), -places))


def reference_year(year: int, base_year: int) -> int:
    """ref(y) = B when y = B, else y − 1.

    >>> reference_year(2019, 2019), reference_year(2021, 2019)
    (2019, 2020)
    """
    if year < base_year:
        raise IndexInputError(f"{year} is before the base year {base_year}: no index")
    return base_year if year == base_year else year - 1


def active_indicators(totals: Mapping[str, _Number], threshold: int = 12) -> tuple[str, ...]:
    """The indicators active for (d, y): k with Σ_{ref(y)} x(k) ≥ threshold; V is judged by
    the total of N (a sum of yuan says nothing about how many deals there were).

    >>> active_indicators({"N": 12, "V": 5, "P": 11, "E": 0, "X": 12, "U": 40})
    ('N', 'V', 'X', 'U')
    """
    return tuple(
        k for k in INDICATORS if totals.get("N" if k == "V" else k, 0) >= threshold
    )


def indicator_weights(active: Iterable[str]) -> dict[str, Fraction]:
    """w(k) = 1 / (A · a_p) for each active k: A pillars with an active indicator, a_p active
    indicators in k's pillar. Empty when nothing is active (A = 0: no index).

    >>> {k: str(w) for k, w in indicator_weights(INDICATORS).items()}
    {'N': '1/6', 'V': '1/6', 'P': '1/6', 'E': '1/6', 'X': '1/6', 'U': '1/6'}
    >>> {k: str(w) for k, w in indicator_weights(["U", "N"]).items()}
    {'N': '1/2', 'U': '1/2'}
    """
    chosen = set(active)
    unknown = chosen - set(INDICATORS)
    if unknown:
        raise IndexInputError(f"unknown indicators {sorted(unknown)}")
    per_pillar = {p: sum(1 for k in ks if k in chosen) for p, ks in PILLARS.items()}
    pillars = sum(1 for count in per_pillar.values() if count)
    return {
        k: Fraction(1, pillars * per_pillar[PILLAR_OF[k]]) for k in INDICATORS if k in chosen
    }


def composite_index(
    link: Fraction,
    weights: Mapping[str, Fraction],
    x: Mapping[str, _Number],
    refs: Mapping[str, Fraction],
) -> Fraction:
    """CI = L · Σ_{k active} w(k) · x(k) / x̄(k).

    >>> w = indicator_weights(["N", "P"])
    >>> composite_index(Fraction(100), w, {"N": 3, "P": 6}, {"N": Fraction(2), "P": Fraction(4)})
    Fraction(150, 1)
    """
    return link * sum(
        (w * Fraction(x[k]) / refs[k] for k, w in weights.items()), Fraction(0))


def contributions(
    link: Fraction,
    weights: Mapping[str, Fraction],
    x_now: Mapping[str, _Number],
    x_before: Mapping[str, _Number],
    refs: Mapping[str, Fraction],
) -> dict[str, Fraction]:
    """ΔCI by indicator: L · w(k) · (x(k, t) − x(k, t−1)) / x̄(k); 0 for an inactive k. The
    parts add up exactly to CI(t) − CI(t−1) when t − 1 and t are in the same year.

    >>> w = indicator_weights(["N", "P"])
    >>> c = contributions(Fraction(100), w, {"N": 3, "P": 6}, {"N": 2, "P": 4},
    ...                   {"N": Fraction(2), "P": Fraction(4)})
    >>> [str(c[k]) for k in INDICATORS]
    ['25', '0', '25', '0', '0', '0']
    """
    return {
        k: (link * weights[k] * (Fraction(x_now.get(k, 0)) - Fraction(x_before.get(k, 0)))
            / refs[k]) if k in weights else Fraction(0)
        for k in INDICATORS
    }


def link_factor(previous_year: Sequence[Fraction | None] | None) -> Fraction:
    """L(d, y): the mean of the twelve CI(d, m) of y − 1; 100 when y − 1 has no index
    (``None``, or any month without value) and for the base year.

    >>> link_factor([Fraction(90)] * 6 + [Fraction(120)] * 6), link_factor(None)
    (Fraction(105, 1), Fraction(100, 1))
    """
    if previous_year is None or any(v is None for v in previous_year):
        return _HUNDRED
    values = [v for v in previous_year if v is not None]
    if len(values) != 12:
        raise IndexInputError("the link factor needs the twelve months of the previous year")
    return sum(values, Fraction(0)) / 12


def pct_change(now: Fraction | None, before: Fraction | None) -> Fraction | None:
    """100 · (now / before − 1), in percent at full precision; ``None`` when a term is missing
    or ``before`` is 0.

    >>> pct_change(Fraction(110), Fraction(100)), pct_change(Fraction(5), Fraction(0))
    (Fraction(10, 1), None)
    """
    if now is None or before is None or before == 0:
        return None
    return (now / before - 1) * _HUNDRED


@dataclass(frozen=True, slots=True)
class Figure:
    """One published (family, domain, month).

    Exact values are ``Fraction`` (``value`` is CI at full precision); money is ``Decimal``.
    When the domain has no active indicator over ``ref_year``, ``value``, ``link``,
    ``weights``, ``refs`` and the contributions are ``None`` and ``reason`` says why.

    - ``value`` CI(d, t); ``value_2dp`` rounded half up to 2 decimals;
    - ``mom_pct``, ``yoy_pct``: percent change on t − 1 and t − 12 (full precision, ``None``
      where a term is missing or 0); ``mom_pct_2dp``, ``yoy_pct_2dp`` rounded;
    - ``x``: the six sub-indicators of t (V capped with ``cap``); ``link``: L(d, y);
      ``cap``: C_y (``None`` = unlimited); ``weights``, ``refs``: w(k) and x̄(k, d, y) of the
      active indicators only;
    - ``contributions``: all six indicators (0 when inactive), February to December only;
      ``contributions_split``: N, V, X, U (active ones) by bucket, for the buckets with a
      contract in t − 1 or t;
    - raw totals of the month: ``contract_count``, ``total_amount``, ``technical_amount``,
      ``capped_count`` and ``capped_amount`` (contracts the cap cut, and by how much).
    """

    family: str
    domain: str
    period: Period
    ref_year: int
    value: Fraction | None
    value_2dp: Decimal | None
    mom_pct: Fraction | None
    yoy_pct: Fraction | None
    x: Mapping[str, int | Decimal]
    link: Fraction | None
    cap: Decimal | None
    weights: Mapping[str, Fraction] | None
    refs: Mapping[str, Fraction] | None
    contributions: Mapping[str, Fraction] | None
    contributions_split: Mapping[str, Mapping[str, Fraction]] | None
    reason: str | None
    contract_count: int
    total_amount: Decimal
    technical_amount: Decimal
    capped_count: int
    capped_amount: Decimal

    @property
    def key(self) -> tuple[str, str, Period]:
        """``(family, domain, period)``."""
        return (self.family, self.domain, self.period)

    @property
    def mom_pct_2dp(self) -> Decimal | None:
        """Month on month in percent, rounded half up to 2 decimals."""
        return None if self.mom_pct is None else round_half_up(self.mom_pct, 2)

    @property
    def yoy_pct_2dp(self) -> Decimal | None:
        """Year on year in percent, rounded half up to 2 decimals."""
        return None if self.yoy_pct is None else round_half_up(self.yoy_pct, 2)


@dataclass(frozen=True, slots=True)
class IndexRun:
    """Every figure of a computation with what it was computed from: the parameters, the
    base year, the last month, the caps C_y per year (``None`` = unlimited) and, when computed
    from rows, the SHA-256 of the rows read (the data vintage's hash)."""

    params: Parameters
    base_year: int
    through: Period
    caps: Mapping[int, Decimal | None]
    figures: tuple[Figure, ...]
    rows_hash: str | None = None
    _by_key: Mapping[tuple[str, str, Period], Figure] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {f.key: f for f in self.figures})

    def figure(self, family: str, domain: str, period: Period | str) -> Figure:
        """The figure of (family, domain, period); ``KeyError`` if there is none."""
        return self._by_key[(family, domain, Period.of(period))]

    def series(self, family: str, domain: str) -> list[Figure]:
        """The figures of one domain, month by month."""
        return [f for f in self.figures if f.family == family and f.domain == domain]


def _x_of(cell: Cell) -> dict[str, int | Decimal]:
    return {k: cell.indicator(k) for k in INDICATORS}


def _check_inputs(
    caps: Mapping[int, Decimal | None], base_year: int, through: Period,
) -> None:
    if through < Period(base_year, 12):
        raise IndexInputError(
            f"through {through} is before December {base_year}: the base year {base_year} "
            f"must be complete, since it is its own reference")
    for year in range(base_year, through.year + 1):
        if year not in caps:
            raise IndexInputError(f"no cap given for {year} (None means unlimited)")
        cap = caps[year]
        if cap is not None and (not isinstance(cap, Decimal) or not cap > 0):
            raise IndexInputError(f"the cap of {year} must be a positive Decimal or None")


def compute_figures(
    cells: Iterable[Cell],
    *,
    caps: Mapping[int, Decimal | None],
    base_year: int,
    through: Period | str,
    params: Parameters | None = None,
) -> IndexRun:
    """Every figure, for every domain of every family, from January ``base_year`` through
    ``through`` (methodology v1, *The index*, *Contributions*).

    ``cells`` are the monthly cells (a missing one is all zeros) of at least January of the
    base year through ``through``, with V capped as ``caps`` say; ``v_next`` is needed for the
    months of every year before ``through``'s. ``through`` must be December of the base year
    or later (the base year is its own reference). Figures come in publication order: family
    (transfer, regional, industry), domain, month.

    >>> cells = [Cell("transfer", "SZ", Period(2020, m), n=m, v=Decimal(100 * m), p=2 * m,
    ...               x=m, u=m) for m in range(1, 13)]
    >>> run = compute_figures(cells, caps={2020: None}, base_year=2020, through="2020-12")
    >>> len(run.figures), str(run.figure("transfer", "SZ", "2020-06").value_2dp)
    (264, '92.31')
    >>> sum(f.value for f in run.series("transfer", "SZ")) / 12
    Fraction(100, 1)
    """
    params = params or Parameters()
    through = Period.of(through)
    _check_inputs(caps, base_year, through)
    by_key: dict[tuple[str, str, Period], Cell] = {}
    for cell in cells:
        if cell.family not in DOMAINS or cell.domain not in DOMAINS[cell.family]:
            raise IndexInputError(f"unknown family/domain {cell.family}/{cell.domain}")
        if cell.key in by_key:
            raise IndexInputError(f"two cells for {cell.family}/{cell.domain}/{cell.period}")
        by_key[cell.key] = cell
    figures: list[Figure] = []
    for family in FAMILIES:
        for domain in DOMAINS[family]:
            figures.extend(_domain_figures(family, domain, by_key, caps, base_year, through,
                                           params))
    return IndexRun(params=params, base_year=base_year, through=through, caps=dict(caps),
                    figures=tuple(figures))


def _domain_figures(
    family: str,
    domain: str,
    by_key: Mapping[tuple[str, str, Period], Cell],
    caps: Mapping[int, Decimal | None],
    base_year: int,
    through: Period,
    params: Parameters,
) -> list[Figure]:
    def cell_at(period: Period) -> Cell:
        found = by_key.get((family, domain, period))
        return found if found is not None else Cell(family, domain, period, v_next=_ZERO)

    figures: list[Figure] = []
    values: dict[Period, Fraction | None] = {}
    previous_year: list[Fraction | None] | None = None
    for year in range(base_year, through.year + 1):
        ref = reference_year(year, base_year)
        ref_cells = [cell_at(Period(ref, m)) for m in range(1, 13)]
        totals: dict[str, Fraction] = {
            k: Fraction(sum(int(c.indicator(k)) for c in ref_cells)) for k in INDICATORS
            if k != "V"
        }
        with exact_decimal_context():
            v_total = Decimal(0)
            for c in ref_cells:
                v_ref = c.v if year == base_year else c.v_next
                if v_ref is None:
                    raise IndexInputError(
                        f"cell {family}/{domain}/{c.period} has no v_next: V of {ref} "
                        f"capped with C_{year} is needed as the reference of {year}")
                v_total += v_ref
        totals["V"] = Fraction(v_total)
        weights = indicator_weights(active_indicators(totals, params.activity_threshold))
        refs = {k: totals[k] / 12 for k in weights}
        if any(r == 0 for r in refs.values()):
            raise IndexInputError(f"{family}/{domain}: an active indicator has reference 0")
        link = link_factor(previous_year) if weights else None
        year_values: list[Fraction | None] = []
        for t in (p for p in (Period(year, m) for m in range(1, 13)) if p <= through):
            cell = cell_at(t)
            x = _x_of(cell)
            value: Fraction | None = None
            contrib: dict[str, Fraction] | None = None
            split: dict[str, dict[str, Fraction]] | None = None
            if link is not None:
                value = composite_index(link, weights, x, refs)
                if t.month > 1:
                    before = cell_at(t.shift(-1))
                    contrib = contributions(link, weights, x, _x_of(before), refs)
                    split = _split(link, weights, refs, cell, before)
            values[t] = value
            year_values.append(value)
            figures.append(Figure(
                family=family, domain=domain, period=t, ref_year=ref,
                value=value,
                value_2dp=None if value is None else round_half_up(value, 2),
                mom_pct=None, yoy_pct=None,  # filled below, once every value is known
                x=x,
                link=link,
                cap=caps[year],
                weights=dict(weights) if link is not None else None,
                refs=dict(refs) if link is not None else None,
                contributions=contrib,
                contributions_split=split,
                reason=None if link is not None else f"no active indicator over {ref}",
                contract_count=cell.n,
                total_amount=cell.total_amount,
                technical_amount=cell.technical_amount,
                capped_count=cell.capped_count,
                capped_amount=cell.capped_amount,
            ))
        previous_year = year_values if link is not None and len(year_values) == 12 else None

    return [
        replace(f, mom_pct=pct_change(values[f.period], values.get(f.period.shift(-1))),
                yoy_pct=pct_change(values[f.period], values.get(f.period.shift(-12))))
        for f in figures
    ]


def _split(
    link: Fraction,
    weights: Mapping[str, Fraction],
    refs: Mapping[str, Fraction],
    now: Cell,
    before: Cell,
) -> dict[str, dict[str, Fraction]]:
    buckets = sorted(
        {b for b, s in now.split.items() if s.n} | {b for b, s in before.split.items() if s.n})
    result: dict[str, dict[str, Fraction]] = {}
    for k in SPLIT_INDICATORS:
        if k not in weights:
            continue
        factor = link * weights[k] / refs[k]
        attr = k.lower()
        parts: dict[str, Fraction] = {}
        for b in buckets:
            a = now.split.get(b)
            z = before.split.get(b)
            x_now = Fraction(getattr(a, attr)) if a is not None else Fraction(0)
            x_before = Fraction(getattr(z, attr)) if z is not None else Fraction(0)
            parts[b] = factor * (x_now - x_before)
        result[k] = parts
    return result


def compute_from_rows(
    rows: Iterable[ContractRow],
    through: Period | str,
    params: Parameters | None = None,
) -> IndexRun:
    """Both layers at once: base year, caps, cells and figures from the counted contracts.

    ``rows`` are every counted contract (registered, not cancelled, latest values), also
    those outside any domain and before the base year; those after ``through`` are ignored.
    The base year is ``params.base_year`` or the default (see ``default_base_year``).

    >>> rows = [ContractRow(f"C{i}", Period(2020, 1 + i % 12), f"S{i % 7}", f"B{i % 5}", None,
    ...                     "320505", "320583", "university", "enterprise", "biomedicine",
    ...                     Decimal(1000 + i), Decimal(2000)) for i in range(60)]
    >>> run = compute_from_rows(rows, "2020-12")
    >>> run.base_year, run.caps, len(run.figures)
    (2020, {2020: None}, 264)
    >>> compute_from_rows(rows, "2019-12")
    Traceback (most recent call last):
    ...
    indices.model.IndexInputError: no counted contract on or before 2019-12
    """
    params = params or Parameters()
    through = Period.of(through)
    counted = [row for row in rows if row.period <= through]
    if not counted:
        raise IndexInputError(f"no counted contract on or before {through}")
    base_year = params.base_year or default_base_year(row.period for row in counted)
    if through < Period(base_year, 12):
        raise IndexInputError(
            f"through {through} is before December {base_year}: the base year {base_year} "
            f"must be complete, since it is its own reference")
    caps = compute_caps(counted, range(base_year, through.year + 1), params)
    cells = aggregate(counted, caps, through, start=Period(base_year, 1))
    run = compute_figures(cells, caps=caps, base_year=base_year, through=through,
                          params=params)
    return IndexRun(params=run.params, base_year=run.base_year, through=run.through,
                    caps=run.caps, figures=run.figures, rows_hash=rows_digest(counted))

