"""Technology achievements (科技成果), their owners, IP rights, objections and search terms."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import Base, Money, UTCDateTime, utcnow

STATUSES = ("draft", "notice", "on_hold", "listed", "traded", "rejected", "withdrawn")
PUBLIC_STATUSES = ("notice", "listed", "traded")


class Achievement(Base):
    __tablename__ = "achievements"
    __table_args__ = (
        UniqueConstraint("owner_id", "external_key"),
        CheckConstraint("trl BETWEEN 1 AND 9", name="trl_range"),
        CheckConstraint(
            "status IN ('draft', 'notice', 'on_hold', 'listed', 'traded', 'rejected', "
            "'withdrawn')", name="status_known"),
        Index("ix_achievements_status_field", "status", "field"),
        # Search reads each candidate's length, status and owner from this index alone.
        Index("ix_achievements_scoring", "id", "status", "owner_id", "term_count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No index of its own: the table's unique key starts with it.
    owner_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    external_key: Mapped[str | None] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    keywords: Mapped[list[str]] = mapped_column(JSON)
    field: Mapped[str] = mapped_column(String(32))
    trl: Mapped[int] = mapped_column()
    transfer_modes: Mapped[list[str]] = mapped_column(JSON)
    price: Mapped[Decimal | None] = mapped_column(Money)  # None: negotiable
    contact: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    notice_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    notice_seconds_left: Mapped[int | None] = mapped_column()  # kept while on hold
    term_count: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    owners: Mapped[list[AchievementOwner]] = relationship(
        cascade="all, delete-orphan", order_by="AchievementOwner.id")
    ip_rights: Mapped[list[IpRight]] = relationship(
        cascade="all, delete-orphan", order_by="IpRight.id")


class AchievementOwner(Base):
    """An owner and its share; the shares of an achievement add up to exactly 100 %."""

    __tablename__ = "achievement_owners"
    __table_args__ = (UniqueConstraint("achievement_id", "organization_id"),
                      CheckConstraint("share > 0 AND share <= 100", name="share_range"))

    id: Mapped[int] = mapped_column(primary_key=True)
    # No index of its own: the table's unique key starts with it.
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    share: Mapped[Decimal] = mapped_column(Numeric(5, 2))


class IpRight(Base):
    __tablename__ = "ip_rights"

    id: Mapped[int] = mapped_column(primary_key=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    number: Mapped[str] = mapped_column(String(64))


class Objection(Base):
    """An objection (异议) filed during the public notice, and the bureau's ruling."""

    __tablename__ = "objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    filed_by: Mapped[str] = mapped_column(String(120))
    grounds: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, upheld, dismissed
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ruled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ruled_by: Mapped[str | None] = mapped_column(String(120))
    ruling: Mapped[str | None] = mapped_column(Text)


class AchievementTerm(Base):
    """The inverted index: weighted term counts of each achievement's text."""

    __tablename__ = "achievement_terms"

    achievement_id: Mapped[int] = mapped_column(ForeignKey("achievements.id"),
                                                primary_key=True)
    term: Mapped[str] = mapped_column(String(40), primary_key=True)
    tf: Mapped[int] = mapped_column()

    # The postings of a term, with everything BM25 needs (index-only scans).
    __table_args__ = (Index("ix_achievement_terms_postings", "term", "achievement_id", "tf"),)


def as_json(a: Achievement) -> dict[str, Any]:
    return {"title": a.title, "field": a.field, "trl": a.trl, "status": a.status,
            "price": None if a.price is None else str(a.price)}
