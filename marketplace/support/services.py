"""Support runs over an append-only ledger (spec/support.md).

A run reads the data as it stands, computes every eligible item with the pure rules, and
appends only the difference: a top-up (award or adjustment) in the order of step 4 while cap
and budget room last, and a clawback for the items of contracts cancelled since. Runs are
serialised by an advisory lock, so runs started together write what one run would.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Select, and_, case, cast, false, func, select, update

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
    unfunded: Decimal = ZERO  # what the budget leaves unfunded after the run (step 6)

    def summary(self) -> str:
        left = (f"; {self.unfunded} yuan left unfunded (budget spent)" if self.unfunded > 0
                else "")
        if self.run_id is None:
            return (f"support {self.policy}: {self.items} eligible items; nothing new to "
                    f"award or claw back{left}")
        return (f"support {self.policy}: {self.items} eligible items; {self.topped_up} awards "
                f"or top-ups worth {self.awarded} yuan; {self.clawed_back} yuan clawed back"
                f"{left}")


BATCH = 2_000
# Bumped whenever what a run computes from the same inputs changes, so that a stored digest
# of an older computation is never taken for the current one.
DIGEST_VERSION = 1


def _fen(column: Any) -> Any:
    """A money column as integer fen: exact in SUM on both databases."""
    return cast(func.round(column * 100), BigInteger)


def _yuan(fen: Any) -> Decimal:
    return (Decimal(int(fen or 0)) / 100).quantize(rules.CENT)


def _new_ids(table: Any, n: int) -> list[int] | None:
    """n ids from the table's sequence (PostgreSQL), or None (SQLite numbers on insert)."""
    if not db.is_postgres() or n == 0:
        return None
    return list(db.session.scalars(
        select(func.nextval(func.pg_get_serial_sequence(table.name, "id")))
        .select_from(func.generate_series(1, n))))


def _inputs(row: SupportPolicy, policy: rules.Policy) -> list[Any]:
    """What a run of the policy reads, aggregated by the database: the policy, the payments
    up to the end of its year, the registered contracts (their ids, versions, types, parties
    and technical amounts), the organisations' kinds and regions and the external grants."""
    y0, y1 = date(policy.year, 1, 1), date(policy.year, 12, 31)
    p = Payment.__table__.c
    within = p.paid_on >= y0
    parts: list[Any] = [DIGEST_VERSION, row.id, json.dumps(row.document, sort_keys=True)]
    parts.append(db.session.execute(select(
        func.count(), func.sum(_fen(p.amount)), func.sum(p.id), func.sum(p.contract_id),
        func.max(p.id), func.sum(case((within, _fen(p.amount)), else_=0)),
        func.sum(case((within, 1), else_=0)), func.sum(case((within, p.contract_id), else_=0)),
        func.sum(case((within, p.id), else_=0)),
    ).where(p.paid_on <= y1)).one())
    c = Contract.__table__.c
    parts.append(db.session.execute(select(func.count(), func.max(c.updated_at))).one())
    parts.append(list(db.session.execute(
        select(c.type, c.related_party, func.count(), func.sum(c.id), func.sum(c.version),
               func.sum(_fen(c.technical_amount)), func.sum(c.seller_id), func.sum(c.buyer_id),
               func.sum(func.coalesce(c.intermediary_id, 0)), func.min(c.registered_at),
               func.max(c.registered_at))
        .where(c.status == "registered", c.registered_at.is_not(None))
        .group_by(c.type, c.related_party).order_by(c.type, c.related_party))))
    o = Organisation.__table__.c
    parts.append(list(db.session.execute(
        select(o.kind, o.region_code, func.count(), func.sum(o.id), func.max(o.id))
        .group_by(o.kind, o.region_code).order_by(o.kind, o.region_code))))
    g = ExternalGrant.__table__.c
    parts.append(list(db.session.execute(
        select(g.role, func.count(), func.sum(_fen(g.amount)), func.sum(g.id),
               func.sum(g.contract_id), func.sum(g.organization_id), func.max(g.id))
        .group_by(g.role).order_by(g.role))))
    return parts


