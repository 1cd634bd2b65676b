"""Enterprises' technology demands (技术需求)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, Money, UTCDateTime, utcnow


class Demand(Base):
    __tablename__ = "demands"
    __table_args__ = (
        UniqueConstraint("organization_id", "external_key"),
        CheckConstraint("budget_min <= budget_max", name="budget_order"),
        CheckConstraint("min_trl BETWEEN 1 AND 9", name="trl_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No index of its own: the table's unique key starts with it.
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    external_key: Mapped[str | None] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    field: Mapped[str] = mapped_column(String(32), index=True)
    budget_min: Mapped[Decimal] = mapped_column(Money)
    budget_max: Mapped[Decimal] = mapped_column(Money)
    min_trl: Mapped[int] = mapped_column()
    deadline: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, closed
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
