"""Technology contracts: recording, the life cycle, amendments, payments and reading rights.

Who reads a contract: the bureau, and members of its seller, buyer or intermediary; for anyone
else it does not exist (404). Every step takes the contract's row lock first (`SELECT … FOR
UPDATE` on PostgreSQL), so two reviewers registering at once give one registration and two
payments at once cannot together pass the total.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import selectinload

from marketplace import db
from marketplace.audit.services import record
from marketplace.auth.identity import Identity
from marketplace.contracts import lifecycle
from marketplace.contracts.models import (
    Contract,
    ContractNumberCounter,
    ContractVersion,
    Payment,
)
from marketplace.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationProblem
from marketplace.imports import SHANGHAI
from marketplace.organisations.models import Organisation
from marketplace.reference import CONTRACT_TYPES, FIELDS

ORG_ROLES = ("org_admin", "org_member")
PARTY_FIELDS = {"seller": "seller_uscc", "buyer": "buyer_uscc", "intermediary": "intermediary_uscc"}
TERM_FIELDS = (
    "type", "subtype", "title", "field", "seller_uscc", "buyer_uscc", "intermediary_uscc",
    "total_amount", "technical_amount", "signed_on", "related_party", "achievement_id",
)
# An amendment changes terms, never who the parties are: that is another contract.
AMENDABLE = tuple(f for f in TERM_FIELDS if f not in ("seller_uscc", "buyer_uscc"))
# Registration numbers: year (Asia/Shanghai) + 3205 (Suzhou) + an eight-digit sequence of the year.
NUMBER_PREFIX = "3205"

Errors = dict[str, list[str]]


def today() -> date:
    return datetime.now(SHANGHAI).date()


def shanghai_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=SHANGHAI)


# --- validation ------------------------------------------------------------------------------


def term_problems(kind: str | None, subtype: str | None, seller: int | None, buyer: int | None,
                  intermediary: int | None, total: Decimal | None, technical: Decimal | None,
                  signed_on: date | None, *, subtype_given: bool = True,
                  as_of: date | None = None) -> list[tuple[str, str]]:
    """The rules between a contract's terms (domain.md), shared by the API and the imports.

    Parties are organisation ids. None is a value that is empty or was refused on its own
    already (and is then not checked again); `subtype_given` is False when the subtype was.
    `as_of` is today in Shanghai unless given.
    """
    problems: list[tuple[str, str]] = []
    if kind in CONTRACT_TYPES and subtype_given:
        allowed = CONTRACT_TYPES[kind]
        if allowed and subtype is None:
            problems.append(("subtype", f"a {kind} contract needs a subtype: one of "
                             f"{', '.join(allowed)}"))
        elif subtype is not None and subtype not in allowed:
            problems.append(("subtype", f"{subtype!r} is not a subtype of {kind}"
                             + (f": one of {', '.join(allowed)}" if allowed else "")))
    if seller is not None and seller == buyer:
        problems.append(("buyer_uscc", "the buyer must be another organisation than the seller"))
    if intermediary is not None and intermediary in (seller, buyer):
        problems.append(("intermediary_uscc", "the intermediary must differ from the seller and "
                         "the buyer"))
    if total is not None and technical is not None and technical > total:
        problems.append(("technical_amount", f"{technical} is more than the total amount "
                         f"{total}"))
    if signed_on is not None and signed_on > (as_of or today()):
        problems.append(("signed_on", f"{signed_on} is in the future"))
    return problems


def check_terms(data: Mapping[str, Any]) -> tuple[Errors, dict[str, Party | None]]:
    """Every cross-field and reference problem of a contract's terms, and the parties found.

    Fields missing from `data` (because they were already refused on their own) are skipped.
    """
    errors: Errors = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    kind = data.get("type")
    if kind is not None and kind not in CONTRACT_TYPES:
        add("type", f"{kind!r} is not one of {', '.join(CONTRACT_TYPES)}")
    if data.get("field") is not None and data["field"] not in FIELDS:
        add("field", f"{data['field']!r} is not one of the technology fields")
    parties: dict[str, Party | None] = {}
    found = by_usccs([data[f] for f in PARTY_FIELDS.values() if data.get(f)])
    for role, field in PARTY_FIELDS.items():
        code = data.get(field)
        org = found.get(code) if code else None
        if code and org is None:
            add(field, f"no organisation is registered with the code {code}")
        parties[role] = org
    ids = [o.id if o is not None else None for o in parties.values()]
    for field, message in term_problems(
        kind, data.get("subtype"), *ids, data.get("total_amount"), data.get("technical_amount"),
        data.get("signed_on"), subtype_given="subtype" in data,
    ):
        add(field, message)
    achievement_id = data.get("achievement_id")
    if achievement_id is not None and not _achievement_exists(achievement_id):
        add("achievement_id", f"no achievement {achievement_id}")
    return errors, parties


class Party(NamedTuple):
    """An organisation as a contract's terms name it: all that checking and answering need."""

    id: int
    uscc: str
    name: str