def _ledger_state(row: SupportPolicy) -> list[Any]:
    """The policy's awards and money entries (only runs, under the lock, change them)."""
    a, e = SupportAward.__table__.c, LedgerEntry.__table__.c
    parts: list[Any] = []
    parts.append(db.session.execute(
        select(func.count(), func.sum(_fen(a.unfunded)), func.max(a.id))
        .where(a.policy_id == row.id)).one())
    parts.append(db.session.execute(
        select(func.count(), func.sum(_fen(e.amount)), func.max(e.id))
        .join(SupportAward.__table__, a.id == e.award_id)
        .where(a.policy_id == row.id, e.kind.in_(MONEY_KINDS))).one())
    return parts


def _digest(inputs: list[Any], ledger: list[Any]) -> str:
    """The digest stored on a run and its policy: the inputs as read at the start of the run
    (data committed while it ran is not in it, so the next run reads that again) and the
    ledger as the run leaves it."""

    def plain(value: Any) -> Any:
        if isinstance(value, list | tuple) or hasattr(value, "_mapping"):
            return [plain(v) for v in value]
        if isinstance(value, Decimal):
            return str(int(value)) if value == value.to_integral_value() else str(value)
        if isinstance(value, datetime):
            return value.replace(tzinfo=None).isoformat()
        if isinstance(value, bool):
            return int(value)
        return value if value is None or isinstance(value, str) else str(value)

    text = json.dumps(plain([inputs, ledger]), separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _count_items(policy: rules.Policy) -> int:
    """How many eligible (contract, role, organisation) items there are (the database counts:
    the same conditions as rules.ineligible_reason)."""
    c = Contract.__table__.c
    orgs = {role: Organisation.__table__.alias(f"o_{role}") for role in ROLES}
    columns = [
        func.sum(case((and_(orgs[role].c.kind.in_(sorted(policy.eligible_kinds.get(role, ()))),
                            orgs[role].c.region_code.in_(sorted(REGIONS))), 1), else_=0))
        for role in ROLES]
    stmt = (select(*columns).select_from(Contract.__table__)
            .join(orgs["seller"], orgs["seller"].c.id == c.seller_id)
            .join(orgs["buyer"], orgs["buyer"].c.id == c.buyer_id)
            .outerjoin(orgs["intermediary"], orgs["intermediary"].c.id == c.intermediary_id)
            .where(c.status == "registered", c.registered_at.is_not(None),
                   c.type.in_(sorted(policy.eligible_types)), c.related_party == false(),
                   c.technical_amount >= policy.min_technical_amount))
    return sum(int(n or 0) for n in db.session.execute(stmt).one())


@dataclass(slots=True)
class _Held:
    """An award of the policy as the run finds it (no explanation: that stays in the table)."""

    id: int
    contract_id: int
    role: str
    organization_id: int
    region_code: str
    status: str
    unfunded: Decimal
    amount: Decimal
    paid: Decimal
    eligible: bool
    key: tuple[str, str, str]


def _held_awards(row: SupportPolicy, policy: rules.Policy, orgs: dict[int, Any]
                 ) -> dict[tuple[int, str, int], _Held]:
    """Every award of the policy with its ledger sums (added up by the database) and whether
    its item is still eligible."""
    e, a, c = LedgerEntry.__table__.c, SupportAward.__table__.c, Contract.__table__.c
    # Joined, then grouped (by the award's key): no plan re-aggregates per award.
    stmt = (select(a.id, a.contract_id, a.role, a.organization_id, a.region_code, a.status,
                   a.unfunded,
                   func.sum(case((e.kind != "payment", _fen(e.amount)), else_=0)),
                   func.sum(case((e.kind == "payment", _fen(e.amount)), else_=0)),
                   c.contract_no, c.status, c.type, c.related_party, c.technical_amount,
                   c.registered_at)
            .select_from(SupportAward.__table__)
            .join(Contract.__table__, c.id == a.contract_id)
            .outerjoin(LedgerEntry.__table__, e.award_id == a.id)
            .where(a.policy_id == row.id).group_by(a.id, c.id))
    out: dict[tuple[int, str, int], _Held] = {}
    for (award_id, contract_id, role, org_id, region, status, unfunded, amount, paid, number,
         c_status, c_type, related, technical, registered_at) in db.session.execute(
            stmt).yield_per(50_000):
        org = orgs[org_id]
        eligible = registered_at is not None and rules.ineligible_reason(
            status=c_status, contract_type=c_type, related_party=bool(related),
            technical_amount=Decimal(str(technical)).quantize(rules.CENT), role=role,
            kind=org[1], region_code=org[2], policy=policy) is None
        out[(contract_id, role, org_id)] = _Held(
            award_id, contract_id, role, org_id, region, status,
            Decimal(str(unfunded or 0)).quantize(rules.CENT), _yuan(amount), _yuan(paid),
            eligible, (number or f"#{contract_id}", role, org[0]))
    return out


def _paying_contracts(policy: rules.Policy) -> list[tuple[Any, ...]]:
    """The contracts that may earn something: registered, of an eligible type, no related
    party, with a payment in the policy year; each with its base in fen (step 1, added up by
    the database), in the order of step 4.

    Payments are positive and taken in date order, so the part of the technical amount paid
    inside the year is min(T, before + within) − min(T, before), where `before` is what was
    paid before the year and `within` what was paid in it.
    """
    y0, y1 = date(policy.year, 1, 1), date(policy.year, 12, 31)
    p, c = Payment.__table__.c, Contract.__table__.c
    # Joined, then grouped (by the contract's key): no plan re-aggregates per contract.
    stmt = (select(c.registered_at, c.contract_no, c.id, c.status, c.type, c.related_party,
                   c.technical_amount, c.seller_id, c.buyer_id, c.intermediary_id,
                   func.sum(case((p.paid_on < y0, _fen(p.amount)), else_=0)),
                   func.sum(case((p.paid_on >= y0, _fen(p.amount)), else_=0)))
            .select_from(Payment.__table__).join(Contract.__table__, c.id == p.contract_id)
            .where(p.paid_on <= y1, c.status == "registered", c.registered_at.is_not(None),
                   c.type.in_(sorted(policy.eligible_types)), c.related_party == false())
            .group_by(c.id)
            .having(func.sum(case((p.paid_on >= y0, 1), else_=0)) > 0))
    out = []
    for (registered_at, number, cid, status, ctype, related, technical, seller, buyer,
         intermediary, before, within) in db.session.execute(stmt).yield_per(50_000):
        technical = Decimal(str(technical)).quantize(rules.CENT)
        tech_fen = int(technical * 100)
        before, within = int(before or 0), int(within or 0)
        base_fen = max(0, min(tech_fen, before + within) - min(tech_fen, before))
        out.append((registered_at, number or f"#{cid}", cid, status, ctype, bool(related),
                    technical, base_fen, before, seller, buyer, intermediary))
    out.sort(key=lambda t: (t[0], t[1]))
    return out


def _year_payments(year: int) -> dict[int, list[tuple[date, int, int]]]:
    """Every payment dated in the policy year, per contract: (paid_on, id, fen). One scan; the
    explanations list them (what was paid before the year comes as one sum per contract)."""
    p = Payment.__table__.c
    out: dict[int, list[tuple[date, int, int]]] = defaultdict(list)
    for cid, paid_on, pid, fen in db.session.execute(
            select(p.contract_id, p.paid_on, p.id, _fen(p.amount))
            .where(p.paid_on >= date(year, 1, 1), p.paid_on <= date(year, 12, 31))
    ).yield_per(50_000):
        out[cid].append((paid_on, pid, int(fen)))
    return out


def run_policy(actor: Identity, code: str, now: datetime | None = None) -> RunResult:
    """Apply a policy to the data as it stands and append only the difference.

    Only items with a payment in the policy year can want anything (steps 1-3); every other
    eligible item is counted, and its award, if any, still counts against the cap and the
    budget. The contracts are streamed through the allocator in the order of step 4 and what
    changes is written in batches. A run that reads the same inputs as the last complete one
    (the digest) returns at once.
    """
    actor.require("bureau_admin")
    db.advisory_xact_lock(SUPPORT_LOCK)
    now = now or db.utcnow()
    row = get_policy(code)
    policy = rules.parse_policy(row.document)
    inputs = _inputs(row, policy)
    digest = _digest(inputs, _ledger_state(row))
    last = row.last_inputs or {}
    if last.get("digest") == digest:
        return RunResult(None, code, int(last.get("items", 0)), 0, ZERO, ZERO,
                         Decimal(last.get("unfunded", "0.00")))

    orgs = {oid: (uscc, kind, region) for oid, uscc, kind, region in db.session.execute(
        select(Organisation.id, Organisation.uscc, Organisation.kind, Organisation.region_code))}
    grants: dict[tuple[int, str, int], list[Decimal]] = defaultdict(list)
    for g in db.session.execute(select(ExternalGrant.contract_id, ExternalGrant.role,
                                       ExternalGrant.organization_id, ExternalGrant.amount)
                                .order_by(ExternalGrant.id)):
        grants[(g[0], g[1], g[2])].append(g[3])
    n_items = _count_items(policy)
    awards = _held_awards(row, policy, orgs)
    held = {h.key: h.amount for h in awards.values() if h.eligible}
    writer = _Writer(row, policy, actor, now, grants, _year_payments(policy.year))

    # Clawbacks: awards whose item is no longer eligible (a cancelled contract, 注销).
    for h in awards.values():
        if h.eligible:
            continue
        if h.unfunded:
            writer.unfunded_update(h, ZERO, None)
        if h.amount <= 0:
            continue
        city, _ = rules.split(h.amount, h.region_code)
        writer.entry(h.id, "clawback", -h.amount, -city, -(h.amount - city),
                     "the contract is no longer eligible (cancelled, 注销)")
        writer.clawed += h.amount
        if h.paid > 0:
            writer.owed_back[h.id] = h.paid
    writer.flush_clawbacks()

    def items() -> Iterator[tuple[rules.Item, int, int, tuple[Decimal, int]]]:
        for (registered_at, number, cid, status, ctype, related, technical, base_fen, before,
             *parties) in _paying_contracts(policy):
            for role, org_id in zip(ROLES, parties, strict=True):
                if org_id is None:
                    continue
                uscc, kind, region = orgs[org_id]
                if rules.ineligible_reason(
                        status=status, contract_type=ctype, related_party=related,
                        technical_amount=technical, role=role, kind=kind, region_code=region,
                        policy=policy):
                    continue
                base = rules.half_up(Decimal(base_fen) / 100)
                raw = rules.raw_amount(base, policy.rates[role])
                external = grants.get((cid, role, org_id), [])
                yield (rules.Item(number, registered_at, role, uscc, region, base, raw,
                                  rules.half_up(sum(external, ZERO)),
                                  rules.wanted(raw, external)), cid, org_id, (technical, before))

    stream = items()
    ids: dict[tuple[str, str, str], tuple[int, int, tuple[Decimal, int]]] = {}

    def just_items() -> Iterator[rules.Item]:
        for item, cid, org_id, technical in stream:
            ids[item.key] = (cid, org_id, technical)
            yield item

    visited: set[int] = set()
    unfunded = ZERO
    for a in rules.Allocator(policy, held).stream(just_items()):
        cid, org_id, technical = ids.pop(a.item.key)
        h = awards.get((cid, a.item.role, org_id))
        if h is not None:
            visited.add(h.id)
        unfunded += a.unfunded
        if a.delta > 0 or (h is None and a.unfunded > 0) or (
                h is not None and h.unfunded != a.unfunded):
            writer.allocation(a, cid, org_id, technical, h)
    # Eligible awards that want nothing now (nothing paid in the year) leave nothing unfunded.
    for h in awards.values():
        if h.eligible and h.id not in visited and h.unfunded:
            writer.unfunded_update(h, ZERO, None)
    writer.flush()

    if writer.run is None:
        row.last_inputs = {"digest": digest, "items": n_items, "unfunded": str(unfunded)}
        db.session.flush()
        return RunResult(None, code, n_items, 0, ZERO, ZERO, unfunded)
    run = writer.run
    run.items, run.entries, run.awarded, run.clawed_back = (
        n_items, writer.entries, writer.awarded, writer.clawed)
    if row.first_run_at is None:
        row.first_run_at = now
    db.session.flush()
    run.inputs_digest = _digest(inputs, _ledger_state(row))
    row.last_inputs = {"digest": run.inputs_digest, "items": n_items, "unfunded": str(unfunded)}
    db.session.flush()
    record(actor, "support.run", "support_run", run.id,
           after={"policy": code, "items": n_items, "entries": writer.entries,
                  "awarded": writer.awarded, "clawed_back": writer.clawed,
                  "unfunded": unfunded},
           reason="scheduled or requested run of the policy")
    return RunResult(run.id, code, n_items, writer.topped, writer.awarded, writer.clawed,
                     unfunded)


class _Writer:
    """The writes of one run, in batches: new awards, changed awards and ledger entries."""

    def __init__(self, row: SupportPolicy, policy: rules.Policy, actor: Identity,
                 now: datetime, grants: dict[tuple[int, str, int], list[Decimal]],
                 payments: dict[int, list[tuple[date, int, int]]]) -> None:
        self.row, self.policy, self.actor, self.now, self.grants = row, policy, actor, now, grants
        self.payments = payments
        self.run: SupportRun | None = None
        self.pending: list[tuple[rules.Allocation, int, int, tuple[Decimal, int],
                                 _Held | None]] = []
        self.rows: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.owed_back: dict[int, Decimal] = {}
        self.entries = 0
        self.topped = 0
        self.awarded = ZERO
        self.clawed = ZERO

    def _run(self) -> SupportRun:
        if self.run is None:
            self.run = SupportRun(policy_id=self.row.id, actor=self.actor.label,
                                  started_at=self.now)
            db.session.add(self.run)
            db.session.flush()
        return self.run

    def entry(self, award_id: int, kind: str, amount: Decimal, city: Decimal, local: Decimal,
              reason: str) -> None:
        self.rows.append({"award_id": award_id, "kind": kind, "amount": amount,
                          "city_share": city, "local_share": local, "reason": reason})
        if len(self.rows) >= BATCH:
            self._write_entries()

    def _write_entries(self) -> None:
        if not self.rows:
            return
        run = self._run()
        for r in self.rows:
            r.update(run_id=run.id, actor=self.actor.label, created_at=self.now)
        db.insert_many(LedgerEntry.__table__, self.rows)
        self.entries += len(self.rows)
        self.rows = []

    def unfunded_update(self, h: _Held, unfunded: Decimal, reason: str | None) -> None:
        self.updates.append({"id": h.id, "unfunded": unfunded, "unfunded_reason": reason})
        if len(self.updates) >= BATCH:
            self._write_updates()

    def _write_updates(self) -> None:
        if self.updates:
            self._run()
            db.session.execute(update(SupportAward), self.updates)
            self.updates = []

    def flush_clawbacks(self) -> None:
        self._write_entries()
        if self.owed_back:
            for award in db.session.scalars(select(SupportAward).where(
                    SupportAward.id.in_(list(self.owed_back)))):
                award.explanation = {**award.explanation,
                                     "owed_back": str(self.owed_back[award.id]),
                                     "clawback": "paid before the contract was cancelled"}
            db.session.flush()

    def allocation(self, a: rules.Allocation, contract_id: int, org_id: int,
                   technical: tuple[Decimal, int], h: _Held | None) -> None:
        self.pending.append((a, contract_id, org_id, technical, h))
        if len(self.pending) >= BATCH:
            self._write_pending()

    def _write_pending(self) -> None:
        if not self.pending:
            return
        run = self._run()
        policy = self.policy
        before_year = date(policy.year - 1, 12, 31)
        new: list[dict[str, Any]] = []
        new_allocations: list[rules.Allocation] = []
        changed: list[dict[str, Any]] = []
        for a, cid, org_id, (technical, before), h in self.pending:
            role = a.item.role
            # What was paid before the year, as one payment, then the year's own payments.
            payments = [rules.Payment(before_year, -1, _yuan(before))] + [
                rules.Payment(paid_on, pid, _yuan(fen))
                for paid_on, pid, fen in self.payments.get(cid, ())]
            base, counted = rules.base_for(payments, technical, policy.year)
            if base != a.item.base:  # the database's step 1 and the rule's must agree
                raise RuntimeError(f"base of {a.item.key}: {base} != {a.item.base}")
            explanation = _explain(policy, a, {"payments": counted, "rate": policy.rates[role]},
                                   self.grants.get((cid, role, org_id), []))
            explanation["run_id"] = run.id
            reason = None if a.unfunded == 0 else (
                "budget spent: funded in part" if a.amount > 0 else "budget spent")
            if h is None:
                new.append({"policy_id": self.row.id, "contract_id": cid, "role": role,
                            "organization_id": org_id, "region_code": a.item.region_code,
                            "order_key": f"{a.item.registered_at.isoformat()}|"
                                         f"{a.item.contract_no}|{rules.ROLE_ORDER[role]}",
                            "status": "computed", "explanation": explanation,
                            "unfunded": a.unfunded, "unfunded_reason": reason,
                            "created_at": self.now})
                new_allocations.append(a)
            else:
                changed.append({"id": h.id, "status": "computed" if a.delta > 0 else h.status,
                                "explanation": explanation, "unfunded": a.unfunded,
                                "unfunded_reason": reason})
                if a.delta > 0:
                    self._money(h.id, a)
        if new:
            table = SupportAward.__table__
            ids = _new_ids(table, len(new))
            if ids is not None:
                for r, award_id in zip(new, ids, strict=True):
                    r["id"] = award_id
                db.insert_many(table, new)
            else:  # SQLite: an executemany, then the new ids by the award's natural key
                db.session.execute(table.insert(), new)
                t = table.c
                found = {(cid, role, org_id): award_id for award_id, cid, role, org_id in
                         db.session.execute(select(t.id, t.contract_id, t.role,
                                                   t.organization_id).where(
                             t.policy_id == self.row.id,
                             t.contract_id.in_(sorted({r["contract_id"] for r in new}))))}
                for r in new:
                    r["id"] = found[(r["contract_id"], r["role"], r["organization_id"])]
            for r, a in zip(new, new_allocations, strict=True):
                if a.delta > 0:
                    self._money(r["id"], a)
        if changed:
            db.session.execute(update(SupportAward), changed)
        self.pending = []
        self._write_entries()

    def _money(self, award_id: int, a: rules.Allocation) -> None:
        city_before, _ = rules.split(a.already, a.item.region_code)
        city = a.city_share - city_before
        self.entry(award_id, "award" if a.already == 0 else "adjustment", a.delta, city,
                   a.delta - city, a.reason or "rule of support.md steps 1-6")
        self.awarded += a.delta
        self.topped += 1

    def flush(self) -> None:
        self._write_pending()
        self._write_updates()
        self._write_entries()


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
            "unfunded": a.unfunded, "unfunded_reason": a.unfunded_reason,
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
    if "unfunded" in filters:  # step 6: what the budget left unfunded, wholly or in part
        stmt = stmt.where(SupportAward.unfunded > 0 if filters["unfunded"]
                          else SupportAward.unfunded == 0)
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
