from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, UTCDateTime, utcnow


class Organisation(Base):
    """A university, institute, enterprise, intermediary or public body, keyed by its USCC."""

    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('university', 'research_institute', 'enterprise', 'intermediary', "
            "'government', 'other')",
            name="kind_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