ORGS_SEEN = db.transaction_info("orgs_by_uscc")
_BY_USCCS = select(Organisation.id, Organisation.uscc, Organisation.name).where(  # built once
    Organisation.uscc.in_(bindparam("codes", expanding=True)))


def by_usccs(codes: list[str]) -> dict[str, Party]:
    """The organisations with these codes (those registered), in one query, and each looked up
    once per transaction (a request checks a contract's terms twice: when its body is read and
    when it is recorded). A code not found is asked again, and a rollback forgets."""
    known: dict[str, Party] = db.session.info.setdefault(ORGS_SEEN, {})
    missing = [c for c in codes if c not in known]
    if missing:
        known.update((row.uscc, Party(*row))
                     for row in db.connection().execute(_BY_USCCS, {"codes": missing}))
    return {c: known[c] for c in codes if c in known}



def _achievement_exists(achievement_id: int) -> bool:
    from marketplace.achievements.models import Achievement

    return db.session.get(Achievement, achievement_id) is not None


def _mark_achievement_traded(actor: Identity, contract: Contract) -> None:
    """A registered contract that names an achievement makes it `traded` (domain.md)."""
    if contract.achievement_id is None:
        return
    from marketplace.achievements.services import mark_traded

    mark_traded(actor, contract.achievement_id, contract)


# --- reading ---------------------------------------------------------------------------------


def visible(actor: Identity, contract: Contract) -> bool:
    return actor.is_bureau or (
        actor.organization_id is not None
        and actor.organization_id in (contract.seller_id, contract.buyer_id,
                                      contract.intermediary_id)
    )


def get(actor: Identity, contract_id: int) -> Contract:
    actor.require_signed_in()
    contract = db.session.get(Contract, contract_id)
    if contract is None or not visible(actor, contract):
        raise NotFound(f"no contract {contract_id}")
    return contract


def _locked(actor: Identity, contract_id: int) -> Contract:
    """The contract with its row locked until the transaction ends (404 when not readable)."""
    actor.require_signed_in()
    contract = db.session.scalar(
        select(Contract).where(Contract.id == contract_id).with_for_update()
        .execution_options(populate_existing=True)
    )
    if contract is None or not visible(actor, contract):
        raise NotFound(f"no contract {contract_id}")
    return contract


def _party_id(code: str) -> Any:
    return select(Organisation.id).where(Organisation.uscc == code).scalar_subquery()


def query(actor: Identity, filters: Mapping[str, Any]) -> Select[tuple[Contract]]:
    actor.require_signed_in()
    stmt = select(Contract).options(
        selectinload(Contract.seller), selectinload(Contract.buyer),
        selectinload(Contract.intermediary),
    ).order_by(Contract.id)
    if not actor.is_bureau:
        org = actor.organization_id
        stmt = stmt.where(or_(Contract.seller_id == org, Contract.buyer_id == org,
                              Contract.intermediary_id == org))
    for name in ("status", "field", "type", "subtype", "contract_no"):
        if name in filters:
            stmt = stmt.where(getattr(Contract, name) == filters[name])
    for name in ("seller", "buyer", "intermediary"):
        if name in filters:
            stmt = stmt.where(getattr(Contract, f"{name}_id") == _party_id(filters[name]))
    if "registered_from" in filters:
        stmt = stmt.where(Contract.registered_at >= shanghai_midnight(filters["registered_from"]))
    if "registered_to" in filters:
        end = shanghai_midnight(filters["registered_to"] + timedelta(days=1))
        stmt = stmt.where(Contract.registered_at < end)
    return stmt


