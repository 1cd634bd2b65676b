"""The market's fixed reference data (domain.md): regions, technology fields, kinds, roles."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import ValidationError as StdnumError


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    kind: str  # district | county_city
    city_share: Decimal


REGIONS: Final[dict[str, Region]] = {
    r.code: r
    for r in (
        Region("320505", "虎丘区（苏州高新区）", "district", Decimal("0.30")),
        Region("320506", "吴中区", "district", Decimal("0.30")),
        Region("320507", "相城区", "district", Decimal("0.30")),
        Region("320508", "姑苏区", "district", Decimal("0.30")),
        Region("320509", "吴江区", "district", Decimal("0.30")),
        Region("320571", "苏州工业园区", "district", Decimal("0.30")),
        Region("320581", "常熟市", "county_city", Decimal("0.10")),
        Region("320582", "张家港市", "county_city", Decimal("0.10")),
        Region("320583", "昆山市", "county_city", Decimal("0.10")),
        Region("320585", "太仓市", "county_city", Decimal("0.10")),
    )
}
OUTSIDE: Final = "outside"

FIELDS: Final[dict[str, str]] = {
    "electronic_information": "电子信息",
    "aerospace": "航空航天",
    "advanced_manufacturing": "先进制造",
    "biomedicine": "生物、医药和医疗器械",
    "new_materials": "新材料及其应用",
    "new_energy": "新能源与高效节能",
    "environment": "环境保护与资源综合利用",
    "nuclear": "核应用技术",
    "agriculture": "农业",
    "modern_transport": "现代交通",
    "urban_social": "城市建设与社会发展",
}

ORG_KINDS: Final = (
    "university", "research_institute", "enterprise", "intermediary", "government", "other",
)
ROLES: Final = ("seller", "buyer", "intermediary")
USER_ROLES: Final = ("bureau_admin", "bureau_reviewer", "org_admin", "org_member")
BUREAU_ROLES: Final = frozenset({"bureau_admin", "bureau_reviewer"})

CONTRACT_TYPES: Final[dict[str, tuple[str, ...]]] = {
    "development_commissioned": (),
    "development_cooperative": (),
    "transfer": ("patent_right", "patent_application_right", "technical_secret", "other_ip"),
    "license": ("exclusive", "sole", "ordinary"),
    "consulting": (),
    "service": (),
}

_DIVISION = re.compile(r"^[1-8]\d{5}$")


def region_kind(code: str) -> str:
    """`district`, `county_city` or `external` for any other six-digit division code."""
    region = REGIONS.get(code)
    return region.kind if region else "external"


def is_division_code(code: str) -> bool:
    """A six-digit GB/T 2260 code: province digits 11-82, no all-zero tail."""
    return bool(_DIVISION.match(code)) and 11 <= int(code[:2]) <= 82 and code[2:] != "0000"


def normalise_code(value: str) -> str:
    """NFKC (full-width becomes ASCII), every kind of space removed, upper case."""
    value = unicodedata.normalize("NFKC", value)
    return "".join(ch for ch in value if not ch.isspace()).upper()


def check_uscc(value: str) -> str:
    """The normalised unified social credit code, or ValueError saying what is wrong."""
    code = normalise_code(value)
    try:
        return str(stdnum_uscc.validate(code))
    except StdnumError as exc:
        raise ValueError(f"not a valid unified social credit code: {exc.message}") from exc


_UNSAFE_CATEGORIES = {"Cf", "Cc", "Co", "Cs"}


def unsafe_characters(text: str) -> list[str]:
    """Zero-width, bidirectional and other invisible control characters a name must not hold."""
    return [
        f"U+{ord(ch):04X}"
        for ch in text
        if unicodedata.category(ch) in _UNSAFE_CATEGORIES and ch not in "\n\t"
    ]
