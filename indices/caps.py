"""The cap on one contract, C_y, and the default base year (methodology v1).

*Cap on one contract*: C_y is the nearest-rank q-th percentile (q = 0.99) of
``technical_amount`` over all ``SZ`` contracts registered in the 36 months from January of
y − 3 to December of y − 1, i.e. the value at 1-based position ⌈q·n⌉ of the ascending list. With
fewer than 100 such contracts C_y is unlimited (``None``). C_y is frozen for year y.

In PostgreSQL the same value is ``percentile_disc(0.99) WITHIN GROUP (ORDER BY
technical_amount)`` over the window (``percentile_disc`` returns the first value whose
cumulative share reaches q, which is the nearest rank).

*Base year*: by default the year of the earliest counted contract if that contract falls in
January, otherwise the next year.

>>> from decimal import Decimal as D
>>> nearest_rank([D(v) for v in range(1, 201)], D("0.99"))
Decimal('198')
>>> default_base_year([Period(2019, 1), Period(2019, 5)]), default_base_year([Period(2019, 2)])
(2019, 2020)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction

from .model import ContractRow, IndexInputError, Parameters, in_suzhou
from .periods import Period

__all__ = [
    "cap_from_amounts",
    "cap_window",
    "compute_caps",
    "default_base_year",
    "nearest_rank",
]


def nearest_rank(values: Iterable[Decimal], q: Decimal) -> Decimal:
    """The nearest-rank q-quantile: the value at 1-based position ⌈q·n⌉ of the ascending list.

    Equivalently, the smallest value c with #{v ≤ c} ≥ q·n.

    >>> from decimal import Decimal as D
    >>> nearest_rank([D(5), D(1), D(3)], D("0.5"))
    Decimal('3')
    >>> nearest_rank([D(v) for v in range(1, 101)], D("0.99"))
    Decimal('99')
    >>> nearest_rank([], D("0.99"))
    Traceback (most recent call last):
    ...
    indices.model.IndexInputError: the percentile of no values is undefined
    """
    ordered = sorted(values)
    if not ordered:
        raise IndexInputError("the percentile of no values is undefined")
    if not Decimal(0) < q <= Decimal(1):
        raise IndexInputError(f"q must be in (0, 1], got {q}")
    position = math.ceil(Fraction(q) * len(ordered))
    return ordered[max(position, 1) - 1]


def cap_from_amounts(
    amounts: Iterable[Decimal], params: Parameters | None = None,
) -> Decimal | None:
    """C_y from the technical amounts of the ``SZ`` contracts in its window: ``None`` (unlimited)
    with fewer than ``params.cap_min_contracts`` of them, else their nearest-rank percentile.

    >>> from decimal import Decimal as D
    >>> cap_from_amounts([D(1)] * 99) is None
    True
    >>> cap_from_amounts([D(v) for v in range(100, 0, -1)])
    Decimal('99')
    """
    params = params or Parameters()
    values = list(amounts)
    if len(values) < params.cap_min_contracts:
        return None
    return nearest_rank(values, params.percentile)


def cap_window(year: int, params: Parameters | None = None) -> tuple[Period, Period]:
    """The first and last month of C_y's window: the ``window_months`` months before January y.

    >>> [str(p) for p in cap_window(2021)]
    ['2018-01', '2020-12']
    """
    params = params or Parameters()
    return Period(year, 1).shift(-params.window_months), Period(year - 1, 12)


def compute_caps(
    rows: Iterable[ContractRow], years: Iterable[int], params: Parameters | None = None,
) -> dict[int, Decimal | None]:
    """C_y for each of ``years`` from the counted contracts ``rows`` (only ``SZ`` contracts in
    each year's window are looked at). ``None`` means unlimited.

    >>> from decimal import Decimal as D
    >>> rows = [ContractRow(f"C{i}", Period(2019, 1 + i % 12), "S", "B", None, "320505", "310115",
    ...                     "enterprise", "enterprise", "aerospace", D(i), D(i))
    ...         for i in range(1, 201)]
    >>> compute_caps(rows, [2019, 2020, 2023])
    {2019: None, 2020: Decimal('198'), 2023: None}
    """
    params = params or Parameters()
    sz = [(row.period, row.technical_amount) for row in rows if in_suzhou(row)]
    caps: dict[int, Decimal | None] = {}
    for year in sorted(set(years)):
        first, last = cap_window(year, params)
        caps[year] = cap_from_amounts(
            (amount for period, amount in sz if first <= period <= last), params)
    return caps


def default_base_year(periods: Iterable[Period]) -> int:
    """The default base year from the months of the counted contracts: the first one's year if
    it is a January, else the next year (the first year the data covers from its January).

    >>> default_base_year([Period(2020, 12), Period(2019, 3)])
    2020
    >>> default_base_year([])
    Traceback (most recent call last):
    ...
    indices.model.IndexInputError: no counted contract: the base year is undefined
    """
    first = min(periods, default=None)
    if first is None:
        raise IndexInputError("no counted contract: the base year is undefined")
    return first.year if first.month == 1 else first.year + 1
