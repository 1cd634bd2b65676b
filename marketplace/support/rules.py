"""The support rule of spec/support.md as pure functions: Decimal in, Decimal out, no I/O.

Steps: (1) the base is the part of the technical amount paid in the policy year; (2) raw =
base × rate, half-up to the fen; (3) 就高不重复: only the top-up over external grants is wanted;
(4) items in the order (registered_at, contract number, role) are paid up to the cap left for
the organisation and role; (5) the city pays 30 % (district) or 10 % (county-level city) of
each award, half-up, the district or county the rest; (6) a budget funds items in that order.

>>> policy = parse_policy({"code": "SZ-TT-2025", "year": 2025,
...     "rates": {"seller": "0.03", "buyer": "0.10", "intermediary": "0.01"},
...     "cap": "500000.00", "min_technical_amount": "0.00",
...     "eligible_types": ["license"], "eligible_kinds": {"seller": ["university"],
...     "buyer": ["enterprise"], "intermediary": ["intermediary"]}, "budget": None})
>>> base, _ = base_for([Payment(date(2024, 12, 31), 1, D("40000")),
...                     Payment(date(2025, 1, 1), 2, D("80000"))], D("100000"), 2025)
>>> base, raw_amount(base, policy.rates["buyer"]), split(D("6000.00"), "320583")
(Decimal('60000.00'), Decimal('6000.00'), (Decimal('600.00'), Decimal('5400.00')))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from marketplace.reference import CONTRACT_TYPES, ORG_KINDS, REGIONS, ROLES

D = Decimal
CENT = D("0.01")
ZERO = D("0.00")
ROLE_ORDER = {role: i for i, role in enumerate(ROLES)}
POLICY_KEYS = {"code", "year", "rates", "cap", "min_technical_amount", "eligible_types",
               "eligible_kinds", "budget"}
MAX_RATE_PLACES = 6


def half_up(value: Decimal) -> Decimal:
    """Round half-up to the fen.

    >>> half_up(D("0.005")), half_up(D("2.675"))
    (Decimal('0.01'), Decimal('2.68'))
    """
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class PolicyError(ValueError):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Policy:
    code: str
    year: int
    rates: Mapping[str, Decimal]
    cap: Decimal
    min_technical_amount: Decimal
    eligible_types: frozenset[str]
    eligible_kinds: Mapping[str, frozenset[str]]
    budget: Decimal | None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code, "year": self.year,
            "rates": {r: str(v) for r, v in self.rates.items()}, "cap": str(self.cap),
            "min_technical_amount": str(self.min_technical_amount),
            "eligible_types": sorted(self.eligible_types),
            "eligible_kinds": {r: sorted(k) for r, k in self.eligible_kinds.items()},
            "budget": None if self.budget is None else str(self.budget),
        }


def _decimal(value: Any, path: str, errors: dict[str, list[str]], *, places: int) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors.setdefault(path, []).append(
            "a decimal written as a string, like \"0.03\" (a JSON float is not exact)")
        return ZERO
    try:
        number = D(str(value).strip())
    except InvalidOperation:
        errors.setdefault(path, []).append(f"{value!r} is not a number")
        return ZERO
    if not number.is_finite():
        errors.setdefault(path, []).append("not a finite number")
        return ZERO
    if -number.as_tuple().exponent > places:  # type: ignore[operator]
        errors.setdefault(path, []).append(f"at most {places} decimals")
    return number


def parse_policy(data: Mapping[str, Any]) -> Policy:
    """Validate a policy document; every problem is reported at once in a PolicyError."""
    errors: dict[str, list[str]] = {}
    if not isinstance(data, Mapping):
        raise PolicyError({"policy": ["a JSON object"]})
    for key in sorted(set(data) - POLICY_KEYS):
        errors.setdefault(key, []).append("unknown field")
    for key in sorted(POLICY_KEYS - set(data) - {"budget"}):
        errors.setdefault(key, []).append("missing")
    code = data.get("code")
    if not isinstance(code, str) or not 1 <= len(code.strip()) <= 40:
        errors.setdefault("code", []).append("1 to 40 characters")
    year = data.get("year")
    if isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100:
        errors.setdefault("year", []).append("a year between 2000 and 2100")
    rates_in = data.get("rates")
    rates: dict[str, Decimal] = {}
    if not isinstance(rates_in, Mapping):
        errors.setdefault("rates", []).append("an object with a rate per role")
    else:
        for role in sorted(set(rates_in) - set(ROLES)):
            errors.setdefault(f"rates.{role}", []).append("unknown role")
        for role in ROLES:
            if role not in rates_in:
                errors.setdefault(f"rates.{role}", []).append("missing")
                continue
            rate = _decimal(rates_in[role], f"rates.{role}", errors, places=MAX_RATE_PLACES)
            if not ZERO <= rate <= 1:
                errors.setdefault(f"rates.{role}", []).append("between 0 and 1")
            rates[role] = rate
    cap = _decimal(data.get("cap", "0"), "cap", errors, places=2)
    if cap <= 0:
        errors.setdefault("cap", []).append("greater than 0")
    minimum = _decimal(data.get("min_technical_amount", "0"), "min_technical_amount", errors,
                       places=2)
    if minimum < 0:
        errors.setdefault("min_technical_amount", []).append("not negative")
    types = data.get("eligible_types")
    if not isinstance(types, list) or not types:
        errors.setdefault("eligible_types", []).append("a non-empty list of contract types")
        types = []
    for t in types:
        if not isinstance(t, str) or t not in CONTRACT_TYPES:
            errors.setdefault("eligible_types", []).append(f"unknown contract type {t!r}")
    kinds_in = data.get("eligible_kinds")
    kinds: dict[str, frozenset[str]] = {}
    if not isinstance(kinds_in, Mapping):
        errors.setdefault("eligible_kinds", []).append("an object with a list per role")
    else:
        for role in sorted(set(kinds_in) - set(ROLES)):
            errors.setdefault(f"eligible_kinds.{role}", []).append("unknown role")
        for role in ROLES:
            listed = kinds_in.get(role, [])
            if not isinstance(listed, list):
                errors.setdefault(f"eligible_kinds.{role}", []).append("a list of kinds")
                continue
            for k in listed:
                if not isinstance(k, str) or k not in ORG_KINDS:
                    errors.setdefault(f"eligible_kinds.{role}", []).append(f"unknown kind {k!r}")
            kinds[role] = frozenset(k for k in listed if isinstance(k, str))
    budget: Decimal | None = None
    if data.get("budget") is not None:
        budget = _decimal(data["budget"], "budget", errors, places=2)
        if budget <= 0:
            errors.setdefault("budget", []).append("greater than 0, or null for none")
    if errors:
        raise PolicyError(errors)
    return Policy(str(code).strip(), int(year), rates, half_up(cap), half_up(minimum),  # type: ignore[arg-type]
                  frozenset(types), kinds, None if budget is None else half_up(budget))


@dataclass(frozen=True, slots=True)
class Payment:
    paid_on: date
    seq: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class CountedPayment:
    paid_on: date
    amount: Decimal
    counted: Decimal


def base_for(payments: Iterable[Payment], technical_amount: Decimal, year: int
             ) -> tuple[Decimal, list[CountedPayment]]:
    """Step 1: payments in date order (then recording order) fill the technical amount; the
    part of it paid inside `year` is the base.

    >>> base_for([Payment(date(2025, 3, 1), 1, D("70")), Payment(date(2025, 2, 1), 2, D("50"))],
    ...          D("100"), 2025)[0]
    Decimal('100.00')
    """
    cumulative = ZERO
    base = ZERO
    used: list[CountedPayment] = []
    for p in sorted(payments, key=lambda p: (p.paid_on, p.seq)):
        room = max(ZERO, technical_amount - cumulative)
        counted = min(p.amount, room)
        cumulative += p.amount
        if p.paid_on.year == year:
            base += counted
            used.append(CountedPayment(p.paid_on, p.amount, counted))
    return half_up(base), used


def raw_amount(base: Decimal, rate: Decimal) -> Decimal:
    """Step 2: raw = base × rate, half-up to the fen.

    >>> raw_amount(D("12345.67"), D("0.03"))
    Decimal('370.37')
    """
    return half_up(base * rate)


def wanted(raw: Decimal, external_grants: Iterable[Decimal]) -> Decimal:
    """Step 3 (就高不重复): the top-up over grants from other programmes, added up.

    >>> wanted(D("100.00"), [D("30.00"), D("20.00")]), wanted(D("10.00"), [D("30.00")])
    (Decimal('50.00'), Decimal('0.00'))
    """
    return max(ZERO, raw - sum(external_grants, ZERO))


def split(amount: Decimal, region_code: str) -> tuple[Decimal, Decimal]:
    """Step 5: (city share, district or county share).

    >>> split(D("100.05"), "320571")
    (Decimal('30.02'), Decimal('70.03'))
    """
    city = half_up(amount * REGIONS[region_code].city_share)
    return city, amount - city


def ineligible_reason(*, status: str, contract_type: str, related_party: bool,
                      technical_amount: Decimal, role: str, kind: str, region_code: str,
                      policy: Policy) -> str | None:
    """Why a (contract, role, organisation) is no item of the policy, or None if it is one."""
    if status != "registered":
        return f"the contract is {status}, not registered"
    if contract_type not in policy.eligible_types:
        return f"{contract_type} contracts earn no support under {policy.code}"
    if related_party:
        return "related-party deal (关联交易)"
    if technical_amount < policy.min_technical_amount:
        return f"technical amount below {policy.min_technical_amount}"
    if region_code not in REGIONS:
        return "the organisation is outside Suzhou"
    if kind not in policy.eligible_kinds.get(role, frozenset()):
        return f"a {kind} receives no support as {role}"
    return None


@dataclass(frozen=True, slots=True)
class Item:
    """One eligible (contract, role, organisation) with what it wants (steps 1-3)."""

    contract_no: str
    registered_at: datetime
    role: str
    uscc: str
    region_code: str
    base: Decimal
    raw: Decimal
    external_grant: Decimal
    wanted: Decimal

    @property
    def order(self) -> tuple[datetime, str, int]:
        return (self.registered_at, self.contract_no, ROLE_ORDER[self.role])

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.contract_no, self.role, self.uscc)


@dataclass(frozen=True, slots=True)
class Allocation:
    item: Item
    already: Decimal      # what the ledger holds for the item before this run
    cap_room: Decimal     # cap room of (organisation, role) before this item
    payable: Decimal      # what the cap allows the item in total
    amount: Decimal       # the item's award after this run
    delta: Decimal        # what this run adds
    city_share: Decimal
    local_share: Decimal
    unfunded: Decimal = ZERO
    reason: str | None = None


@dataclass
class Allocator:
    """Steps 4-6 over items, on top of what a ledger already holds.

    `held` is each item's current award; every award of the policy counts against the cap of
    its (organisation, role) and against the budget. Items are taken in the order of step 4 and
    topped up to what they want while cap room (and budget) lasts; an award is never lowered
    here (that is a clawback's job). With an empty ledger this is exactly steps 4-6.
    """

    policy: Policy
    held: Mapping[tuple[str, str, str], Decimal] = field(default_factory=dict)

    def allocate(self, items: Sequence[Item]) -> list[Allocation]:
        return list(self.stream(sorted(items, key=lambda i: i.order)))

    def stream(self, items: Iterable[Item]) -> Iterator[Allocation]:
        """The allocations of items given already in the order of step 4, one at a time (the
        service streams a year of items through this without holding them all)."""
        used: dict[tuple[str, str], Decimal] = {}
        for (_contract_no, role, uscc), amount in self.held.items():
            used[(uscc, role)] = used.get((uscc, role), ZERO) + amount
        budget_left = None if self.policy.budget is None else (
            self.policy.budget - sum(self.held.values(), ZERO))
        last: tuple[datetime, str, int] | None = None
        for item in items:
            order = item.order
            if last is not None and order < last:
                raise ValueError(f"items out of the order of step 4 at {item.key}")
            last = order
            key = (item.uscc, item.role)
            already = self.held.get(item.key, ZERO)
            room = self.policy.cap - used.get(key, ZERO)
            top_up = max(ZERO, min(item.wanted - already, room))
            payable = already + top_up
            reason = None
            unfunded = ZERO
            if top_up < item.wanted - already:
                reason = "cap reached for the organisation and role this year"
            if budget_left is not None:
                funded = min(top_up, max(ZERO, budget_left))
                if funded < top_up:
                    unfunded = top_up - funded
                    reason = "budget spent" if funded == 0 else "budget spent: funded in part"
                top_up = funded
                budget_left -= top_up
            used[key] = used.get(key, ZERO) + top_up
            amount = already + top_up
            city, local = split(amount, item.region_code)
            if amount == 0 and reason is None:
                reason = ("nothing paid in the policy year" if item.base == 0 else
                          "external grants cover it (就高不重复)" if item.wanted == 0 else None)
            yield Allocation(item, already, room, payable, amount, top_up, city, local,
                             unfunded, reason)
