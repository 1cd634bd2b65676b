"""Layer 1: counted contract rows -> monthly cells (methodology v1, *Sub-indicators*).

A :class:`Cell` holds everything the figures need about one (family, domain, month): the six
sub-indicators, the raw totals and the breakdown of N, V, X and U by split bucket. Cells are
plain data: :func:`aggregate` fills them from :class:`~indices.model.ContractRow` objects, and a
SQL ``GROUP BY`` may fill them as well (see :class:`Cell` for the exact definition of each
field). A (family, domain, month) without a contract may be left out: it reads as all zeros.

Recipe for a SQL implementation, with ``c`` the counted contracts (registered, not cancelled,
latest version), ``month`` the Asia/Shanghai month of ``registered_at``, and ``caps(year,
cap)`` the caps table (``cap`` NULL = unlimited):

1. membership: one row per (contract, family, domain): ``('transfer','SZ')`` when seller or
   buyer region is one of the ten; ``('regional', r)`` for each distinct r of {seller region,
   buyer region} among the ten; ``('industry', field)`` when in the ``SZ`` set;
2. per (family, domain, month): ``n = COUNT(*)``, ``v = SUM(LEAST(technical, COALESCE(cap_y,
   technical)))`` with cap_y the cap of the month's year, ``v_next`` the same with the cap of
   the next year, ``x = COUNT(*) FILTER (WHERE seller_region <> buyer_region)``, ``u = COUNT(*)
   FILTER (WHERE seller kind IN ('university','research_institute') AND buyer kind =
   'enterprise')``, the raw sums, ``capped_count = COUNT(*) FILTER (WHERE technical > cap_y)``,
   ``capped_amount = SUM(technical - cap_y) FILTER (WHERE technical > cap_y)``;
3. ``p``: ``COUNT(DISTINCT org)`` over the union of the seller, buyer and intermediary ids of
   those contracts; ``e``: the same, restricted to organisations whose first month, i.e.
   ``MIN(month)`` over *every* counted contract in any role (whatever its regions), is the
   cell's month;
4. ``split``: group step 2 (n, v, x, u only) further by the bucket: the seller's region, or
   ``'outside'`` when it is not one of the ten, for ``transfer`` and ``industry``; the field for
   ``regional``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import (
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Final

from .model import (
    FAMILIES,
    INDICATORS,
    ContractRow,
    IndexInputError,
    domains_of,
    is_linkage,
    is_university_to_enterprise,
    split_key,
)
from .periods import Period

__all__ = ["Cell", "SplitCell", "aggregate", "cell_key", "exact_decimal_context"]

_ZERO: Final = Decimal(0)
_EXACT_TRAPS: Final = [Inexact, InvalidOperation, DivisionByZero, Overflow]
_FAMILY_ORDER: Final = {family: i for i, family in enumerate(FAMILIES)}


def exact_decimal_context() -> AbstractContextManager[Context]:
    """A Decimal context in which sums of money are exact (any rounding raises).

    >>> with exact_decimal_context():
    ...     Decimal("0.10") + Decimal("0.20")
    Decimal('0.30')
    """
    return localcontext(Context(prec=200, traps=_EXACT_TRAPS))


@dataclass(frozen=True, slots=True)
class SplitCell:
    """N, V, X and U of one split bucket of a cell (same definitions as :class:`Cell`, over
    the cell's contracts of that bucket only). The buckets of a cell add up to the cell."""

    n: int
    v: Decimal
    x: int
    u: int


@dataclass(frozen=True, slots=True)
class Cell:
    """The sub-indicators and raw totals of one (family, domain, month).

    Over S = the counted contracts of the domain whose Shanghai month is ``period``, with
    C_y the cap of the period's year and C_{y+1} that of the next year (``None`` = unlimited):

    - ``n``: N, the number of contracts in S (also the raw contract count);
    - ``v``: V, Σ min(technical_amount, C_y) over S;
    - ``v_next``: Σ min(technical_amount, C_{y+1}) over S: V of these months as the
      *reference* of year y + 1 (the next year's cap applies to its reference year). ``None``
      (the default) when C_{y+1} is not known; :func:`~indices.compute.compute_figures`
      refuses a ``None`` it needs (the months of every year before ``through``'s);
    - ``p``: P, the number of distinct organisations that are seller, buyer or intermediary on
      a contract of S, wherever they are;
    - ``e``: E, those of P whose first appearance on any counted contract in the whole data
      set (any role, any region, also before the base year) is in ``period``;
    - ``x``: X, contracts of S whose seller region code differs from the buyer's;
    - ``u``: U, contracts of S with a university or research-institute seller and an
      enterprise buyer;
    - ``total_amount``, ``technical_amount``: raw Σ over S, uncapped;
    - ``capped_count``: contracts of S with technical_amount > C_y; ``capped_amount``:
      Σ (technical_amount − C_y) over them (so ``technical_amount − capped_amount == v``);
    - ``split``: bucket -> :class:`SplitCell` with N, V (capped with C_y), X, U of the
      contracts of S in that bucket: the seller's region or ``"outside"`` for the ``transfer``
      and ``industry`` families, the field for ``regional``. Only buckets with a contract.

    A cell not given reads as zeros (``v_next`` 0 too).
    """

    family: str
    domain: str
    period: Period
    n: int = 0
    v: Decimal = _ZERO
    v_next: Decimal | None = None
    p: int = 0
    e: int = 0
    x: int = 0
    u: int = 0
    total_amount: Decimal = _ZERO
    technical_amount: Decimal = _ZERO
    capped_count: int = 0
    capped_amount: Decimal = _ZERO
    split: Mapping[str, SplitCell] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "period", Period.of(self.period))
        for name in ("n", "p", "e", "x", "u", "capped_count"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise IndexInputError(f"cell {self.key}: {name} must be an int >= 0")
        for name in ("v", "v_next", "total_amount", "technical_amount", "capped_amount"):
            value = getattr(self, name)
            if value is None and name == "v_next":
                continue
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise IndexInputError(f"cell {self.key}: {name} must be a Decimal >= 0")
        if not self.e <= self.p or not self.x <= self.n or not self.u <= self.n:
            raise IndexInputError(f"cell {self.key}: need e <= p, x <= n and u <= n")

    @property
    def key(self) -> tuple[str, str, Period]:
        """``(family, domain, period)``."""
        return (self.family, self.domain, self.period)

    def indicator(self, k: str) -> int | Decimal:
        """x(k, d, t) for k in N V P E X U (V capped with the period's own year's cap).

        >>> Cell("transfer", "SZ", Period(2020, 1), n=3, v=Decimal("7.50")).indicator("V")
        Decimal('7.50')
        """
        if k == "V":
            return self.v
        if k in INDICATORS:
            value: int = getattr(self, k.lower())
            return value
        raise IndexInputError(f"unknown indicator {k!r}")


def cell_key(cell: Cell) -> tuple[int, str, Period]:
    """Publication order: family (transfer, regional, industry), domain, period."""
    return (_FAMILY_ORDER.get(cell.family, len(FAMILIES)), cell.domain, cell.period)


class _Acc:
    __slots__ = ("capped_amount", "capped_count", "n", "parties", "split", "technical",
                 "total", "u", "v", "v_next", "x")

    def __init__(self) -> None:
        self.n = 0
        self.v = _ZERO
        self.v_next: Decimal | None = _ZERO
        self.parties: set[str] = set()
        self.x = 0
        self.u = 0
        self.total = _ZERO
        self.technical = _ZERO
        self.capped_count = 0
        self.capped_amount = _ZERO
        self.split: dict[str, _SplitAcc] = {}


class _SplitAcc:
    __slots__ = ("n", "u", "v", "x")

    def __init__(self) -> None:
        self.n = 0
        self.v = _ZERO
        self.x = 0
        self.u = 0


def aggregate(
    rows: Iterable[ContractRow],
    caps: Mapping[int, Decimal | None],
    through: Period,
    *,
    start: Period | None = None,
) -> list[Cell]:
    """Aggregate counted contracts into the non-empty cells of the months ``start`` through
    ``through`` (default ``start``: the first month with a contract), in publication order.

    ``rows`` are all counted contracts (those after ``through`` are ignored; earlier ones
    still decide E's first appearances). ``caps`` maps a year to C_y (``None`` = unlimited)
    and must hold every year of the range; C_{y+1} missing from ``caps`` makes ``v_next``
    ``None`` for the months of y.

    V = Σ min(technical_amount, C_y); E = #{o ∈ P : first month of o = t}.

    >>> from decimal import Decimal as D
    >>> rows = [
    ...     ContractRow("A", Period(2020, 1), "s1", "b1", None, "320505", "320583", "university",
    ...                 "enterprise", "biomedicine", D(500), D(600)),
    ...     ContractRow("B", Period(2020, 1), "s2", "b1", "i1", "310115", "320583", "enterprise",
    ...                 "enterprise", "aerospace", D(80), D(100)),
    ... ]
    >>> cells = aggregate(rows, {2020: D(300), 2021: None}, Period(2020, 1))
    >>> sz = cells[0]
    >>> (sz.domain, sz.n, sz.v, sz.v_next, sz.p, sz.e, sz.x, sz.u)
    ('SZ', 2, Decimal('380'), Decimal('580'), 4, 4, 2, 1)
    >>> (sz.capped_count, sz.capped_amount, sorted(sz.split))
    (1, Decimal('200'), ['320505', 'outside'])
    >>> [c.domain for c in cells]
    ['SZ', '320505', '320583', 'aerospace', 'biomedicine']
    """
    counted = [row for row in rows if row.period <= through]
    first_seen: dict[str, Period] = {}
    for row in counted:
        for party in row.parties:
            seen = first_seen.get(party)
            if seen is None or row.period < seen:
                first_seen[party] = row.period
    if start is None:
        start = min((row.period for row in counted), default=through)

    accs: dict[tuple[str, str, Period], _Acc] = {}
    with exact_decimal_context():
        for row in counted:
            if row.period < start:
                continue
            year = row.period.year
            if year not in caps:
                raise IndexInputError(f"no cap given for {year} (None means unlimited)")
            cap = caps[year]
            technical = row.technical_amount
            capped = technical if cap is None else min(technical, cap)
            capped_next: Decimal | None = None
            if year + 1 in caps:
                cap_next = caps[year + 1]
                capped_next = technical if cap_next is None else min(technical, cap_next)
            linkage = is_linkage(row)
            u = is_university_to_enterprise(row)
            for family, domain in domains_of(row):
                acc = accs.get((family, domain, row.period))
                if acc is None:
                    acc = accs[(family, domain, row.period)] = _Acc()
                acc.n += 1
                acc.v += capped
                if capped_next is None or acc.v_next is None:
                    acc.v_next = None
                else:
                    acc.v_next += capped_next
                acc.parties.update(row.parties)
                acc.x += linkage
                acc.u += u
                acc.total += row.total_amount
                acc.technical += technical
                if capped < technical:
                    acc.capped_count += 1
                    acc.capped_amount += technical - capped
                key = split_key(family, row)
                bucket = acc.split.get(key)
                if bucket is None:
                    bucket = acc.split[key] = _SplitAcc()
                bucket.n += 1
                bucket.v += capped
                bucket.x += linkage
                bucket.u += u

    cells = []
    for (family, domain, period), acc in accs.items():
        cells.append(Cell(
            family=family, domain=domain, period=period,
            n=acc.n, v=acc.v, v_next=acc.v_next,
            p=len(acc.parties),
            e=sum(1 for party in acc.parties if first_seen[party] == period),
            x=acc.x, u=acc.u,
            total_amount=acc.total, technical_amount=acc.technical,
            capped_count=acc.capped_count, capped_amount=acc.capped_amount,
            split={
                key: SplitCell(b.n, b.v, b.x, b.u) for key, b in sorted(acc.split.items())
            },
        ))
    cells.sort(key=cell_key)
    return cells
