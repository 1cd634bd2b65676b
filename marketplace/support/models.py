"""Support policies, runs, awards and the append-only ledger behind them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, Money, UTCDateTime, utcnow


class SupportPolicy(Base):
    """A policy as versioned data; immutable once a run used it (a change is a new code)."""

    __tablename__ = "support_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    year: Mapped[int] = mapped_column(index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))
    first_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the last complete computation of a run read: {"digest": sha256 hex, "items": n}.
    # A run that reads the same digest again has nothing to do and returns at once.
    last_inputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class SupportRun(Base):
    __tablename__ = "support_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("support_policies.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    items: Mapped[int] = mapped_column(default=0)
    entries: Mapped[int] = mapped_column(default=0)
    awarded: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    clawed_back: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    inputs_digest: Mapped[str | None] = mapped_column(String(64))


class SupportAward(Base):
    """One item (policy, contract, role, organisation). Its amount is the sum of its ledger
    entries; `explanation` is the latest computation behind it."""

    __tablename__ = "support_awards"
    __table_args__ = (
        UniqueConstraint("policy_id", "contract_id", "role", "organization_id"),
        CheckConstraint("role IN ('seller', 'buyer', 'intermediary')", name="role_known"),
        CheckConstraint("status IN ('computed', 'approved', 'paid')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No index of its own: the table's unique key starts with it.
    policy_id: Mapped[int] = mapped_column(ForeignKey("support_policies.id"))
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    order_key: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16), default="computed")
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Step 6: what the budget left unfunded of the item (wholly or in part), and why.
    unfunded: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), server_default="0")
    unfunded_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerEntry(Base):
    """A change of money, never updated: award, adjustment, clawback or payment."""

    __tablename__ = "support_ledger"
    __table_args__ = (
        CheckConstraint("kind IN ('award', 'adjustment', 'clawback', 'payment')",
                        name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("support_awards.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("support_runs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Money)
    city_share: Mapped[Decimal] = mapped_column(Money)
    local_share: Mapped[Decimal] = mapped_column(Money)
    actor: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
