"""The index cells, aggregated by the database (the recipe of `indices.cells`).

Three portable SQL statements over the counted contracts (registered, not cancelled, latest
amended values) fill :class:`indices.Cell` objects for a range of months, the same on
PostgreSQL and SQLite:

- `month_digests`: per Asia/Shanghai month, sums that change whenever a contract of that month
  is registered, amended (its version goes up) or cancelled. A publication stores them; the
  next one compares and recomputes only from the earliest month that changed;
- `caps`: C_y by nearest rank, read from the top of the window (the 99th percentile is the
  ⌈0.01·n⌉-th largest value or so, so the database keeps a small heap, not a full sort);
- `cells`: N, X, U and the raw sums by (family, domain, month, split bucket); P and E by
  counting distinct parties, with each party's first month (one existence probe per party for
  contracts before the range). Money is summed as integer fen, exact on both databases.
  The cap is applied in Python to the few contracts above the smallest cap.

Organisations never change region or kind once created (the import refuses it), so the
contracts alone decide what changed.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    union,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

import indices
from indices import Cell, Parameters, Period, SplitCell
from marketplace import db
from marketplace.contracts.models import Contract
from marketplace.organisations.models import Organisation

SHANGHAI = ZoneInfo("Asia/Shanghai")
TEN = indices.REGION_CODES
UNIVERSITY_KINDS = ("university", "research_institute")
BEFORE = "0000-00"  # a party's first month when it appeared before the range read


class shanghai_month(FunctionElement[str]):
    """``YYYY-MM`` of an instant in Asia/Shanghai time (methodology v1, *Data*)."""

    type = String()
    name = "shanghai_month"
    inherit_cache = True


@compiles(shanghai_month, "postgresql")
def _month_postgresql(element: shanghai_month, compiler: SQLCompiler, **kw: Any) -> str:
    return (f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE "
            "'Asia/Shanghai', 'YYYY-MM')")


@compiles(shanghai_month, "sqlite")
def _month_sqlite(element: shanghai_month, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps instants as UTC text; Shanghai has been UTC+8 without summer time since 1991.
    return f"strftime('%Y-%m', {compiler.process(element.clauses, **kw)}, '+8 hours')"


def fen(column: Any) -> ColumnElement[int]:
    """An amount in whole fen, as an integer: sums of it are exact on both databases."""
    return cast(func.round(column * 100), BigInteger)


def month_start(period: Period) -> datetime:
    """The UTC instant at which a Shanghai month begins."""
    return datetime(period.year, period.month, 1, tzinfo=SHANGHAI).astimezone(UTC)


def _counted(first: Period | None = None, last: Period | None = None) -> list[Any]:
    conditions: list[Any] = [Contract.status == "registered", Contract.registered_at.is_not(None)]
    if first is not None:
        conditions.append(Contract.registered_at >= month_start(first))
    if last is not None:
        conditions.append(Contract.registered_at < month_start(last.shift(1)))
    return conditions


# -- what changed ----------------------------------------------------------------------------

DIGEST_COLUMNS = ("contracts", "ids", "versions", "technical_fen", "total_fen", "sellers",
                  "buyers", "intermediaries")


def month_digests(through: Period) -> dict[str, list[int]]:
    """Per month up to ``through``: the sums of `DIGEST_COLUMNS` over its counted contracts."""
    month = shanghai_month(Contract.registered_at).label("month")
    sums = (Contract.id, Contract.id * Contract.version, fen(Contract.technical_amount),
            fen(Contract.total_amount), Contract.seller_id, Contract.buyer_id,
            func.coalesce(Contract.intermediary_id, 0))
    stmt = (select(month, func.count(), *map(func.sum, sums))
            .where(*_counted(last=through)).group_by(month))
    return {row[0]: [int(v) for v in row[1:]] for row in db.session.execute(stmt)}


def digest_hash(digests: Mapping[str, Sequence[int]]) -> str:
    """The data vintage's hash: SHA-256 of the month digests in canonical JSON."""
    text = json.dumps(sorted(digests.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def changed_months(old: Mapping[str, Sequence[int]], new: Mapping[str, Sequence[int]]
                   ) -> list[str]:
    """Months whose digest differs, appeared or disappeared, in order."""
    return sorted(m for m in set(old) | set(new) if list(old.get(m, ())) != list(new.get(m, ())))


# -- caps ------------------------------------------------------------------------------------

def _in_suzhou() -> tuple[Any, Any, ColumnElement[bool]]:
    seller, buyer = aliased(Organisation), aliased(Organisation)
    return seller, buyer, or_(seller.region_code.in_(TEN), buyer.region_code.in_(TEN))


def cap(year: int, params: Parameters) -> Decimal | None:
    """C_y: the nearest-rank percentile of the technical amounts of the ``SZ`` contracts in
    the window, or ``None`` (unlimited) with fewer than ``params.cap_min_contracts``."""
    first, last = indices.cap_window(year, params)
    seller, buyer, in_suzhou = _in_suzhou()

    def window(stmt: Select[Any]) -> Select[Any]:
        return (stmt.select_from(Contract).join(seller, seller.id == Contract.seller_id)
                .join(buyer, buyer.id == Contract.buyer_id)
                .where(*_counted(first, last), in_suzhou))

    n = db.session.scalar(window(select(func.count())))
    if not n or n < params.cap_min_contracts:
        return None
    rank = max(math.ceil(Fraction(params.percentile) * n), 1)  # nearest rank, ascending
    return db.session.scalar(window(select(Contract.technical_amount))
                             .order_by(Contract.technical_amount.desc())
                             .limit(1).offset(n - rank))


# -- cells -----------------------------------------------------------------------------------

def _membership(first: Period, last: Period) -> Any:
    """One row per (counted contract, family, domain) of the months, with its split bucket."""
    seller, buyer, in_suzhou = _in_suzhou()
    c = (select(Contract.id, shanghai_month(Contract.registered_at).label("month"),
                Contract.seller_id, Contract.buyer_id, Contract.intermediary_id,
                seller.region_code.label("s_region"), buyer.region_code.label("b_region"),
                Contract.field, fen(Contract.technical_amount).label("technical"),
                fen(Contract.total_amount).label("total"),
                case((seller.region_code != buyer.region_code, 1), else_=0).label("x"),
                case((and_(seller.kind.in_(UNIVERSITY_KINDS), buyer.kind == "enterprise"), 1),
                     else_=0).label("u"),
                in_suzhou.label("in_sz"))
         .join(seller, seller.id == Contract.seller_id)
         .join(buyer, buyer.id == Contract.buyer_id)
         .where(*_counted(first, last))).cte("c")
    seller_bucket = case((c.c.s_region.in_(TEN), c.c.s_region), else_=literal(indices.OUTSIDE))
    common = (c.c.month, c.c.technical, c.c.total, c.c.x, c.c.u)

    def member(family: str, domain: Any, bucket: Any, where: Any) -> Select[Any]:
        return select(literal(family).label("family"), domain.label("domain"),
                      bucket.label("bucket"), *common).where(where)

    m = union_all(
        member("transfer", literal(indices.SZ), seller_bucket, c.c.in_sz),
        member("regional", c.c.s_region, c.c.field, c.c.s_region.in_(TEN)),
        member("regional", c.c.b_region, c.c.field,
               and_(c.c.b_region.in_(TEN), c.c.b_region != c.c.s_region)),
        member("industry", c.c.field, seller_bucket, c.c.in_sz),
    ).cte("m")
    return c, m


def _appeared_before(party: Any, first: Period) -> ColumnElement[bool]:
    """Whether a party is on a counted contract registered before the month ``first``.

    One index probe per role, stopping at the first hit (LIMIT 1 keeps the planner from
    hashing every earlier contract instead); most parties are found in their first role.
    """
    before = _counted(last=first.shift(-1))
    return or_(*(select(literal(1)).where(role == party, *before).limit(1)
                 .scalar_subquery().is_not(None)
                 for role in (Contract.seller_id, Contract.buyer_id, Contract.intermediary_id)))


def cells(first: Period, last: Period, caps: Mapping[int, Decimal | None],
          *, earliest: Period | None = None) -> list[Cell]:
    """The non-empty cells of the months ``first`` through ``last``, in publication order.

    ``caps`` must hold C_y of each year of the range and, where known, of the year after (for
    ``v_next``). ``earliest`` is the first month with any counted contract: from there on no
    party can have appeared before, and the existence probes are skipped.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        # Enough memory for the grouping to stay in memory (the default 4 MB spills to disk).
        db.session.execute(text("SET LOCAL work_mem = '256MB'"))
        # Compiling these few statements to machine code costs more than it saves.
        db.session.execute(text("SET LOCAL jit = off"))
    c, m = _membership(first, last)
    split: dict[tuple[str, str, str], dict[str, list[int]]] = defaultdict(dict)
    for family, domain, month, bucket, n, technical, total, x, u in db.session.execute(
            select(m.c.family, m.c.domain, m.c.month, m.c.bucket, func.count(),
                   func.sum(m.c.technical), func.sum(m.c.total), func.sum(m.c.x), func.sum(m.c.u))
            .group_by(m.c.family, m.c.domain, m.c.month, m.c.bucket)):
        split[(family, domain, month)][bucket] = [int(n), int(technical), int(total), int(x),
                                                  int(u)]

    # The cap: subtract what it cuts, from the few contracts above the smallest cap (their
    # domains and buckets as `indices` assigns them).
    cut: dict[tuple[str, str, str], dict[str, list[int]]] = defaultdict(dict)
    cut_next: dict[tuple[str, str, str], int] = defaultdict(int)
    finite = [int(v * 100) for v in caps.values() if v is not None]
    if finite:
        for month, technical, s_region, b_region, field in db.session.execute(
                select(c.c.month, c.c.technical, c.c.s_region, c.c.b_region, c.c.field)
                .where(c.c.technical > min(finite))):
            year = int(month[:4])
            row = indices.ContractRow("", Period.parse(month), "s", "b", None, s_region,
                                      b_region, "other", "other", field, Decimal(1), Decimal(1))
            cap_y, cap_next = caps[year], caps.get(year + 1)
            for family, domain in indices.domains_of(row):
                key = (family, domain, month)
                if cap_y is not None and technical > cap_y * 100:
                    over = cut[key].setdefault(indices.split_key(family, row), [0, 0])
                    over[0] += 1
                    over[1] += technical - int(cap_y * 100)
                if cap_next is not None and technical > cap_next * 100:
                    cut_next[key] += technical - int(cap_next * 100)

    # P and E: distinct parties per cell, and those whose first month is the cell's. One
    # narrow row per (contract, party), each party once per cell of its contract's domains.
    pc = union_all(*(
        select(c.c.month, party.label("party"), c.c.s_region, c.c.b_region, c.c.field,
               c.c.in_sz).where(party.is_not(None))
        for party in (c.c.seller_id, c.c.buyer_id, c.c.intermediary_id))).cte("pc")
    seen = select(pc.c.party, func.min(pc.c.month).label("month")).group_by(
        pc.c.party).cte("seen")
    first_month: Any = seen.c.month
    if earliest is None or first > earliest:
        first_month = case((_appeared_before(seen.c.party, first), literal(BEFORE)),
                           else_=seen.c.month)
    # Materialised: the probes run once a party, not once a (cell, party) pair.
    first_seen = select(seen.c.party, first_month.label("first_month")).cte(
        "first_seen").prefix_with("MATERIALIZED", dialect="postgresql")

    def cell_of(family: str, domain: Any, where: Any) -> Select[Any]:
        return select(literal(family).label("family"), domain.label("domain"), pc.c.month,
                      pc.c.party).where(where)

    pairs = union(  # UNION, not UNION ALL: each party once per cell
        cell_of("transfer", literal(indices.SZ), pc.c.in_sz),
        cell_of("industry", pc.c.field, pc.c.in_sz),
        cell_of("regional", pc.c.s_region, pc.c.s_region.in_(TEN)),
        cell_of("regional", pc.c.b_region, pc.c.b_region.in_(TEN)),
    ).subquery("pairs")
    participation = {
        (family, domain, month): (int(p), int(e))
        for family, domain, month, p, e in db.session.execute(
            select(pairs.c.family, pairs.c.domain, pairs.c.month, func.count(),
                   func.sum(case((first_seen.c.first_month == pairs.c.month, 1), else_=0)))
            .join(first_seen, first_seen.c.party == pairs.c.party)
            .group_by(pairs.c.family, pairs.c.domain, pairs.c.month))}

    result = []
    for key, buckets in split.items():
        family, domain, month = key
        period = Period.parse(month)
        year = period.year
        over = cut.get(key, {})
        n = technical = total = x = u = 0
        split_cells = {}
        for bucket in sorted(buckets):
            bn, btech, btotal, bx, bu = buckets[bucket]
            n, technical, total, x, u = n + bn, technical + btech, total + btotal, x + bx, u + bu
            split_cells[bucket] = SplitCell(bn, _yuan(btech - over.get(bucket, [0, 0])[1]), bx, bu)
        capped_count = sum(o[0] for o in over.values())
        capped_fen = sum(o[1] for o in over.values())
        v_next = None if caps.get(year + 1, False) is False else _yuan(technical - cut_next[key])
        p, e = participation[key]
        result.append(Cell(
            family=family, domain=domain, period=period, n=n, v=_yuan(technical - capped_fen),
            v_next=v_next, p=p, e=e, x=x, u=u, total_amount=_yuan(total),
            technical_amount=_yuan(technical), capped_count=capped_count,
            capped_amount=_yuan(capped_fen), split=split_cells))
    return sorted(result, key=indices.cell_key)


def _yuan(fen_amount: int) -> Decimal:
    """Fen as yuan with two decimals (0 as plain 0, as `indices.aggregate` gives it)."""
    return Decimal(fen_amount).scaleb(-2) if fen_amount else Decimal(0)
