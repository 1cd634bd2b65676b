"""Technology contracts (技术合同), their versions, payments (到账) and external grants."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import Base, Money, UTCDateTime, utcnow
from marketplace.organisations.models import Organisation

CONTRACT_STATUSES = ("draft", "confirmed", "submitted", "registered", "rejected", "cancelled")


def _partial_index(name: str, *columns: str, where: str) -> Index:
    """An index of the rows that match `where`, on PostgreSQL and SQLite alike."""
    return Index(name, *columns, postgresql_where=text(where), sqlite_where=text(where))


class Contract(Base):
    """The current terms of a contract; earlier terms live in ContractVersion.

    `contract_no` is the registration number (认定登记号): given at registration, or carried
    over from the registration system on import.
    """

    __tablename__ = "contracts"
    __table_args__ = (
        CheckConstraint("total_amount > 0", name="total_positive"),
        CheckConstraint(
            "technical_amount > 0 AND technical_amount <= total_amount", name="technical_in_total"
        ),
        CheckConstraint("seller_id <> buyer_id", name="seller_not_buyer"),
        CheckConstraint(
            "intermediary_id IS NULL OR (intermediary_id <> seller_id "
            "AND intermediary_id <> buyer_id)",
            name="intermediary_distinct",
        ),
        CheckConstraint(
            "status IN ('draft', 'confirmed', 'submitted', 'registered', 'rejected', "
            "'cancelled')",
            name="status_known",
        ),
        # Registered contracts are asked for by time (the indices, the support runs); the
        # others, few, by their state (the bureau's queue of submitted contracts).
        _partial_index("ix_contracts_registered_at", "registered_at",
                       where="status = 'registered'"),
        _partial_index("ix_contracts_status", "status", where="status <> 'registered'"),
        # A party's contracts in time order: "was it on a contract before this month?" is one
        # probe (the indices' newcomers), and the foreign keys are served too.
        Index("ix_contracts_seller_id_registered_at", "seller_id", "registered_at"),
        Index("ix_contracts_buyer_id_registered_at", "buyer_id", "registered_at"),
        # Most contracts have no intermediary and transact no listed achievement, and nobody
        # looks a contract up by the empty value: those rows are left out of the two indexes.
        _partial_index("ix_contracts_intermediary_id_registered_at", "intermediary_id",
                       "registered_at", where="intermediary_id IS NOT NULL"),
        _partial_index("ix_contracts_achievement_id", "achievement_id",
                       where="achievement_id IS NOT NULL"),
        # Who recorded and who registered a contract: set through the API only. The indexes
        # serve a user's removal and the foreign keys' checks after a bulk import.
        _partial_index("ix_contracts_created_by", "created_by", where="created_by IS NOT NULL"),
        _partial_index("ix_contracts_registered_by", "registered_by",
                       where="registered_by IS NOT NULL"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Digits: compared byte by byte ("C") on PostgreSQL, as SQLite always does, instead of by
    # the database's language rules; the unique index builds and probes faster.
    contract_no: Mapped[str | None] = mapped_column(
        String(32).with_variant(String(32, collation="C"), "postgresql"), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    subtype: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(300))
    field: Mapped[str] = mapped_column(String(32))
    seller_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    intermediary_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    total_amount: Mapped[Decimal] = mapped_column(Money)
    technical_amount: Mapped[Decimal] = mapped_column(Money)
    signed_on: Mapped[date] = mapped_column(Date)
    related_party: Mapped[bool] = mapped_column(default=False)
    # The achievement this contract transacts (its foreign key comes with the achievements).
    achievement_id: Mapped[int | None] = mapped_column(ForeignKey("achievements.id"))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    version: Mapped[int] = mapped_column(default=1)
    source: Mapped[str] = mapped_column(String(16), default="api")  # api | import
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # On PostgreSQL the two also default to now(): the bulk import's COPY leaves them out.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow,
                                                 server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow,
                                                 server_default=func.now())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    registered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rejection_reason: Mapped[str | None] = mapped_column(String(40))
    rejection_note: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancellation_reason: Mapped[str | None] = mapped_column(Text)

    seller: Mapped[Organisation] = relationship(foreign_keys=[seller_id])
    buyer: Mapped[Organisation] = relationship(foreign_keys=[buyer_id])
    intermediary: Mapped[Organisation | None] = relationship(foreign_keys=[intermediary_id])


class ContractNumberCounter(Base):
    """The last registration number given in a year: one row per year, raised atomically
    (`INSERT … ON CONFLICT DO UPDATE … RETURNING`), so numbers are sequential without a scan
    and two registrations never get the same one."""

    __tablename__ = "contract_number_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column()


class ContractVersion(Base):
    """The terms of one version of a contract, who made it and why: amendments (变更) keep
    every earlier version readable."""

    __tablename__ = "contract_versions"
    __table_args__ = (UniqueConstraint("contract_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # No index of its own: the table's unique key starts with it.
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"))
    version: Mapped[int] = mapped_column()
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed_by: Mapped[str] = mapped_column(String(120))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)


class Payment(Base):
    """A dated amount the buyer paid the seller (到账).

    `ordinal` tells apart identical (date, amount) instalments of one contract, so that an
    import of the same file twice is a no-op.
    """

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("contract_id", "paid_on", "amount", "ordinal"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No index of its own: the table's unique key starts with it.
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"))
    paid_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    ordinal: Mapped[int] = mapped_column(default=1)
    recorded_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExternalGrant(Base):
    """Support already granted by another programme for one (contract, role, organisation):
    the market's support only tops it up (就高不重复)."""

    __tablename__ = "external_grants"
    __table_args__ = (
        UniqueConstraint("contract_id", "role", "organization_id", "programme"),
        CheckConstraint("role IN ('seller', 'buyer', 'intermediary')", name="role_known"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No index of its own: the table's unique key starts with it.
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"))
    role: Mapped[str] = mapped_column(String(16))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    programme: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdempotencyKey(Base):
    """The first answer to a POST made with an Idempotency-Key, replayed on a retry."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column()
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
