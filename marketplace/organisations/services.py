"""Organisations: one code, one organisation."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from sqlalchemy import Select, select

from marketplace import db
from marketplace.audit.services import record
from marketplace.auth.identity import Identity
from marketplace.errors import Conflict, NotFound, ValidationProblem
from marketplace.imports import ImportRejected, ImportReport, open_csv, read_rows
from marketplace.organisations.models import Organisation
from marketplace.reference import ORG_KINDS, REGIONS, check_uscc, is_division_code, region_kind
from marketplace.reference import unsafe_characters as _unsafe


def describe(org: Organisation) -> dict[str, Any]:
    region = REGIONS.get(org.region_code)
    return {
        "id": org.id, "uscc": org.uscc, "name": org.name, "kind": org.kind,
        "region_code": org.region_code, "region_name": region.name if region else None,
        "region_kind": region_kind(org.region_code), "created_at": org.created_at,
    }


def _check_region(code: str) -> str | None:
    return None if is_division_code(code) else "not a six-digit division code (GB/T 2260)"


def register(actor: Identity, data: dict[str, Any]) -> Organisation:
    actor.require("bureau_admin")
    problem = _check_region(data["region_code"])
    if problem:
        raise ValidationProblem(errors={"region_code": [problem]})
    if db.session.scalar(select(Organisation.id).where(Organisation.uscc == data["uscc"])):
        raise Conflict(f"an organisation with the code {data['uscc']} is already registered")
    org = Organisation(**data)
    db.session.add(org)
    db.session.flush()
    record(actor, "organization.register", "organization", org.uscc, after=data)
    return org


def get(org_id: int) -> Organisation:
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"no organisation {org_id}")
    return org


def by_uscc(code: str) -> Organisation | None:
    return db.session.scalar(select(Organisation).where(Organisation.uscc == code))


def query(filters: dict[str, Any]) -> Select[tuple[Organisation]]:
    stmt = select(Organisation).order_by(Organisation.id)
    if "kind" in filters:
        stmt = stmt.where(Organisation.kind == filters["kind"])
    if "region_code" in filters:
        stmt = stmt.where(Organisation.region_code == filters["region_code"])
    if "name" in filters:
        stmt = stmt.where(Organisation.name.contains(filters["name"], autoescape=True))
    return stmt


COLUMNS = ("uscc", "name", "kind", "region_code")


def import_csv(actor: Identity, source: Path | IO[str], name: str = "") -> ImportReport:
    """All or nothing; a code already present with the same values is unchanged."""
    report = ImportReport("organisations", name or str(source))
    existing = {o.uscc: o for o in db.session.scalars(select(Organisation))}
    seen: dict[str, int] = {}
    new: list[dict[str, str]] = []
    with open_csv(source) as stream:
        for line, row in read_rows(stream, COLUMNS, report):
            bad = False
            try:
                code = check_uscc(row["uscc"])
            except ValueError as exc:
                report.add(line, "uscc", str(exc))
                bad = True
                code = ""
            name_ = row["name"].strip()
            if not name_ or len(name_) > 200:
                report.add(line, "name", "1 to 200 characters")
                bad = True
            elif _unsafe(name_):
                report.add(line, "name", "invisible control characters are not allowed")
                bad = True
            kind = row["kind"].strip()
            if kind not in ORG_KINDS:
                report.add(line, "kind", f"{kind!r} is not one of {', '.join(ORG_KINDS)}")
                bad = True
            region = row["region_code"].strip()
            problem = _check_region(region)
            if problem:
                report.add(line, "region_code", problem)
                bad = True
            if bad:
                continue
            if code in seen:
                report.add(line, "uscc", f"{code} appears again (first on line {seen[code]})")
                continue
            seen[code] = line
            values = {"uscc": code, "name": name_, "kind": kind, "region_code": region}
            old = existing.get(code)
            if old is None:
                new.append(values)
            elif (old.name, old.kind, old.region_code) == (name_, kind, region):
                report.unchanged += 1
            else:
                report.add(line, "uscc", f"{code} is registered already as "
                           f"{old.name} ({old.kind}, {old.region_code}); one code, one "
                           "organisation: change it through the API")
    if not report.ok:
        raise ImportRejected(report)
    if new:
        db.session.execute(Organisation.__table__.insert(), new)
        report.inserted = len(new)
        record(actor, "organization.import", "import", Path(str(report.source)).name[:64],
               after={"inserted": report.inserted, "unchanged": report.unchanged})
    return report
