"""Test harness: every database test runs on SQLite and on PostgreSQL.

Each backend's schema is built once per session by the real migrations; each test runs inside
a transaction that is rolled back (the service's own commits become savepoints). Tests that need
real commits across connections (concurrency) use `committing_app`, PostgreSQL only.

Without a PostgreSQL server the PostgreSQL variants skip with a message; under CI=true a
missing server fails them instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from marketplace import db
from marketplace.app import create_app
from marketplace.migrate import upgrade
from tests.dbutil import (
    PASSWORD,
    _postgres_database,
    drop_postgres_database,
    next_seq,
    uscc_for,
)

# argon2's CHEAPEST profile is made for tests: production hashing is deliberately slow.
TEST_CONFIG = {"TESTING": True, "PASSWORD_PROFILE": "CHEAPEST"}


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 worker_id: str) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    else:
        url = _postgres_database(worker_id)
    upgrade(url)
    yield url
    if url.startswith("postgresql"):
        db.session.remove()
        db.engine_for(url).dispose()
        drop_postgres_database(url)


@pytest.fixture
def backend(database_url: str) -> str:
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """An app whose every change is rolled back after the test."""
    application = create_app(TEST_CONFIG | {"DATABASE_URL": database_url})
    engine: Engine = db.engine_for(database_url)
    connection = engine.connect()
    outer = connection.begin()
    db.session.remove()
    db.session.configure(bind=connection, join_transaction_mode="create_savepoint")
    try:
        with application.app_context():
            yield application
    finally:
        db.session.remove()
        outer.rollback()
        connection.close()
        db.session.configure(bind=engine, join_transaction_mode="conditional_savepoint")


@pytest.fixture
def committing_app(database_url: str) -> Iterator[Flask]:
    """An app that really commits (PostgreSQL only); every table is emptied afterwards."""
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrency is proven on PostgreSQL; SQLite serialises writers")
    application = create_app(TEST_CONFIG | {"DATABASE_URL": database_url})
    try:
        with application.app_context():
            yield application
    finally:
        db.session.remove()
        engine = db.engine_for(database_url)
        from marketplace.models import Base

        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def create_org(app: Flask) -> Callable[..., Any]:
    """create_org(kind=, region_code=, name=) -> Organisation, through the service."""
    from marketplace.auth.identity import system
    from marketplace.organisations import services

    def _create(kind: str = "enterprise", region_code: str = "320571",
                name: str | None = None, uscc: str | None = None) -> Any:
        code = uscc or uscc_for(region_code, kind)
        org = services.register(system("test"), {
            "uscc": code, "name": name or f"测试机构{code[-6:]}", "kind": kind,
            "region_code": region_code,
        })
        db.session.commit()  # a savepoint in the test's transaction, as set-up data would be
        return org

    return _create


@pytest.fixture
def create_user(app: Flask) -> Callable[..., Any]:
    """create_user(role, org=None, username=None) -> User."""
    from marketplace.auth.identity import system
    from marketplace.auth.services import create_user as _service

    def _create(role: str, org: Any = None, username: str | None = None) -> Any:
        user = _service(system("test"), username=username or f"{role}-{next_seq()}",
                        password=PASSWORD, role=role,
                        organization_uscc=org.uscc if org is not None else None)
        db.session.commit()
        return user

    return _create


@pytest.fixture
def login(client: FlaskClient) -> Callable[[Any], dict[str, str]]:
    """login(user) -> the Authorization header of a fresh token, obtained through the API."""

    def _login(user: Any) -> dict[str, str]:
        response = client.post("/api/v1/auth/tokens",
                               json={"username": user.username, "password": PASSWORD})
        assert response.status_code == 201, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['token']}"}

    return _login


@pytest.fixture
def as_role(create_org: Callable[..., Any], create_user: Callable[..., Any],
            login: Callable[[Any], dict[str, str]]) -> Callable[..., dict[str, str]]:
    """as_role(role, org=None) -> headers of a new user with that role (org made if needed)."""

    def _as(role: str, org: Any = None) -> dict[str, str]:
        if role in ("org_admin", "org_member") and org is None:
            org = create_org()
        return login(create_user(role, org if role in ("org_admin", "org_member") else None))

    return _as
