"""Every model, imported once so that the metadata (and Alembic) sees all tables."""

from __future__ import annotations

import importlib
import importlib.util

from marketplace.db import Base

_MODEL_MODULES = (
    "organisations", "auth", "audit", "achievements", "demands", "contracts", "support",
    "market_indices", "jobs",
)

for _domain in _MODEL_MODULES:
    if importlib.util.find_spec(f"marketplace.{_domain}") is None:
        continue
    if importlib.util.find_spec(f"marketplace.{_domain}.models") is not None:
        importlib.import_module(f"marketplace.{_domain}.models")

__all__ = ["Base"]
