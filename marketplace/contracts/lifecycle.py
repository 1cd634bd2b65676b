"""The contract life cycle as data: (state, action) -> (new state, who may do it).

A member of the seller or the buyer records a draft; the buyer confirms it; the seller submits it
(sellers register, 卖方登记); the bureau registers (认定登记) or rejects it; a registered contract
can be amended (变更, a new version) or cancelled (注销) by the bureau. Nothing else moves a
contract, and `allowed_actions` is what a 409 names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

SELLER: Final = "seller"
BUYER: Final = "buyer"
BUREAU: Final = "bureau"


@dataclass(frozen=True)
class Transition:
    target: str
    by: str  # seller | buyer | bureau: whose members (or the bureau) may take the step


TRANSITIONS: Final[dict[tuple[str, str], Transition]] = {
    ("draft", "confirm"): Transition("confirmed", BUYER),
    ("confirmed", "submit"): Transition("submitted", SELLER),
    ("submitted", "register"): Transition("registered", BUREAU),
    ("submitted", "reject"): Transition("rejected", BUREAU),
    ("registered", "amend"): Transition("registered", BUREAU),
    ("registered", "cancel"): Transition("cancelled", BUREAU),
}

ACTIONS: Final = tuple(dict.fromkeys(action for _, action in TRANSITIONS))

# The reasons a registration officer gives for a rejection (not a technology contract; parties
# or price unclear; documents missing or inconsistent; public-domain technology sold as a
# transfer; other).
REJECTION_REASONS: Final = (
    "not_technology_contract",
    "parties_or_price_unclear",
    "documents_missing_or_inconsistent",
    "public_domain_as_transfer",
    "other",
)

# Payments (到账) can be recorded while a contract is alive; not once it is rejected or cancelled.
PAYABLE_STATES: Final = frozenset({"draft", "confirmed", "submitted", "registered"})


def step(state: str, action: str) -> Transition | None:
    """The transition `action` makes from `state`, or None when it is not allowed there.

    >>> step("submitted", "register").target
    'registered'
    >>> step("draft", "register") is None
    True
    """
    return TRANSITIONS.get((state, action))


def allowed_actions(state: str) -> list[str]:
    """The actions the life cycle allows from `state`, in the table's order.

    >>> allowed_actions("registered")
    ['amend', 'cancel']
    >>> allowed_actions("rejected")
    []
    """
    return [action for (source, action) in TRANSITIONS if source == state]
