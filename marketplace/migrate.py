"""Alembic, driven from the code: `marketplace db upgrade` and the readiness check."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


_head: str | None = None


def head_revision() -> str | None:
    global _head
    if _head is None:
        _head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return _head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
