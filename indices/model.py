"""The vocabulary of the indices: families, domains, indicators, parameters and contract rows.

Methodology v1 (``indices.md``) computes three families of composite indices:

========== ============================== ==================================================
family     domains                        the contract set S(d, t) of domain d in month t
========== ============================== ==================================================
transfer   ``SZ``                         seller or buyer in one of Suzhou's ten regions
regional   the ten region codes           seller region or buyer region is the domain
industry   the eleven field codes         contracts of the ``SZ`` set with that field
========== ============================== ==================================================

over six sub-indicators in three pillars: scale (N, V), participation (P, E) and linkage (X, U).

>>> [len(DOMAINS[f]) for f in FAMILIES]
[1, 10, 11]
>>> PILLAR_OF["E"], SPLIT_INDICATORS
('participation', ('N', 'V', 'X', 'U'))
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from .periods import Period

__all__ = [
    "DOMAINS",
    "FAMILIES",
    "FIELD_CODES",
    "INDICATORS",
    "KINDS",
    "METHODOLOGY_VERSION",
    "OUTSIDE",
    "PILLARS",
    "PILLAR_OF",
    "REGION_CODES",
    "SPLIT_INDICATORS",
    "SZ",
    "ContractRow",
    "IndexInputError",
    "Parameters",
    "domains_of",
    "in_suzhou",
    "is_linkage",
    "is_university_to_enterprise",
    "normalise_code",
    "rows_digest",
    "split_key",
]

METHODOLOGY_VERSION: Final = "1.0"

#: The ``transfer`` family's only domain: the whole city.
SZ: Final = "SZ"
#: Split bucket of sellers outside Suzhou (``transfer`` and ``industry`` families).
OUTSIDE: Final = "outside"

#: Suzhou's ten county-level units (GB/T 2260), ascending.
REGION_CODES: Final[tuple[str, ...]] = (
    "320505", "320506", "320507", "320508", "320509",
    "320571", "320581", "320582", "320583", "320585",
)
_SUZHOU: Final = frozenset(REGION_CODES)

#: The eleven technology fields of national contract statistics, in domain.md order.
FIELD_CODES: Final[tuple[str, ...]] = (
    "electronic_information", "aerospace", "advanced_manufacturing", "biomedicine",
    "new_materials", "new_energy", "environment", "nuclear", "agriculture",
    "modern_transport", "urban_social",
)
_FIELDS: Final = frozenset(FIELD_CODES)

#: Organisation kinds.
KINDS: Final[tuple[str, ...]] = (
    "university", "research_institute", "enterprise", "intermediary", "government", "other",
)
_KINDS: Final = frozenset(KINDS)
_UNIVERSITY_KINDS: Final = frozenset({"university", "research_institute"})

#: The families, in publication order.
FAMILIES: Final[tuple[str, ...]] = ("transfer", "regional", "industry")
#: The domains of each family, in publication order (ascending code).
DOMAINS: Final[Mapping[str, tuple[str, ...]]] = {
    "transfer": (SZ,),
    "regional": REGION_CODES,
    "industry": tuple(sorted(FIELD_CODES)),
}

#: The six sub-indicators, in publication order.
INDICATORS: Final[tuple[str, ...]] = ("N", "V", "P", "E", "X", "U")
#: The three pillars and their indicators.
PILLARS: Final[Mapping[str, tuple[str, ...]]] = {
    "scale": ("N", "V"),
    "participation": ("P", "E"),
    "linkage": ("X", "U"),
}
PILLAR_OF: Final[Mapping[str, str]] = {k: p for p, ks in PILLARS.items() for k in ks}
#: The indicators that add up over contracts, hence have contributions split by bucket.
SPLIT_INDICATORS: Final[tuple[str, ...]] = ("N", "V", "X", "U")

_REGION_RE = re.compile(r"^\d{6}$")


class IndexInputError(ValueError):
    """Input the methodology cannot compute from (bad row, bad period, missing cap, ...)."""


def normalise_code(code: str) -> str:
    """Normalise an organisation code as the registration system does: NFKC, no whitespace,
    upper case (domain.md, *Organisations*). The check digit is not verified here.

    >>> normalise_code("\\u3000９１３２０５０７ｍａ９ft7hm2q ")
    '91320507MA9FT7HM2Q'
    """
    return "".join(unicodedata.normalize("NFKC", code).split()).upper()


@dataclass(frozen=True, slots=True)
class Parameters:
    """The parameters of a computation, stored with every run (methodology v1).

    - ``methodology_version``: ``"1.0"``; any other value of a parameter is a new version.
    - ``percentile``: q of the nearest-rank cap C_y, the value at position ⌈q·n⌉ (0 < q ≤ 1).
    - ``window_months``: C_y looks at the ``window_months`` months before January of y.
    - ``cap_min_contracts``: with fewer contracts in the window, C_y is unlimited.
    - ``activity_threshold``: an indicator is active for (d, y) when its total over ref(y)
      is at least this (V uses the total of N).
    - ``base_year``: the base year B; ``None`` for the default (see ``default_base_year``).

    >>> Parameters().to_dict()["percentile"]
    '0.99'
    >>> Parameters.from_dict(Parameters(base_year=2020).to_dict()) == Parameters(base_year=2020)
    True
    """

    methodology_version: str = METHODOLOGY_VERSION
    percentile: Decimal = Decimal("0.99")
    window_months: int = 36
    cap_min_contracts: int = 100
    activity_threshold: int = 12
    base_year: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.percentile, Decimal) or not self.percentile.is_finite():
            raise IndexInputError(f"percentile must be a finite Decimal, got {self.percentile!r}")
        if not Decimal(0) < self.percentile <= Decimal(1):
            raise IndexInputError(f"percentile must be in (0, 1], got {self.percentile}")
        for name in ("window_months", "cap_min_contracts", "activity_threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise IndexInputError(f"{name} must be a positive int, got {value!r}")
        if self.base_year is not None and (
            isinstance(self.base_year, bool) or not isinstance(self.base_year, int)
            or not 1 <= self.base_year <= 9998
        ):
            raise IndexInputError(f"base_year must be a year or None, got {self.base_year!r}")

    def to_dict(self) -> dict[str, str | int | None]:
        """JSON-friendly form (the percentile as a decimal string)."""
        return {
            "methodology_version": self.methodology_version,
            "percentile": str(self.percentile),
            "window_months": self.window_months,
            "cap_min_contracts": self.cap_min_contracts,
            "activity_threshold": self.activity_threshold,
            "base_year": self.base_year,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Parameters:
        """Inverse of :meth:`to_dict`; missing keys take their defaults."""
        default = cls()

        def as_int(name: str, fallback: int) -> int:
            value = data.get(name, fallback)
            if not isinstance(value, int):
                raise IndexInputError(f"{name} must be an int, got {value!r}")
            return value

        base = data.get("base_year")
        if base is not None and not isinstance(base, int):
            raise IndexInputError(f"base_year must be an int or null, got {base!r}")
        return cls(
            methodology_version=str(data.get("methodology_version", default.methodology_version)),
            percentile=Decimal(str(data.get("percentile", default.percentile))),
            window_months=as_int("window_months", default.window_months),
            cap_min_contracts=as_int("cap_min_contracts", default.cap_min_contracts),
            activity_threshold=as_int("activity_threshold", default.activity_threshold),
            base_year=base,
        )


def _check_amount(name: str, value: object) -> Decimal:
    if not isinstance(value, Decimal):
        raise IndexInputError(f"{name} must be a Decimal (never a float), got {value!r}")
    if not value.is_finite():
        raise IndexInputError(f"{name} must be finite, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class ContractRow:
    """One counted contract: registered, not cancelled, with its latest amended values.

    ``period`` is the Asia/Shanghai month of ``registered_at`` (see ``period_of``); the ids are
    the organisations' normalised codes (any stable identifier works); regions and kinds come
    from the organisations' records, never from the digits of their codes. The intermediary's
    region and kind play no part. Amounts are ``Decimal`` yuan with
    0 < technical_amount ≤ total_amount.

    >>> row = ContractRow("C1", Period(2019, 1), "S", "B", None, "320505", "310115",
    ...                   "university", "enterprise", "biomedicine",
    ...                   Decimal("80000.00"), Decimal("100000.00"))
    >>> row.period
    Period(year=2019, month=1)
    >>> domains_of(row)
    [('transfer', 'SZ'), ('regional', '320505'), ('industry', 'biomedicine')]
    """

    contract_no: str
    period: Period
    seller_id: str
    buyer_id: str
    intermediary_id: str | None
    seller_region: str
    buyer_region: str
    seller_kind: str
    buyer_kind: str
    field: str
    technical_amount: Decimal
    total_amount: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "period", Period.of(self.period))
        for name in ("seller_region", "buyer_region"):
            if not _REGION_RE.match(getattr(self, name)):
                raise IndexInputError(
                    f"{self.contract_no}: {name} must be a six-digit division code, "
                    f"got {getattr(self, name)!r}")
        for name in ("seller_kind", "buyer_kind"):
            if getattr(self, name) not in _KINDS:
                raise IndexInputError(
                    f"{self.contract_no}: unknown {name} {getattr(self, name)!r}")
        if self.field not in _FIELDS:
            raise IndexInputError(f"{self.contract_no}: unknown field {self.field!r}")
        parties = [self.seller_id, self.buyer_id]
        if self.intermediary_id is not None:
            parties.append(self.intermediary_id)
        if not all(parties) or len(set(parties)) != len(parties):
            raise IndexInputError(
                f"{self.contract_no}: seller, buyer and intermediary must be distinct ids")
        technical = _check_amount("technical_amount", self.technical_amount)
        total = _check_amount("total_amount", self.total_amount)
        if not Decimal(0) < technical <= total:
            raise IndexInputError(
                f"{self.contract_no}: need 0 < technical_amount <= total_amount, "
                f"got {technical} and {total}")

    @property
    def parties(self) -> tuple[str, ...]:
        """Seller, buyer and (if any) intermediary ids."""
        if self.intermediary_id is None:
            return (self.seller_id, self.buyer_id)
        return (self.seller_id, self.buyer_id, self.intermediary_id)


def domains_of(row: ContractRow) -> list[tuple[str, str]]:
    """The (family, domain) pairs whose contract set holds ``row`` (methodology v1,
    *Families and domains*). An intermediary never puts a contract into a region's set.

    >>> from decimal import Decimal as D
    >>> r = ContractRow("C", Period(2020, 3), "S", "B", "I", "320571", "320571", "enterprise",
    ...                 "enterprise", "new_energy", D(1), D(1))
    >>> domains_of(r)
    [('transfer', 'SZ'), ('regional', '320571'), ('industry', 'new_energy')]
    >>> domains_of(ContractRow("C", Period(2020, 3), "S", "B", None, "310115", "110108",
    ...                        "enterprise", "enterprise", "new_energy", D(1), D(1)))
    []
    """
    seller_in = row.seller_region in _SUZHOU
    buyer_in = row.buyer_region in _SUZHOU
    if not (seller_in or buyer_in):
        return []
    result = [("transfer", SZ)]
    if seller_in:
        result.append(("regional", row.seller_region))
    if buyer_in and row.buyer_region != row.seller_region:
        result.append(("regional", row.buyer_region))
    result.append(("industry", row.field))
    return result


def in_suzhou(row: ContractRow) -> bool:
    """Whether ``row`` is in the ``SZ`` set (seller or buyer in one of the ten regions)."""
    return row.seller_region in _SUZHOU or row.buyer_region in _SUZHOU


def split_key(family: str, row: ContractRow) -> str:
    """The bucket of ``row`` in the breakdown of contributions (methodology v1, *Contributions*):
    the seller's region (``"outside"`` outside Suzhou) for ``transfer`` and ``industry``, the
    field for ``regional``.

    >>> from decimal import Decimal as D
    >>> r = ContractRow("C", Period(2020, 3), "S", "B", None, "310115", "320583", "university",
    ...                 "enterprise", "agriculture", D(1), D(1))
    >>> split_key("transfer", r), split_key("industry", r), split_key("regional", r)
    ('outside', 'outside', 'agriculture')
    """
    if family == "regional":
        return row.field
    if family in ("transfer", "industry"):
        return row.seller_region if row.seller_region in _SUZHOU else OUTSIDE
    raise IndexInputError(f"unknown family {family!r}")


def is_linkage(row: ContractRow) -> bool:
    """X: the seller's region code differs from the buyer's, compared as given."""
    return row.seller_region != row.buyer_region


def is_university_to_enterprise(row: ContractRow) -> bool:
    """U: the seller is a university or research institute and the buyer an enterprise."""
    return row.seller_kind in _UNIVERSITY_KINDS and row.buyer_kind == "enterprise"


def rows_digest(rows: Iterable[ContractRow]) -> str:
    """SHA-256 (hex) of the rows in a canonical order: the data vintage's hash.

    The digest does not depend on the order of ``rows``; amounts are hashed by value, so
    ``Decimal("1.0")`` and ``Decimal("1.00")`` hash alike.

    >>> from decimal import Decimal as D
    >>> a = ContractRow("A", Period(2020, 1), "S", "B", None, "320505", "320506", "enterprise",
    ...                 "enterprise", "aerospace", D("1.0"), D(2))
    >>> b = ContractRow("B", Period(2020, 2), "S", "B", "I", "320505", "320506", "enterprise",
    ...                 "enterprise", "aerospace", D(1), D(2))
    >>> rows_digest([a, b]) == rows_digest([b, a]) and len(rows_digest([])) == 64
    True
    """
    lines = []
    for r in rows:
        lines.append("\x1f".join((
            r.contract_no, str(r.period), r.seller_id, r.buyer_id, r.intermediary_id or "",
            r.seller_region, r.buyer_region, r.seller_kind, r.buyer_kind, r.field,
            _canonical(r.technical_amount), _canonical(r.total_amount),
        )))
    lines.sort()
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8"))
        digest.update(b"\x1e")
    return digest.hexdigest()


def _canonical(amount: Decimal) -> str:
    if amount == 0:
        return "0"
    text = format(amount.normalize(), "f")
    return text