def terms_of(contract: Contract | RecordedContract) -> dict[str, Any]:
    """The terms of the contract as it stands, in plain Python values."""
    return {
        "type": contract.type, "subtype": contract.subtype, "title": contract.title,
        "field": contract.field, "seller_uscc": contract.seller.uscc,
        "buyer_uscc": contract.buyer.uscc,
        "intermediary_uscc": contract.intermediary.uscc if contract.intermediary else None,
        "total_amount": contract.total_amount, "technical_amount": contract.technical_amount,
        "signed_on": contract.signed_on, "related_party": contract.related_party,
        "achievement_id": contract.achievement_id,
    }


def _json_terms(terms: Mapping[str, Any]) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value.quantize(Decimal("0.01")))
        if isinstance(value, date):
            return value.isoformat()
        return value

    return {k: plain(v) for k, v in terms.items()}


def versions(actor: Identity, contract_id: int) -> list[dict[str, Any]]:
    """Every version's terms with who made it, when and why, oldest first.

    A contract imported from the registration system and never amended has no stored version
    yet: its version 1 is the contract as imported.
    """
    contract = get(actor, contract_id)
    rows = list(db.session.scalars(
        select(ContractVersion).where(ContractVersion.contract_id == contract.id)
        .order_by(ContractVersion.version)
    ))
    out = [{"version": v.version, "terms": v.terms, "changed_by": v.changed_by,
            "changed_at": v.changed_at, "reason": v.reason} for v in rows]
    if not rows:
        out.append(_imported_version(contract))
    return out


def _imported_version(contract: Contract) -> dict[str, Any]:
    return {"version": contract.version, "terms": _json_terms(terms_of(contract)),
            "changed_by": "system:import", "changed_at": contract.created_at,
            "reason": "imported from the registration system"}


# Built once: a new contract and its first version are Core inserts (no unit of work, no ORM
# instance); only the contract's id comes back.
_CONTRACTS, _VERSIONS = Contract.__table__, ContractVersion.__table__
_INSERT_CONTRACT = insert(_CONTRACTS).returning(_CONTRACTS.c.id)
_INSERT_VERSION = insert(_VERSIONS)
# PostgreSQL: both in one statement, the version taking the id from a data-modifying WITH. The
# contract's values are bound as new_<column> (SQLAlchemy keeps a column's own name for itself).
_RECORDED_COLUMNS = ("type", "subtype", "title", "field", "seller_id", "buyer_id",
                     "intermediary_id", "total_amount", "technical_amount", "signed_on",
                     "related_party", "achievement_id", "status", "version", "source",
                     "created_by", "created_at", "updated_at")
_NEW_CONTRACT = insert(_CONTRACTS).values({
    name: bindparam(f"new_{name}", type_=_CONTRACTS.c[name].type) for name in _RECORDED_COLUMNS
}).returning(_CONTRACTS.c.id).cte("new_contract")
_RECORDED_KEYS = frozenset(_RECORDED_COLUMNS)
_VERSION_FIELDS = ("version", "terms", "changed_by", "changed_at", "reason")
_INSERT_CONTRACT_AND_VERSION = insert(_VERSIONS).from_select(
    ["contract_id", *_VERSION_FIELDS],
    select(_NEW_CONTRACT.c.id, *(bindparam(f"first_{name}", type_=_VERSIONS.c[name].type)
                                 for name in _VERSION_FIELDS)),
).returning(_VERSIONS.c.contract_id)


