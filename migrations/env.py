"""Alembic environment: the URL comes from `marketplace db upgrade` or the environment."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool

from marketplace.db import Money, UTCDateTime
from marketplace.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("MARKETPLACE_DATABASE_URL")
    if not url:
        raise RuntimeError("no database URL: set MARKETPLACE_DATABASE_URL")
    return url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Render the service's column types as plain SQLAlchemy ones: migrations stand alone."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, Money):
        return "sa.Numeric(18, 2)"
    return False


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,  # type: ignore[arg-type]
                      render_as_batch=True, compare_type=True, render_item=render_item)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
