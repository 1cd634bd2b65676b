"""The migrations are the schema: upgrade from empty, downgrade to base, nothing left over."""

from __future__ import annotations

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from marketplace.migrate import downgrade, upgrade
from marketplace.models import Base
from tests.dbutil import PG_ADMIN_URL, _no_postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path, worker_id: str):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    name = f"marketplace_migrations_{os.getpid()}_{worker_id}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        _no_postgres(f"{exc.__class__.__name__}")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_from_empty_then_downgrade_to_base(empty_database: str) -> None:
    upgrade(empty_database)
    assert _tables(empty_database) == {t.name for t in Base.metadata.sorted_tables}
    downgrade(empty_database, "base")
    assert _tables(empty_database) == set()
    upgrade(empty_database)
    assert _tables(empty_database) == {t.name for t in Base.metadata.sorted_tables}


def test_autogenerate_finds_nothing_left_to_do(empty_database: str) -> None:
    upgrade(empty_database)
    engine = create_engine(empty_database)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def _predicate(where: object) -> str | None:
    """An index's WHERE clause as text, without the brackets, casts and case the database
    adds."""
    if where is None:
        return None
    return " ".join(str(where).replace("::text", "").replace("(", " ").replace(")", " ")
                    .lower().split())


def test_partial_indexes_have_the_models_predicates(empty_database: str) -> None:
    """Autogenerate does not compare an index's WHERE clause: a migration that left one out
    (or kept an old one) would pass the test above, so the predicates are compared here."""
    upgrade(empty_database)
    engine = create_engine(empty_database)
    dialect = engine.dialect.name
    try:
        inspector = inspect(engine)
        stored = {index["name"]: _predicate(index.get("dialect_options", {}).get(
                      f"{dialect}_where"))
                  for table in inspector.get_table_names()
                  for index in inspector.get_indexes(table)}
    finally:
        engine.dispose()
    expected = {index.name: _predicate(index.dialect_options[dialect]["where"])
                for table in Base.metadata.sorted_tables for index in table.indexes}
    assert {name: stored.get(name) for name in expected} == expected
    assert expected["ix_contracts_intermediary_id_registered_at"] == (
        "intermediary_id is not null")


def test_no_plain_index_repeats_the_start_of_another(empty_database: str) -> None:
    """A plain index on the leading columns of another index, unique constraint or primary key
    of its table serves no lookup the longer one does not, and costs every insert an entry."""
    upgrade(empty_database)
    engine = create_engine(empty_database)
    dialect = engine.dialect.name
    redundant = []
    try:
        inspector = inspect(engine)
        for table in set(inspector.get_table_names()) - {"alembic_version"}:
            indexes = inspector.get_indexes(table)
            keys = [tuple(index["column_names"]) for index in indexes
                    if index.get("dialect_options", {}).get(f"{dialect}_where") is None]
            keys += [tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)]
            keys.append(tuple(inspector.get_pk_constraint(table)["constrained_columns"]))
            for index in indexes:
                columns = tuple(index["column_names"])
                partial = index.get("dialect_options", {}).get(f"{dialect}_where") is not None
                if index["unique"] or partial:
                    continue  # it enforces something, or holds only some rows
                if any(len(key) > len(columns) and key[:len(columns)] == columns
                       for key in keys):
                    redundant.append(index["name"])
    finally:
        engine.dispose()
    assert sorted(redundant) == []


def test_columns_have_the_models_collations(empty_database: str) -> None:
    """Autogenerate does not compare collations either: each column the models give one (for
    the database in use) has it after the migrations, and no other column has one."""
    upgrade(empty_database)
    engine = create_engine(empty_database)
    if engine.dialect.name != "postgresql":
        engine.dispose()
        pytest.skip("SQLite compares bytes; the models give collations for PostgreSQL only")
    try:
        with engine.connect() as conn:
            stored = {(t, c): name for t, c, name in conn.execute(text(
                "SELECT table_name, column_name, collation_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND collation_name IS NOT NULL"))}
    finally:
        engine.dispose()
    expected = {(table.name, column.name): column.type.dialect_impl(engine.dialect).collation
                for table in Base.metadata.sorted_tables for column in table.columns
                if getattr(column.type.dialect_impl(engine.dialect), "collation", None)}
    assert stored == expected
    assert expected == {("contracts", "contract_no"): "C"}