def _insert_new(values: dict[str, Any], version: dict[str, Any]) -> int:
    """Store a new contract (`values`: _RECORDED_COLUMNS) and its first version (`version`:
    _VERSION_FIELDS); the contract's id. On PostgreSQL one round trip instead of two."""
    assert values.keys() == _RECORDED_KEYS, "the contract's columns and the statement's differ"
    connection = db.connection()
    if db.is_postgres():
        contract_id: int = connection.scalar(_INSERT_CONTRACT_AND_VERSION, {
            **{f"new_{k}": v for k, v in values.items()},
            **{f"first_{k}": v for k, v in version.items()}})
        return contract_id
    contract_id = connection.scalar(_INSERT_CONTRACT, values)
    connection.execute(_INSERT_VERSION, {"contract_id": contract_id, **version})
    return contract_id


def _version_row(contract: Contract | RecordedContract, changed_by: str, reason: str | None,
                 at: datetime | None = None, terms: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """A version's columns (_VERSION_FIELDS) but its contract's id: the terms as they stand."""
    return {"version": contract.version,
            "terms": terms if terms is not None else _json_terms(terms_of(contract)),
            "changed_by": changed_by, "changed_at": at or db.utcnow(), "reason": reason}


def _write_version(contract: Contract | RecordedContract, changed_by: str, reason: str | None,
                   at: datetime | None = None, terms: dict[str, Any] | None = None) -> None:
    db.connection().execute(_INSERT_VERSION, {
        "contract_id": contract.id, **_version_row(contract, changed_by, reason, at, terms)})


# --- recording and the life cycle ------------------------------------------------------------


class RecordedContract(SimpleNamespace):
    """A contract as just recorded: every column of its row and its three parties, read like a
    `Contract` (`terms_of`, `ContractOut`) but not an ORM instance; reading it asks nothing."""

    id: int
    version: int
    seller: Party
    buyer: Party
    intermediary: Party | None


_UNSET = {c.name: None for c in Contract.__table__.columns if c.name != "id"}  # all empty


def record_contract(actor: Identity, data: Mapping[str, Any]) -> RecordedContract:
    """A draft, recorded by a member of its seller or its buyer."""
    actor.require(*ORG_ROLES)
    errors, parties = check_terms(data)
    if errors:
        raise ValidationProblem(errors=errors)
    seller, buyer, intermediary = parties["seller"], parties["buyer"], parties["intermediary"]
    assert seller is not None and buyer is not None
    if actor.organization_id not in (seller.id, buyer.id):
        raise Forbidden("only a member of the seller or of the buyer records a contract")
    now = db.utcnow()
    values = {
        "type": data["type"], "subtype": data.get("subtype"), "title": data["title"],
        "field": data["field"], "seller_id": seller.id, "buyer_id": buyer.id,
        "intermediary_id": intermediary.id if intermediary else None,
        "total_amount": data["total_amount"], "technical_amount": data["technical_amount"],
        "signed_on": data["signed_on"], "related_party": data.get("related_party", False),
        "achievement_id": data.get("achievement_id"), "status": "draft", "version": 1,
        "source": "api", "created_by": actor.user_id, "created_at": now, "updated_at": now,
    }
    contract = RecordedContract(**{**_UNSET, **values}, seller=seller, buyer=buyer,
                                intermediary=intermediary)
    terms = _json_terms(terms_of(contract))
    contract.id = _insert_new(values, _version_row(contract, actor.label, "recorded", now, terms))
    record(actor, "contract.record", "contract", contract.id, after=terms)
    return contract


def _may(actor: Identity, contract: Contract, who: str) -> bool:
    if who == lifecycle.BUREAU:
        return actor.is_bureau
    party = contract.seller_id if who == lifecycle.SELLER else contract.buyer_id
    return actor.role in ORG_ROLES and actor.organization_id == party


def act(actor: Identity, contract_id: int, action: str,
        data: Mapping[str, Any] | None = None) -> Contract:
    """Take one step of the life cycle (see `lifecycle.TRANSITIONS`)."""
    data = data or {}
    contract = _locked(actor, contract_id)
    step = lifecycle.step(contract.status, action)
    if step is None:
        raise InvalidTransition(
            f"a {contract.status} contract cannot take the action {action!r}",
            current_state=contract.status,
            allowed_actions=lifecycle.allowed_actions(contract.status),
        )
    if not _may(actor, contract, step.by):
        who = "the bureau" if step.by == lifecycle.BUREAU else f"a member of the {step.by}"
        raise Forbidden(f"only {who} may {action} this contract")
    before = {"status": contract.status, "version": contract.version}
    now = db.utcnow()
    reason = _STEPS[action](actor, contract, data, now)
    contract.status = step.target
    contract.updated_at = now
    db.session.flush()
    after: dict[str, Any] = {"status": contract.status, "version": contract.version}
    if action == "register":
        after.update(contract_no=contract.contract_no, registered_at=now)
        _mark_achievement_traded(actor, contract)
    elif action == "amend":
        after["terms"] = _json_terms(terms_of(contract))
    elif action == "cancel":
        after["cancelled_at"] = contract.cancelled_at
    elif action == "reject":
        after["rejection_reason"] = contract.rejection_reason
    record(actor, f"contract.{action}", "contract", contract.id, before=before, after=after,
           reason=reason)
    return contract


def _confirm(actor: Identity, contract: Contract, data: Mapping[str, Any],
             now: datetime) -> str | None:
    contract.confirmed_at = now
    return None


def _submit(actor: Identity, contract: Contract, data: Mapping[str, Any],
            now: datetime) -> str | None:
    contract.submitted_at = now
    return None


def _register(actor: Identity, contract: Contract, data: Mapping[str, Any],
              now: datetime) -> str | None:
    contract.contract_no = allocate_number(now.astimezone(SHANGHAI).year)
    contract.registered_at = now
    contract.registered_by = actor.user_id
    return None


def _reject(actor: Identity, contract: Contract, data: Mapping[str, Any],
            now: datetime) -> str | None:
    contract.rejected_at = now
    contract.rejection_reason = data["reason"]
    contract.rejection_note = data["note"]
    return f"{data['reason']}: {data['note']}"


def _amend(actor: Identity, contract: Contract, data: Mapping[str, Any],
           now: datetime) -> str | None:
    current = terms_of(contract)
    changes = {k: v for k, v in data.items() if k in AMENDABLE and v != current[k]}
    merged = current | changes
    errors, parties = check_terms(merged) if changes else (
        {"body": ["nothing to amend: every term given is already the contract's"]}, {})
    for key in ("seller_uscc", "buyer_uscc"):
        if key in data:
            errors.setdefault(key, []).append(
                "the parties are not amended: cancel and record a new contract")
    paid = paid_total(contract.id)
    if changes and merged["total_amount"] < paid:
        errors.setdefault("total_amount", []).append(
            f"payments of {paid} are recorded already; the total cannot be less")
    if errors:
        raise ValidationProblem(errors=errors)
    if not db.session.scalar(select(func.count()).select_from(ContractVersion)
                             .where(ContractVersion.contract_id == contract.id)):
        imported = _imported_version(contract)
        _write_version(contract, imported["changed_by"], imported["reason"],
                       at=imported["changed_at"])
    for key, value in changes.items():
        if key == "intermediary_uscc":
            party = parties["intermediary"]
            contract.intermediary = (db.session.get(Organisation, party.id)
                                     if party is not None else None)
        else:
            setattr(contract, key, value)
    contract.version += 1
    _write_version(contract, actor.label, data["reason"], at=now)
    return str(data["reason"])


def _cancel(actor: Identity, contract: Contract, data: Mapping[str, Any],
            now: datetime) -> str | None:
    cancelled_at = data.get("cancelled_at") or now
    errors: Errors = {}
    if cancelled_at > now:
        errors["cancelled_at"] = ["must not be in the future"]
    registered = contract.registered_at
    if registered is not None and (cancelled_at.astimezone(SHANGHAI).date()
                                   < registered.astimezone(SHANGHAI).date()):
        errors["cancelled_at"] = [f"must not be before the registration "
                                  f"({registered.astimezone(SHANGHAI).date()})"]
    if errors:
        raise ValidationProblem(errors=errors)
    contract.cancelled_at = cancelled_at
    contract.cancellation_reason = data["reason"]
    return str(data["reason"])


_STEPS: dict[str, Callable[[Identity, Contract, Mapping[str, Any], datetime], str | None]] = {
    "confirm": _confirm, "submit": _submit, "register": _register, "reject": _reject,
    "amend": _amend, "cancel": _cancel,
}
assert set(_STEPS) == set(lifecycle.ACTIONS)


def format_number(year: int, sequence: int) -> str:
    """A registration number: year, 3205 and the year's sequence in eight digits.

    >>> format_number(2026, 42)
    '2026320500000042'
    """
    return f"{year:04d}{NUMBER_PREFIX}{sequence:08d}"


def allocate_number(year: int) -> str:
    """The year's next registration number, raised atomically in the transaction.

    The counter row stays locked until commit, so concurrent registrations queue for it; a
    number already present (carried in by an import) is skipped.
    """
    table = ContractNumberCounter.__table__
    upsert = postgresql.insert if db.is_postgres() else sqlite.insert
    stmt = upsert(table).values(year=year, last_number=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.year], set_={"last_number": table.c.last_number + 1}
    ).returning(table.c.last_number)
    while True:
        number = format_number(year, int(db.session.execute(stmt).scalar_one()))
        if db.session.scalar(select(Contract.id).where(Contract.contract_no == number)) is None:
            return number


