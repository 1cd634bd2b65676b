"""Suzhou technology-trading indices, methodology v1 (``spec/indices.md``): pure and exact.

The transfer index (``transfer``/``SZ``), the regional indices (one per region code) and the
industry indices (one per technology field) are composite indices of six sub-indicators in
three pillars: scale (N contracts, V capped technical amount), participation (P organisations,
E newcomers) and linkage (X cross-region contracts, U university-to-enterprise contracts),
normalised by a reference year's monthly average, equally weighted within pillars and
chain-linked each January.

Two layers, so that the heavy aggregation can move into SQL:

1. :func:`aggregate` turns counted :class:`ContractRow` objects into monthly :class:`Cell`
   objects (with :func:`compute_caps` and :func:`default_base_year`);
2. :func:`compute_figures` turns cells into :class:`Figure` objects (an :class:`IndexRun`).

:func:`compute_from_rows` runs both; :func:`run_to_dict` renders a run as JSON-ready data.
Everything is exact (``Decimal`` money, ``Fraction`` ratios); no float, no I/O, no database.

>>> from decimal import Decimal
>>> rows = [ContractRow(f"C{i}", Period(2020, 1 + i % 12), f"S{i % 9}", f"B{i % 4}", None,
...                     "320571", "320583", "university", "enterprise", "new_energy",
...                     Decimal(10_000 + 100 * i), Decimal(20_000)) for i in range(48)]
>>> run = compute_from_rows(rows, Period(2020, 12))
>>> figure = run.figure("transfer", "SZ", "2020-12")
>>> figure_to_dict(figure)["value"], figure.reason
('84.0755735493', None)
"""

from .caps import cap_from_amounts, cap_window, compute_caps, default_base_year, nearest_rank
from .cells import Cell, SplitCell, aggregate, cell_key, exact_decimal_context
from .compute import (
    Figure,
    IndexRun,
    active_indicators,
    composite_index,
    compute_figures,
    compute_from_rows,
    contributions,
    indicator_weights,
    link_factor,
    pct_change,
    reference_year,
    round_half_up,
)
from .model import (
    DOMAINS,
    FAMILIES,
    FIELD_CODES,
    INDICATORS,
    KINDS,
    METHODOLOGY_VERSION,
    OUTSIDE,
    PILLAR_OF,
    PILLARS,
    REGION_CODES,
    SPLIT_INDICATORS,
    SZ,
    ContractRow,
    IndexInputError,
    Parameters,
    domains_of,
    in_suzhou,
    is_linkage,
    is_university_to_enterprise,
    normalise_code,
    rows_digest,
    split_key,
)
from .periods import SHANGHAI, Period, month_range, period_of
from .render import PLACES, figure_to_dict, format_exact, format_money, run_to_dict, to_decimal

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
    "PLACES",
    "REGION_CODES",
    "SHANGHAI",
    "SPLIT_INDICATORS",
    "SZ",
    "Cell",
    "ContractRow",
    "Figure",
    "IndexInputError",
    "IndexRun",
    "Parameters",
    "Period",
    "SplitCell",
    "active_indicators",
    "aggregate",
    "cap_from_amounts",
    "cap_window",
    "cell_key",
    "composite_index",
    "compute_caps",
    "compute_figures",
    "compute_from_rows",
    "contributions",
    "default_base_year",
    "domains_of",
    "exact_decimal_context",
    "figure_to_dict",
    "format_exact",
    "format_money",
    "in_suzhou",
    "indicator_weights",
    "is_linkage",
    "is_university_to_enterprise",
    "link_factor",
    "month_range",
    "nearest_rank",
    "normalise_code",
    "pct_change",
    "period_of",
    "reference_year",
    "round_half_up",
    "rows_digest",
    "run_to_dict",
    "split_key",
    "to_decimal",
]
