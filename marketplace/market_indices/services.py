"""Publishing the indices: aggregate in the database, compute with `indices`, store revisions.

A publication reads the registered, not cancelled contracts as they stand (latest amended
values), aggregated by the database into monthly cells (`aggregation`), computes every
complete month of all 22 domains, and stores a new revision only of the figures whose values
changed, with the reason. Over unchanged data it publishes nothing.
It runs in one transaction under an advisory lock: two publishers at once publish each figure
once, and one killed half way leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select, text, update

import indices
from indices import Cell, IndexInputError, Parameters, Period, SplitCell
from marketplace import db
from marketplace.audit.services import record
from marketplace.auth.identity import Identity
from marketplace.errors import NotFound, ValidationProblem
from marketplace.market_indices import aggregation
from marketplace.market_indices.models import IndexFigure, IndexPublication
from marketplace.reference import FIELDS, REGIONS

PUBLISH_LOCK = 0x4D4B5449
FAMILY_NAMES = {"transfer": "技术转移交易指数", "regional": "技术交易区域指数",
                "industry": "技术交易行业指数"}


def domain_name(family: str, domain: str) -> str:
    if family == "transfer":
        return "苏州市"
    if family == "regional":
        return REGIONS[domain].name
    return FIELDS[domain]


def domains(family: str) -> tuple[str, ...]:
    return indices.DOMAINS[family]


def last_complete_month(now: datetime | None = None) -> Period:
    return indices.period_of(now or db.utcnow()).shift(-1)


@dataclass
class Computed:
    run: indices.IndexRun | None  # None: nothing changed since the latest publication
    cells: list[Cell]
    rows: int
    digests: dict[str, list[int]]
    recomputed_from: Period | None


def _reusable(previous: IndexPublication | None, params: Parameters, base_year: int,
              through: Period) -> IndexPublication | None:
    """The latest publication whose stored cells a new one may build on."""
    if (previous is None or previous.month_digests is None
            or previous.parameters != params.to_dict() or previous.base_year != base_year
            or Period.parse(previous.through) > through):
        return None
    return previous


def compute(through: Period, params: Parameters) -> Computed:
    """The figures of every month from January of the base year through `through`.

    The database aggregates (`aggregation`); only the months from the earliest one whose data
    changed since the latest publication are aggregated again, the others come from its stored
    cells. A cap that changes (or becomes known) sends the recomputation back to the January
    of the year before, whose months carry the next year's cap in `v_next`.
    """
    digests = aggregation.month_digests(through)
    if not digests:
        raise IndexInputError(f"no registered contract on or before {through}")
    months = sorted(digests)
    base_year = params.base_year or indices.default_base_year(Period.parse(m) for m in months)
    if through < Period(base_year, 12):
        raise IndexInputError(
            f"{through} is before December {base_year}: the base year must be complete")
    previous = _reusable(db.session.scalars(
        select(IndexPublication).order_by(IndexPublication.id.desc()).limit(1)).first(),
        params, base_year, through)
    start = Period(base_year, 1)
    old_caps = _caps_from_json(previous.caps) if previous else {}
    if previous is None:
        recompute_from = start
        changed: list[str] = months
    else:
        changed = aggregation.changed_months(previous.month_digests or {}, digests)
        firsts = [Period.parse(m) for m in changed]
        previous_through = Period.parse(previous.through)
        if previous_through < through:  # the months after the previous publication are new
            firsts.append(previous_through.shift(1))
        recompute_from = max(min(firsts), start) if firsts else through.shift(1)

    caps: dict[int, Decimal | None] = {}
    for year in range(base_year, through.year + 1):
        window = indices.cap_window(year, params)
        window_changed = any(window[0] <= Period.parse(m) <= window[1] for m in changed)
        if year in old_caps and not window_changed:
            caps[year] = old_caps[year]
        else:
            caps[year] = aggregation.cap(year, params)
        if year not in old_caps or caps[year] != old_caps[year]:
            recompute_from = min(recompute_from, max(Period(year - 1, 1), start))

    contracts_read = sum(d[0] for d in digests.values())
    if recompute_from > through:
        return Computed(None, [], contracts_read, digests, None)
    kept = [] if previous is None else [
        cell for cell in map(cell_from_json, previous.cells) if cell.period < recompute_from]
    fresh = aggregation.cells(recompute_from, through, caps, earliest=Period.parse(months[0]))
    cells = sorted(kept + fresh, key=indices.cell_key)
    run = indices.compute_figures(cells, caps=caps, base_year=base_year, through=through,
                                  params=params)
    run = indices.IndexRun(params=run.params, base_year=run.base_year, through=run.through,
                           caps=run.caps, figures=run.figures,
                           rows_hash=aggregation.digest_hash(digests))
    return Computed(run, cells, contracts_read, digests, recompute_from)


def cell_to_json(cell: Cell) -> dict[str, Any]:
    return {
        "family": cell.family, "domain": cell.domain, "period": str(cell.period),
        "n": cell.n, "v": str(cell.v), "v_next": None if cell.v_next is None else str(cell.v_next),
        "p": cell.p, "e": cell.e, "x": cell.x, "u": cell.u,
        "total_amount": str(cell.total_amount), "technical_amount": str(cell.technical_amount),
        "capped_count": cell.capped_count, "capped_amount": str(cell.capped_amount),
        "split": {k: [s.n, str(s.v), s.x, s.u] for k, s in cell.split.items()},
    }


def cell_from_json(d: dict[str, Any]) -> Cell:
    return Cell(
        family=d["family"], domain=d["domain"], period=Period.parse(d["period"]), n=d["n"],
        v=Decimal(d["v"]), v_next=None if d["v_next"] is None else Decimal(d["v_next"]),
        p=d["p"], e=d["e"], x=d["x"], u=d["u"], total_amount=Decimal(d["total_amount"]),
        technical_amount=Decimal(d["technical_amount"]), capped_count=d["capped_count"],
        capped_amount=Decimal(d["capped_amount"]),
        split={k: SplitCell(s[0], Decimal(s[1]), s[2], s[3]) for k, s in d["split"].items()},
    )


def _caps_json(caps: dict[int, Decimal | None]) -> dict[str, str | None]:
    return {str(y): None if c is None else str(c) for y, c in caps.items()}


def _caps_from_json(caps: dict[str, str | None]) -> dict[int, Decimal | None]:
    return {int(y): None if c is None else Decimal(c) for y, c in caps.items()}


def _detail(figure: indices.Figure) -> dict[str, Any]:
    return indices.figure_to_dict(figure, extended=True)


@dataclass
class PublishResult:
    through: str
    contracts_read: int
    figures_computed: int
    figures_published: int
    revised: int
    publication_id: int | None
    data_hash: str
    skipped_reason: str | None = None
    aggregated: tuple[str, str] | None = None
    changed: list[tuple[str, str, str]] = field(default_factory=list)

    def summary(self) -> str:
        read = (f"{self.contracts_read} contracts" if self.aggregated is None else
                f"{self.contracts_read} contracts, aggregated {self.aggregated[0]} to "
                f"{self.aggregated[1]}")
        if self.publication_id is None and self.aggregated is None:
            return (f"indices through {self.through}: the {self.contracts_read} contracts read "
                    "are as the latest publication read them; nothing published")
        if self.publication_id is None:
            return (f"indices through {self.through}: {self.figures_computed} figures computed "
                    f"from {read}; nothing changed, nothing published")
        return (f"indices through {self.through}: {self.figures_published} figures published "
                f"({self.revised} revisions of earlier figures) from {read}, data vintage "
                f"{self.data_hash[:12]}")


def parse_through(text: str | None, now: datetime | None = None) -> Period:
    latest = last_complete_month(now)
    if text is None:
        return latest
    try:
        through = Period.parse(text)
    except (ValueError, IndexInputError) as exc:
        raise ValidationProblem(errors={"through": ["a month as YYYY-MM"]}) from exc
    if through > latest:
        raise ValidationProblem(errors={"through": [
            f"{through} is not complete yet: the last complete month is {latest}"]})
    return through


def publish(actor: Identity, through: Period | None = None, *, now: datetime | None = None,
            params: Parameters | None = None) -> PublishResult:
    """Compute every complete month up to `through` and store what changed."""
    now = now or db.utcnow()
    through = through or last_complete_month(now)
    params = params or Parameters()
    db.advisory_xact_lock(PUBLISH_LOCK)
    if db.is_postgres():
        # One vintage: no contract changes between the statements that read the data (writers
        # wait for the publication, a second or two a month; readers do not).
        db.session.execute(text("LOCK TABLE contracts IN SHARE MODE"))
    read_at = db.utcnow()
    try:
        computed = compute(through, params)
    except IndexInputError as exc:
        raise ValidationProblem(errors={"through": [str(exc)]}) from exc
    run = computed.run
    if run is None:
        return PublishResult(str(through), computed.rows, 0, 0, 0, None,
                             aggregation.digest_hash(computed.digests))
    # Months before the first one aggregated again have the same cells and caps as before,
    # hence the same figures: only the later ones are compared with what is published.
    since = computed.recomputed_from or Period(run.base_year, 1)
    latest = {(f.family, f.domain, f.period): f for f in db.session.scalars(
        select(IndexFigure).where(IndexFigure.is_latest.is_(True),
                                  IndexFigure.period >= str(since)))}
    published_before = bool(latest) or db.session.scalar(
        select(IndexFigure.id).where(IndexFigure.is_latest.is_(True)).limit(1)) is not None
    changed: list[tuple[indices.Figure, IndexFigure | None, dict[str, Any]]] = []
    for figure in run.figures:
        if figure.period < since:
            continue
        detail = _detail(figure)
        old = latest.get((figure.family, figure.domain, str(figure.period)))
        if old is None or old.detail != detail:
            changed.append((figure, old, detail))
    result = PublishResult(str(through), computed.rows, len(run.figures), 0, 0, None,
                           run.rows_hash or "")
    if computed.recomputed_from is not None:
        result.aggregated = (str(computed.recomputed_from), str(through))
    if not changed:
        return result
    revised = sum(1 for _, old, _ in changed if old is not None)
    reason = ("first publication" if revised == 0 and not published_before else
              f"data revised (vintage {result.data_hash[:12]}): late registrations, "
              "amendments or cancellations" if revised else "new months published")
    publication = IndexPublication(
        published_by=actor.label, through=str(through),
        methodology_version=params.methodology_version, parameters=params.to_dict(),
        base_year=run.base_year, caps=_caps_json(dict(run.caps)), data_read_at=read_at,
        data_hash=result.data_hash, contracts_read=computed.rows,
        figures_published=len(changed), reason=reason,
        cells=[cell_to_json(c) for c in computed.cells], month_digests=computed.digests,
    )
    db.session.add(publication)
    db.session.flush()
    old_ids = [old.id for _, old, _ in changed if old is not None]
    for start in range(0, len(old_ids), 500):
        db.session.execute(update(IndexFigure).where(IndexFigure.id.in_(old_ids[start:start + 500]))
                           .values(is_latest=False))
    new_rows = []
    for figure, old, detail in changed:
        if old is None:
            why = "first publication of this month"
        elif old.detail.get("value") != detail.get("value"):
            why = f"revised: the data changed (vintage {result.data_hash[:12]})"
        else:
            why = f"revised components (vintage {result.data_hash[:12]})"
        new_rows.append({
            "publication_id": publication.id, "family": figure.family,
            "domain": figure.domain, "period": str(figure.period),
            "revision": 1 if old is None else old.revision + 1, "is_latest": True,
            "methodology_version": params.methodology_version,
            "value": detail["value"], "value_2dp": detail["value_2dp"],
            "mom_pct": detail["mom_pct"], "yoy_pct": detail["yoy_pct"],
            "reason": figure.reason, "detail": detail, "revision_reason": why,
            "published_at": publication.published_at,
        })
    db.session.execute(IndexFigure.__table__.insert(), new_rows)
    result.publication_id = publication.id
    result.figures_published = len(changed)
    result.revised = revised
    result.changed = [(f.family, f.domain, str(f.period)) for f, _, _ in changed]
    record(actor, "indices.publish", "index_publication", publication.id,
           after={"through": str(through), "figures": len(changed), "revised": revised,
                  "data_hash": result.data_hash, "methodology": params.methodology_version},
           reason=reason)
    return result


@dataclass
class CheckReport:
    publications: int
    figures: int
    mismatches: list[str]

    @property
    def ok(self) -> bool:
        return not self.mismatches


def check(publication_id: int | None = None) -> CheckReport:
    """Recompute the figures of each publication from its stored cells and parameters."""
    stmt: Select[tuple[IndexPublication]] = select(IndexPublication).order_by(IndexPublication.id)
    if publication_id is not None:
        stmt = stmt.where(IndexPublication.id == publication_id)
    checked = figures = 0
    mismatches: list[str] = []
    for pub in db.session.scalars(stmt):
        run = indices.compute_figures(
            [cell_from_json(c) for c in pub.cells], caps=_caps_from_json(pub.caps),
            base_year=pub.base_year, through=Period.parse(pub.through),
            params=Parameters.from_dict(pub.parameters))
        stored = db.session.scalars(select(IndexFigure).where(IndexFigure.publication_id == pub.id))
        for fig in stored:
            figures += 1
            again = _detail(run.figure(fig.family, fig.domain, fig.period))
            if again != fig.detail:
                mismatches.append(f"publication {pub.id}: {fig.family}/{fig.domain}/{fig.period} "
                                  f"revision {fig.revision} recomputes differently")
        checked += 1
    return CheckReport(checked, figures, mismatches)


def series(family: str, domain: str | None, start: str | None, end: str | None
           ) -> Select[tuple[IndexFigure]]:
    stmt = select(IndexFigure).where(IndexFigure.family == family,
                                     IndexFigure.is_latest.is_(True))
    if domain is not None:
        stmt = stmt.where(IndexFigure.domain == domain)
    if start is not None:
        stmt = stmt.where(IndexFigure.period >= start)
    if end is not None:
        stmt = stmt.where(IndexFigure.period <= end)
    return stmt.order_by(IndexFigure.domain, IndexFigure.period)


def revisions(family: str, domain: str, period: str) -> list[IndexFigure]:
    found = list(db.session.scalars(
        select(IndexFigure).where(IndexFigure.family == family, IndexFigure.domain == domain,
                                  IndexFigure.period == period)
        .order_by(IndexFigure.revision.desc())))
    if not found:
        raise NotFound(f"no published figure {family}/{domain}/{period}")
    return found
