"""Enterprises' demands: posted by their members, read by signed-in users, matched."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from sqlalchemy import Select, select

from marketplace import db
from marketplace.audit.services import record
from marketplace.auth.identity import Identity
from marketplace.demands.models import Demand
from marketplace.errors import Forbidden, NotFound, ValidationProblem
from marketplace.imports import ImportRejected, ImportReport, open_csv, parse_amount, read_rows
from marketplace.organisations.models import Organisation
from marketplace.reference import FIELDS, check_uscc, unsafe_characters


def create(actor: Identity, data: dict[str, Any]) -> Demand:
    actor.require("org_admin", "org_member")
    org = db.session.get(Organisation, actor.organization_id)
    if org is None or org.kind != "enterprise":
        raise Forbidden("demands are posted by enterprises")
    if data["budget_min"] > data["budget_max"]:
        raise ValidationProblem(errors={"budget_max": ["not below budget_min"]})
    demand = Demand(organization_id=org.id, created_by=actor.label, **data)
    db.session.add(demand)
    db.session.flush()
    record(actor, "demand.create", "demand", demand.id,
           after={"title": demand.title, "field": demand.field})
    return demand


def query(actor: Identity, filters: dict[str, Any]) -> Select[tuple[Demand]]:
    actor.require_signed_in()
    stmt = select(Demand).order_by(Demand.id.desc())
    for key in ("field", "external_key", "status"):
        if key in filters:
            stmt = stmt.where(getattr(Demand, key) == filters[key])
    return stmt


def get(actor: Identity, demand_id: int) -> Demand:
    actor.require_signed_in()
    demand = db.session.get(Demand, demand_id)
    if demand is None:
        raise NotFound(f"no demand {demand_id}")
    return demand


COLUMNS = ("key", "uscc", "title", "description", "field", "budget_min", "budget_max",
           "min_trl")


def import_csv(actor: Identity, source: Path | IO[str], name: str = "") -> ImportReport:
    """An enterprise's list of needs: all or nothing, idempotent on (enterprise, key)."""
    report = ImportReport("demands", name or str(source))
    orgs = {o.uscc: o for o in db.session.scalars(select(Organisation))}
    existing = {(d.organization_id, d.external_key): d for d in db.session.scalars(
        select(Demand).where(Demand.external_key.is_not(None)))}
    new: list[dict[str, Any]] = []
    with open_csv(source) as stream:
        for line, row in read_rows(stream, COLUMNS, report):
            errors_before = report.error_count
            values: dict[str, Any] = {"external_key": row["key"].strip()}
            if not values["external_key"] or len(values["external_key"]) > 80:
                report.add(line, "key", "1 to 80 characters")
            org = None
            try:
                org = orgs.get(check_uscc(row["uscc"]))
                if org is None:
                    report.add(line, "uscc", "not a registered organisation")
                elif org.kind != "enterprise":
                    report.add(line, "uscc", "demands are posted by enterprises")
            except ValueError as exc:
                report.add(line, "uscc", str(exc))
            for column, limit in (("title", 200), ("description", 4000)):
                value = row[column].strip()
                if not value or len(value) > limit or unsafe_characters(value):
                    report.add(line, column, f"1 to {limit} visible characters")
                values[column] = value
            values["field"] = row["field"].strip()
            if values["field"] not in FIELDS:
                report.add(line, "field", f"{row['field']!r} is not a technology field")
            for column in ("budget_min", "budget_max"):
                try:
                    values[column] = parse_amount(row[column], allow_zero=True)
                except ValueError as exc:
                    report.add(line, column, str(exc))
            try:
                values["min_trl"] = int(row["min_trl"])
                if not 1 <= values["min_trl"] <= 9:
                    raise ValueError
            except ValueError:
                report.add(line, "min_trl", "a readiness level from 1 to 9")
            if report.error_count > errors_before or org is None:
                continue
            if values["budget_min"] > values["budget_max"]:
                report.add(line, "budget_max", "below budget_min")
                continue
            old = existing.get((org.id, values["external_key"]))
            if old is None:
                new.append({**values, "organization_id": org.id})
            elif all(getattr(old, k) == v for k, v in values.items()):
                report.unchanged += 1
            else:
                report.add(line, "key", "posted already with other values")
    if not report.ok:
        raise ImportRejected(report)
    for values in new:
        db.session.add(Demand(created_by=actor.label, **values))
    db.session.flush()
    report.inserted = len(new)
    if new:
        record(actor, "demand.import", "import", Path(str(report.source)).name[:64],
               after={"inserted": report.inserted})
    return report
