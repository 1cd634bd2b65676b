"""Published index figures, by revision, and the publications that made them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, UTCDateTime, utcnow


class IndexPublication(Base):
    """One publication run: the methodology, its parameters and the data vintage it read.

    `cells` holds the aggregated inputs (the sub-indicators per family, domain and month, with
    caps and base year), so that any figure can be recomputed from what is stored.
    """

    __tablename__ = "index_publications"

    id: Mapped[int] = mapped_column(primary_key=True)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_by: Mapped[str] = mapped_column(String(120))
    through: Mapped[str] = mapped_column(String(7))
    methodology_version: Mapped[str] = mapped_column(String(16))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    base_year: Mapped[int] = mapped_column()
    caps: Mapped[dict[str, Any]] = mapped_column(JSON)
    data_read_at: Mapped[datetime] = mapped_column(UTCDateTime)
    data_hash: Mapped[str] = mapped_column(String(64))
    contracts_read: Mapped[int] = mapped_column()
    figures_published: Mapped[int] = mapped_column()
    reason: Mapped[str] = mapped_column(Text)
    cells: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # Per month, sums over its counted contracts (`aggregation.month_digests`): the next
    # publication recomputes only from the earliest month whose digest changed.
    month_digests: Mapped[dict[str, list[int]] | None] = mapped_column(JSON)


class IndexFigure(Base):
    """One revision of one figure. A later revision never replaces an earlier one."""

    __tablename__ = "index_figures"
    __table_args__ = (
        UniqueConstraint("family", "domain", "period", "revision"),
        Index("ix_index_figures_latest", "family", "domain", "period", "is_latest"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("index_publications.id"), index=True)
    family: Mapped[str] = mapped_column(String(16))
    domain: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(7))
    revision: Mapped[int] = mapped_column()
    methodology_version: Mapped[str] = mapped_column(String(16))
    is_latest: Mapped[bool] = mapped_column(default=True)
    value: Mapped[str | None] = mapped_column(String(40))  # full precision, exact text
    value_2dp: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    mom_pct: Mapped[str | None] = mapped_column(String(40))
    yoy_pct: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    revision_reason: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