# --- payments --------------------------------------------------------------------------------


def paid_total(contract_id: int) -> Decimal:
    """The sum of a contract's payments (in Python: SQLite keeps amounts as text)."""
    amounts = db.session.scalars(select(Payment.amount).where(Payment.contract_id == contract_id))
    return sum(amounts, Decimal("0.00"))


def payments_query(actor: Identity, contract_id: int) -> Select[tuple[Payment]]:
    contract = get(actor, contract_id)
    return (select(Payment).where(Payment.contract_id == contract.id)
            .order_by(Payment.paid_on, Payment.id))


def add_payment(actor: Identity, contract_id: int, data: Mapping[str, Any]) -> Payment:
    """A payment (到账) the buyer made, recorded by the seller, the buyer or the bureau."""
    contract = _locked(actor, contract_id)
    if not (actor.is_bureau or (actor.role in ORG_ROLES and actor.organization_id in
                                (contract.seller_id, contract.buyer_id))):
        raise Forbidden("payments are recorded by the seller, the buyer or the bureau")
    if contract.status not in lifecycle.PAYABLE_STATES:
        raise Conflict(f"a {contract.status} contract takes no more payments",
                       current_state=contract.status)
    amount: Decimal = data["amount"]
    paid_on: date = data["paid_on"]
    errors: Errors = {}
    if paid_on > today():
        errors.setdefault("paid_on", []).append("must not be in the future")
    if paid_on < contract.signed_on:
        errors.setdefault("paid_on", []).append(
            f"must not be before the contract was signed ({contract.signed_on})")
    paid = paid_total(contract.id)
    if paid + amount > contract.total_amount:
        errors.setdefault("amount", []).append(
            f"payments would total {paid + amount}, more than the contract's total "
            f"{contract.total_amount} (already paid: {paid})")
    if errors:
        raise ValidationProblem(errors=errors)
    ordinal = (db.session.scalar(
        select(func.max(Payment.ordinal)).where(
            Payment.contract_id == contract.id, Payment.paid_on == paid_on,
            Payment.amount == amount)
    ) or 0) + 1
    payment = Payment(contract_id=contract.id, paid_on=paid_on, amount=amount, ordinal=ordinal,
                      recorded_by=actor.label, created_at=db.utcnow())
    db.session.add(payment)
    db.session.flush()
    record(actor, "contract.payment", "contract", contract.id,
           after={"payment_id": payment.id, "paid_on": paid_on, "amount": amount,
                  "paid_total": paid + amount})
    return payment
