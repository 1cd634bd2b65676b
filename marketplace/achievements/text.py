"""Chinese text for search and matching, the same on SQLite and PostgreSQL.

Chinese has no spaces, so a document is indexed by overlapping character bigrams of its CJK
runs (锂离子电池 → 锂离 离子 子电 电池) plus its ASCII words and numbers (5g, vocs, ai). A query
is cut the same way, so 锂电池 (锂电 电池) finds 锂离子电池 and 固态电池 through 电池, while a
text that has 电 and 池 only apart (电子元件与池塘) holds no 电池 and is not found. The terms
are stored in a table (achievement_terms) and scored here with BM25; title and keywords weigh
more than the summary.

>>> sorted(terms("锂离子电池").elements())
['子电', '电池', '离子', '锂离']
>>> query_terms("固态 锂电池 VOCs")
['固态', '锂电', '电池', 'vocs']
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
ASCII_WORD = re.compile(r"[a-z0-9]+")
TITLE_WEIGHT, KEYWORD_WEIGHT, SUMMARY_WEIGHT = 3, 2, 1
K1, B = 1.2, 0.75


def normalise(text: str) -> str:
    """NFKC (full-width letters and digits become ASCII) and lower case."""
    return unicodedata.normalize("NFKC", text or "").lower()


def tokens(text: str) -> list[str]:
    """Bigrams of each CJK run (a lone character stands alone) and ASCII words.

    >>> tokens("电子元件与池塘水质监测")
    ['电子', '子元', '元件', '件与', '与池', '池塘', '塘水', '水质', '质监', '监测']
    """
    text = normalise(text)
    out: list[str] = []
    for run in CJK_RUN.findall(text):
        if len(run) == 1:
            out.append(run)
        else:
            out.extend(run[i:i + 2] for i in range(len(run) - 1))
    out.extend(w for w in ASCII_WORD.findall(text) if len(w) >= 2 or w.isdigit())
    return out


def terms(text: str) -> Counter[str]:
    return Counter(tokens(text))


def document_terms(title: str, summary: str, keywords: Iterable[str]) -> Counter[str]:
    """The weighted term counts of an achievement (title ×3, keywords ×2, summary ×1)."""
    counts: Counter[str] = Counter()
    for term, n in terms(title).items():
        counts[term] += n * TITLE_WEIGHT
    for keyword in keywords:
        for term, n in terms(keyword).items():
            counts[term] += n * KEYWORD_WEIGHT
    for term, n in terms(summary).items():
        counts[term] += n * SUMMARY_WEIGHT
    return counts


def query_terms(q: str) -> list[str]:
    """The distinct terms of a query, in order."""
    return list(dict.fromkeys(tokens(q)))


def bm25(query: Sequence[str], tf: Mapping[str, int], doc_len: int, df: Mapping[str, int],
         n_docs: int, avg_len: float) -> float:
    """Okapi BM25: Σ idf(t) · tf(t)·(k1+1) / (tf(t) + k1·(1 − b + b·len/avg_len)),
    idf(t) = ln(1 + (N − df + 0.5)/(df + 0.5)), with k1 = 1.2, b = 0.75.

    >>> round(bm25(["电池"], {"电池": 3}, 10, {"电池": 1}, 10, 10.0), 4)
    3.131
    >>> bm25(["电池"], {}, 10, {"电池": 1}, 10, 10.0)
    0.0
    """
    score = 0.0
    norm = K1 * (1 - B + B * doc_len / (avg_len or 1.0))
    for term in query:
        f = tf.get(term, 0)
        if not f:
            continue
        score += idf(df.get(term, 0), n_docs) * f * (K1 + 1) / (f + norm)
    return score


def idf(df: int, n_docs: int) -> float:
    """ln(1 + (N − df + 0.5)/(df + 0.5)): the rarer the term, the more it weighs.

    >>> round(idf(1, 10), 4)
    1.9924
    """
    return math.log(1 + (n_docs - df + 0.5) / (df + 0.5))


# Neighbouring fields earn part of the field credit (a demand often sits between two).
NEIGHBOURS: dict[str, set[str]] = {
    "electronic_information": {"advanced_manufacturing", "modern_transport"},
    "advanced_manufacturing": {"electronic_information", "new_materials", "aerospace"},
    "new_materials": {"new_energy", "advanced_manufacturing", "biomedicine"},
    "new_energy": {"new_materials", "modern_transport", "environment"},
    "environment": {"new_energy", "urban_social", "agriculture"},
    "biomedicine": {"new_materials", "agriculture"},
    "agriculture": {"biomedicine", "environment"},
    "aerospace": {"advanced_manufacturing", "modern_transport"},
    "modern_transport": {"new_energy", "electronic_information", "aerospace"},
    "urban_social": {"environment", "electronic_information"},
    "nuclear": {"new_energy", "biomedicine"},
}
WEIGHTS = {"text": 0.55, "field": 0.2, "readiness": 0.15, "price": 0.1}
TEXT_HALF = 6.0  # the BM25 score that counts as half of the text part


@dataclass(frozen=True)
class MatchParts:
    """Why a candidate ranks where it does: each part in [0, 1], total their weighted sum."""

    text: float
    field: float
    readiness: float
    price: float

    @property
    def total(self) -> float:
        return round(sum(WEIGHTS[k] * getattr(self, k) for k in WEIGHTS), 6)

    def as_dict(self) -> dict[str, float]:
        return {"text": round(self.text, 4), "field": self.field,
                "readiness": round(self.readiness, 4), "price": round(self.price, 4),
                "total": self.total}


def field_part(demand_field: str, achievement_field: str) -> float:
    if demand_field == achievement_field:
        return 1.0
    return 0.5 if achievement_field in NEIGHBOURS.get(demand_field, set()) else 0.0


def readiness_part(trl: int, min_trl: int) -> float:
    """1 when the achievement is as ready as asked; a quarter less per level short."""
    return 1.0 if trl >= min_trl else max(0.0, 1.0 - 0.25 * (min_trl - trl))


def price_part(price: Decimal | None, budget_min: Decimal, budget_max: Decimal) -> float:
    """Negotiable 0.8; inside the budget 1; under it 0.9; over it falling with the excess."""
    if price is None:
        return 0.8
    if budget_min <= price <= budget_max:
        return 1.0
    if price < budget_min:
        return 0.9
    over = float(price / budget_max) - 1.0 if budget_max > 0 else 10.0
    return max(0.0, 1.0 - over)


def score_match(text_score: float, *, demand_field: str, achievement_field: str, trl: int,
                min_trl: int, price: Decimal | None, budget_min: Decimal,
                budget_max: Decimal) -> MatchParts:
    """The explained score of one demand–achievement pair.

    >>> score_match(6.0, demand_field="new_energy", achievement_field="new_energy", trl=6,
    ...             min_trl=5, price=None, budget_min=Decimal(1), budget_max=Decimal(2)).total
    0.705
    """
    return MatchParts(text=text_score / (text_score + TEXT_HALF) if text_score > 0 else 0.0,
                      field=field_part(demand_field, achievement_field),
                      readiness=readiness_part(trl, min_trl),
                      price=price_part(price, budget_min, budget_max))
