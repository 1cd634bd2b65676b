"""Support runs over an append-only ledger (spec/support.md).

A run reads the data as it stands, computes every eligible item with the pure rules, and
appends only the difference: a top-up (award or adjustment) in the order of step 4 while cap
and budget room last, and a clawback for the items of contracts cancelled since. Runs are
serialised by an advisory lock, so runs started together write what one run would.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select

from marketplace import db
from marketplace.audit.services import record
from marketplace.auth.identity import Identity
from marketplace.contracts.models import Contract, ExternalGrant, Payment
from marketplace.errors import Conflict, InvalidTransition, NotFound, ValidationProblem
from marketplace.organisations.models import Organisation
from marketplace.reference import REGIONS, ROLES
from marketplace.support import rules
from marketplace.support.models import LedgerEntry, SupportAward, SupportPolicy, SupportRun

SUPPORT_LOCK = 0x4D4B5355
ZERO = Decimal("0.00")
MONEY_KINDS = ("award", "adjustment", "clawback")


# ----------------------------------------------------------------------------- policies

def load_policy(actor: Identity, document: dict[str, Any]) -> SupportPolicy:
    """Store a policy; the same document again is a no-op; a used policy never changes."""
    actor.require("bureau_admin")
    try:
        policy = rules.parse_policy(document)
    except rules.PolicyError as exc:
        raise ValidationProblem(errors=exc.errors) from exc
    stored = policy.to_json()
    row = db.session.scalar(select(SupportPolicy).where(SupportPolicy.code == policy.code))
    if row is not None:
        if row.document == stored:
            return row
        if row.first_run_at is not None:
            raise Conflict(f"policy {policy.code} has been used by a run and is immutable: "
                           "load the change under a new code")
        before = row.document
        row.document, row.year = stored, policy.year
        db.session.flush()
        record(actor, "support.policy.change", "support_policy", policy.code, before=before,
               after=stored)
        return row
    row = SupportPolicy(code=policy.code, year=policy.year, document=stored,
                        created_by=actor.label)
    db.session.add(row)
    db.session.flush()
    record(actor, "support.policy.load", "support_policy", policy.code, after=stored)
    return row


def get_policy(code: str) -> SupportPolicy:
    row = db.session.scalar(select(SupportPolicy).where(SupportPolicy.code == code))
    if row is None:
        raise NotFound(f"no support policy {code}")
    return row


# ----------------------------------------------------------------------------- runs

@dataclass
class RunResult:
    run_id: int | None
    policy: str
    items: int
    topped_up: int
    awarded: Decimal
    clawed_back: Decimal

    def summary(self) -> str:
        if self.run_id is None:
            return (f"support {self.policy}: {self.items} eligible items; nothing new to "
                    "award or claw back")
        return (f"support {self.policy}: {self.items} eligible items; {self.topped_up} awards "
                f"or top-ups worth {self.awarded} yuan; {self.clawed_back} yuan clawed back")


def _ledger_sums(policy_id: int) -> tuple[dict[int, Decimal], dict[int, Decimal]]:
    """Per award: the money awarded (awards, adjustments, clawbacks) and the money paid."""
    amounts: dict[int, Decimal] = defaultdict(lambda: ZERO)
    paid: dict[int, Decimal] = defaultdict(lambda: ZERO)
    stmt = (select(LedgerEntry.award_id, LedgerEntry.kind, LedgerEntry.amount)
            .join(SupportAward, SupportAward.id == LedgerEntry.award_id)
            .where(SupportAward.policy_id == policy_id))
    for award_id, kind, amount in db.session.execute(stmt).yield_per(50_000):
        if kind == "payment":
            paid[award_id] += amount
        else:
            amounts[award_id] += amount
    return amounts, paid


def run_policy(actor: Identity, code: str, now: datetime | None = None) -> RunResult:
    actor.require("bureau_admin")
    db.advisory_xact_lock(SUPPORT_LOCK)
    now = now or db.utcnow()
    row = get_policy(code)
    policy = rules.parse_policy(row.document)
    orgs = {o.id: o for o in db.session.scalars(select(Organisation))}

    payments: dict[int, list[rules.Payment]] = defaultdict(list)
    # Payments after the policy year change nothing of its base (step 1 runs in date order).
    for cid, paid_on, amount, pid in db.session.execute(
            select(Payment.contract_id, Payment.paid_on, Payment.amount, Payment.id)
            .where(Payment.paid_on <= date(policy.year, 12, 31))
    ).yield_per(50_000):
        payments[cid].append(rules.Payment(paid_on, pid, amount))
    grants: dict[tuple[int, str, int], list[Decimal]] = defaultdict(list)
    for g in db.session.execute(select(ExternalGrant.contract_id, ExternalGrant.role,
                                       ExternalGrant.organization_id, ExternalGrant.amount,
                                       ExternalGrant.programme)):
        grants[(g[0], g[1], g[2])].append(g[3])

    awards = {(a.contract_id, a.role, a.organization_id): a for a in db.session.scalars(
        select(SupportAward).where(SupportAward.policy_id == row.id))}
    amounts, paid = _ledger_sums(row.id)

    items: list[rules.Item] = []
    ids: dict[tuple[str, str, str], tuple[int, str, int]] = {}
    technical: dict[int, Decimal] = {}
    stmt = select(Contract.id, Contract.contract_no, Contract.registered_at, Contract.status,
                  Contract.type, Contract.related_party, Contract.technical_amount,
                  Contract.seller_id, Contract.buyer_id, Contract.intermediary_id).where(
        Contract.status == "registered", Contract.registered_at.is_not(None))
    for c in db.session.execute(stmt).yield_per(20_000):
        for role, org_id in zip(ROLES, (c.seller_id, c.buyer_id, c.intermediary_id),
                                strict=True):
            if org_id is None:
                continue
            org = orgs[org_id]
            if rules.ineligible_reason(
                    status=c.status, contract_type=c.type, related_party=c.related_party,
                    technical_amount=c.technical_amount, role=role, kind=org.kind,
                    region_code=org.region_code, policy=policy):
                continue
            base, _counted = rules.base_for(payments.get(c.id, ()), c.technical_amount,
                                            policy.year)
            raw = rules.raw_amount(base, policy.rates[role])
            external = grants.get((c.id, role, org_id), [])
            number = c.contract_no or f"#{c.id}"
            item = rules.Item(number, c.registered_at, role, org.uscc, org.region_code, base,
                              raw, rules.half_up(sum(external, ZERO)),
                              rules.wanted(raw, external))
            items.append(item)
            ids[item.key] = (c.id, role, org_id)
            technical[c.id] = c.technical_amount

    eligible = set(ids.values())
    held = {}
    for key, triple in ids.items():
        award = awards.get(triple)
        if award is not None:
            held[key] = amounts.get(award.id, ZERO)
    run = SupportRun(policy_id=row.id, actor=actor.label, started_at=now)
    entries: list[dict[str, Any]] = []

    # Clawbacks: awards whose item is no longer eligible (a cancelled contract, 注销).
    clawed = ZERO
    for triple, award in awards.items():
        amount = amounts.get(award.id, ZERO)
        if triple in eligible or amount <= 0:
            continue
        city, _ = rules.split(amount, award.region_code)
        entries.append({"award_id": award.id, "kind": "clawback", "amount": -amount,
                        "city_share": -city, "local_share": -(amount - city),
                        "reason": "the contract is no longer eligible (cancelled, 注销)"})
        clawed += amount
        if paid.get(award.id, ZERO) > 0:
            award.explanation = {**award.explanation,
                                 "owed_back": str(paid[award.id]),
                                 "clawback": "paid before the contract was cancelled"}

    allocations = rules.Allocator(policy, held).allocate(items)
    awarded = ZERO
    topped = 0
    for a in allocations:
        if a.delta <= 0:
            continue
        contract_id, role, org_id = ids[a.item.key]
        award = awards.get((contract_id, role, org_id))
        if award is None:
            award = SupportAward(policy_id=row.id, contract_id=contract_id, role=role,
                                 organization_id=org_id, region_code=a.item.region_code,
                                 order_key=f"{a.item.registered_at.isoformat()}|"
                                           f"{a.item.contract_no}|{rules.ROLE_ORDER[role]}",
                                 status="computed", explanation={})
            db.session.add(award)
            awards[(contract_id, role, org_id)] = award
        elif award.status != "computed":
            award.status = "computed"  # the new amount needs approving again
        city_before, _ = rules.split(a.already, a.item.region_code)
        city = a.city_share - city_before
        _, counted = rules.base_for(payments.get(contract_id, ()), technical[contract_id],
                                    policy.year)
        award.explanation = _explain(policy, a, {"payments": counted,
                                                 "rate": policy.rates[role]},
                                     grants.get((contract_id, role, org_id), []))
        entries.append({"award": award, "kind": "award" if a.already == 0 else "adjustment",
                        "amount": a.delta, "city_share": city, "local_share": a.delta - city,
                        "reason": a.reason or "rule of support.md steps 1-6"})
        awarded += a.delta
        topped += 1

    if not entries:
        return RunResult(None, code, len(items), 0, ZERO, ZERO)
    db.session.add(run)
    db.session.flush()
    rows = []
    for e in entries:
        award = e.pop("award", None)
        if award is not None:
            e["award_id"] = award.id
            award.explanation = {**award.explanation, "run_id": run.id}
        rows.append({**e, "run_id": run.id, "actor": actor.label, "created_at": now})
    db.session.execute(LedgerEntry.__table__.insert(), rows)
    run.items, run.entries, run.awarded, run.clawed_back = len(items), len(rows), awarded, clawed
    if row.first_run_at is None:
        row.first_run_at = now
    db.session.flush()
    record(actor, "support.run", "support_run", run.id,
           after={"policy": code, "items": len(items), "entries": len(rows),
                  "awarded": awarded, "clawed_back": clawed},
           reason="scheduled or requested run of the policy")
    return RunResult(run.id, code, len(items), topped, awarded, clawed)


def _explain(policy: rules.Policy, a: rules.Allocation, d: dict[str, Any],
             grants: Iterable[Decimal]) -> dict[str, Any]:
    region = REGIONS[a.item.region_code]
    return {
        "policy": policy.code, "year": policy.year,
        "rule": "spec/support.md steps 1-6: base paid in the year, raw = base × rate, "
                "top-up over external grants (就高不重复), cap per organisation, role and year, "
                "split city/local",
        "role": a.item.role, "rate": str(d["rate"]),
        "base_payments": [{"paid_on": p.paid_on.isoformat(), "amount": str(p.amount),
                           "counted": str(rules.half_up(p.counted))} for p in d["payments"]],
        "base": str(a.item.base), "raw": str(a.item.raw),
        "external_grants": [str(g) for g in grants], "external_grant": str(a.item.external_grant),
        "wanted": str(a.item.wanted), "cap": str(policy.cap),
        "cap_room_before": str(a.cap_room), "cap_room_after": str(a.cap_room - a.delta),
        "payable": str(a.payable), "amount": str(a.amount), "unfunded": str(a.unfunded),
        "split": {"region": region.code, "region_kind": region.kind,
                  "city_rate": str(region.city_share), "city_share": str(a.city_share),
                  "local_share": str(a.local_share)},
        "reason": a.reason,
    }


def run_active_policy(actor: Identity, now: datetime | None = None) -> str:
    """The monthly job: run every policy of this year and of the year just ended."""
    now = now or db.utcnow()
    year = now.year
    codes = list(db.session.scalars(select(SupportPolicy.code).where(
        SupportPolicy.year >= year - 1, SupportPolicy.year <= year).order_by(SupportPolicy.year)))
    if not codes:
        return f"no support policy for {year - 1} or {year}"
    return "; ".join(run_policy(actor, code, now).summary() for code in codes)


# ----------------------------------------------------------------------------- awards

def _award_rows(ids: list[int]) -> dict[int, dict[str, Decimal]]:
    sums: dict[int, dict[str, Decimal]] = defaultdict(
        lambda: {"amount": ZERO, "city": ZERO, "local": ZERO, "paid": ZERO})
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for award_id, kind, amount, city, local in db.session.execute(
                select(LedgerEntry.award_id, LedgerEntry.kind, LedgerEntry.amount,
                       LedgerEntry.city_share, LedgerEntry.local_share)
                .where(LedgerEntry.award_id.in_(chunk))):
            s = sums[award_id]
            if kind == "payment":
                s["paid"] += amount
            else:
                s["amount"] += amount
                s["city"] += city
                s["local"] += local
    return sums


def describe_many(awards: list[SupportAward]) -> list[dict[str, Any]]:
    sums = _award_rows([a.id for a in awards])
    contracts = {c.id: c.contract_no for c in db.session.scalars(
        select(Contract).where(Contract.id.in_({a.contract_id for a in awards})))} if awards else {}
    orgs = {o.id: o for o in db.session.scalars(select(Organisation).where(
        Organisation.id.in_({a.organization_id for a in awards})))} if awards else {}
    policies = {p.id: p.code for p in db.session.scalars(select(SupportPolicy))}
    out = []
    for a in awards:
        s = sums[a.id]
        out.append({
            "id": a.id, "policy": policies[a.policy_id], "contract_no": contracts[a.contract_id],
            "role": a.role, "uscc": orgs[a.organization_id].uscc,
            "organization_name": orgs[a.organization_id].name, "region_code": a.region_code,
            "amount": s["amount"], "city_share": s["city"], "local_share": s["local"],
            "paid": s["paid"], "owed_back": max(ZERO, s["paid"] - s["amount"]),
            "status": a.status,
        })
    return out


def awards_query(actor: Identity, filters: dict[str, Any]) -> Select[tuple[SupportAward]]:
    actor.require_signed_in()
    stmt = select(SupportAward).order_by(SupportAward.policy_id, SupportAward.order_key)
    if not actor.is_bureau:
        stmt = stmt.where(SupportAward.organization_id == (actor.organization_id or -1))
    if "policy" in filters:
        stmt = stmt.where(SupportAward.policy_id == get_policy(filters["policy"]).id)
    if "uscc" in filters:
        stmt = stmt.join(Organisation, Organisation.id == SupportAward.organization_id).where(
            Organisation.uscc == filters["uscc"])
    for key in ("role", "region_code", "status"):
        if key in filters:
            stmt = stmt.where(getattr(SupportAward, key) == filters[key])
    return stmt


def get_award(actor: Identity, award_id: int) -> SupportAward:
    actor.require_signed_in()
    award = db.session.get(SupportAward, award_id)
    if award is None or not actor.can_see_org(award.organization_id):
        raise NotFound(f"no award {award_id}")
    return award


def explain(actor: Identity, award_id: int) -> dict[str, Any]:
    award = get_award(actor, award_id)
    item = describe_many([award])[0]
    entries = db.session.scalars(select(LedgerEntry).where(LedgerEntry.award_id == award.id)
                                 .order_by(LedgerEntry.id))
    item["explanation"] = award.explanation
    item["ledger"] = [{"id": e.id, "kind": e.kind, "amount": e.amount, "city_share": e.city_share,
                       "local_share": e.local_share, "run_id": e.run_id, "actor": e.actor,
                       "reason": e.reason, "created_at": e.created_at} for e in entries]
    return item


def approve(actor: Identity, award_id: int) -> dict[str, Any]:
    actor.require("bureau_admin", "bureau_reviewer")
    award = get_award(actor, award_id)
    if award.status != "computed":
        raise InvalidTransition(f"the award is {award.status}", current_state=award.status,
                                allowed_actions=["pay"] if award.status == "approved" else [])
    amount = describe_many([award])[0]["amount"]
    if amount <= 0:
        raise Conflict("an award of 0 has nothing to approve")
    award.status = "approved"
    db.session.flush()
    record(actor, "support.award.approve", "support_award", award.id,
           before={"status": "computed"}, after={"status": "approved", "amount": amount})
    return explain(actor, award.id)


def pay(actor: Identity, award_id: int, reference: str | None = None) -> dict[str, Any]:
    actor.require("bureau_admin")
    award = get_award(actor, award_id)
    if award.status != "approved":
        raise InvalidTransition(f"only approved awards are paid; this one is {award.status}",
                                current_state=award.status,
                                allowed_actions=["approve"] if award.status == "computed" else [])
    s = describe_many([award])[0]
    due = s["amount"] - s["paid"]
    if due > 0:
        city, _ = rules.split(s["amount"], award.region_code)
        paid_city = rules.split(s["paid"], award.region_code)[0] if s["paid"] else ZERO
        city_part = city - paid_city
        db.session.add(LedgerEntry(award_id=award.id, run_id=None, kind="payment", amount=due,
                                   city_share=city_part, local_share=due - city_part,
                                   actor=actor.label,
                                   reason="paid by the treasury"
                                   + (f" ({reference})" if reference else "")))
    award.status = "paid"
    db.session.flush()
    record(actor, "support.award.pay", "support_award", award.id,
           before={"status": "approved", "paid": s["paid"]},
           after={"status": "paid", "paid": s["paid"] + max(due, ZERO)}, reason=reference)
    return explain(actor, award.id)


# ----------------------------------------------------------------------------- treasury

def treasury(code: str) -> list[dict[str, Any]]:
    """Per region: what the city pays and what the district or county-level city pays."""
    policy = get_policy(code)
    totals: dict[str, dict[str, Decimal]] = {
        r: {"city": ZERO, "local": ZERO, "awards": ZERO} for r in REGIONS}
    stmt = (select(SupportAward.region_code, LedgerEntry.amount, LedgerEntry.city_share,
                   LedgerEntry.local_share)
            .join(LedgerEntry, LedgerEntry.award_id == SupportAward.id)
            .where(SupportAward.policy_id == policy.id, LedgerEntry.kind.in_(MONEY_KINDS)))
    for region, amount, city, local in db.session.execute(stmt).yield_per(50_000):
        t = totals[region]
        t["awards"] += amount
        t["city"] += city
        t["local"] += local
    return [{"policy": code, "region_code": r, "region_name": REGIONS[r].name,
             "region_kind": REGIONS[r].kind, "city_rate": REGIONS[r].city_share,
             "total": t["awards"], "city_pays": t["city"], "local_pays": t["local"]}
            for r, t in totals.items()]


TREASURY_COLUMNS = ("policy", "region_code", "region_name", "region_kind", "city_rate", "total",
                    "city_pays", "local_pays")


def treasury_csv(code: str) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(TREASURY_COLUMNS)
    for row in treasury(code):
        w.writerow([row[c] for c in TREASURY_COLUMNS])
    return "\ufeff" + out.getvalue()


def treasury_xlsx(code: str) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = code[:31]
    ws.append(list(TREASURY_COLUMNS))
    for row in treasury(code):
        ws.append([row[c] for c in TREASURY_COLUMNS])  # Decimal cells are exact numbers
    for column in ("F", "G", "H"):
        for cell in ws[column][1:]:
            cell.number_format = "#,##0.00"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
