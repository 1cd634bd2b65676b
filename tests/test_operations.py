"""What the operators rely on: health, readiness, metrics, request ids and shared rate limits."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import pytest

from marketplace.app import create_app


def test_health_and_readiness(client) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["migrations"]


def test_readiness_fails_when_migrations_are_behind(tmp_path) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["migrations"] == "behind"


def test_metrics_count_requests_by_endpoint(client) -> None:
    client.get("/api/v1/organizations")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'marketplace_request_duration_seconds_count{endpoint="/api/v1/organizations"' in text


def test_request_id_is_echoed_or_made(client) -> None:
    assert client.get("/healthz", headers={"X-Request-Id": "abc"}).headers["X-Request-Id"] == "abc"
    assert len(client.get("/healthz").headers["X-Request-Id"]) == 32


def test_openapi_document_and_local_docs(client) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/organizations" in spec["paths"]
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "/api/v1/docs-assets/swagger-ui-bundle.js" in page
    assert "http" not in page.split("<script>")[0].replace("http-equiv", "")
    with client.get("/api/v1/docs-assets/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200


def _redis_or_skip() -> str:
    import redis

    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception as exc:
        pytest.skip(f"Redis not reachable at {url}: {exc.__class__.__name__}")
    return url


def _limit_config(database_url: str, per_minute: int, per_second: int,
                  **more: Any) -> dict[str, Any]:
    """An app's configuration with rate limits counted in Redis under keys of its own."""
    return {"DATABASE_URL": database_url, "RATE_LIMIT_PER_MINUTE": per_minute,
            "RATE_LIMIT_PER_SECOND": per_second, "REDIS_URL": _redis_or_skip(),
            "RATE_LIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}", **more}


def _limited_client(database_url: str, per_minute: int, per_second: int) -> Any:
    """A client of an app whose rate limits are counted in Redis under keys of its own."""
    return create_app(_limit_config(database_url, per_minute, per_second)).test_client()


def test_rate_limit_is_shared_by_every_worker(database_url: str) -> None:
    config = _limit_config(database_url, per_minute=5, per_second=100)
    # Two apps stand for two gunicorn workers: the count lives in Redis, not in either.
    worker_a = create_app(config).test_client()
    worker_b = create_app(config).test_client()
    statuses = [(worker_a if i % 2 else worker_b).get("/api/v1/organizations").status_code
                for i in range(6)]
    assert statuses == [200] * 5 + [429]
    limited = worker_a.get("/api/v1/organizations")
    assert limited.mimetype == "application/problem+json"
    assert limited.headers["Retry-After"] == "60"
    # One budget per client for the whole API, not one per endpoint.
    assert worker_b.get("/api/v1/indices/transfer").status_code == 429
    # Another client (another token) is not slowed by the first one.
    other = worker_a.get("/api/v1/organizations", headers={"Authorization": "Bearer other"})
    assert other.status_code != 429
    assert worker_a.get("/healthz").status_code == 200


def test_a_refused_client_is_refused_by_the_worker_until_its_window_ends(
        database_url: str) -> None:
    """Once Redis has refused a client, each worker refuses it by itself for the rest of the
    window: the counts in Redis stop growing, and the answers stay the same."""
    import redis

    config = _limit_config(database_url, per_minute=2, per_second=100)
    worker_a = create_app(config).test_client()
    worker_b = create_app(config).test_client()
    counts = redis.Redis.from_url(config["REDIS_URL"])
    minute = f"{config['RATE_LIMIT_KEY_PREFIX']}:addr:127.0.0.1:60s"

    answers = [worker_a.get("/api/v1/organizations") for _ in range(8)]
    assert [a.status_code for a in answers] == [200, 200] + [429] * 6
    assert int(counts.get(minute)) == 3  # the first refusal was counted; the five after, not
    assert all(1 <= int(a.headers["Retry-After"]) <= 60 for a in answers[2:])
    assert answers[-1].mimetype == "application/problem+json"
    # Another worker has not been told: it asks Redis once, which refuses, then it knows too.
    assert [worker_b.get("/api/v1/organizations").status_code for _ in range(3)] == [429] * 3
    assert int(counts.get(minute)) == 4
    # Another client is not caught by the memory of the first.
    assert worker_a.get("/api/v1/organizations",
                        headers={"Authorization": "Bearer other"}).status_code == 200


def test_a_client_refused_by_the_second_is_served_again_in_the_next_one(
        database_url: str) -> None:
    client = _limited_client(database_url, per_minute=1000, per_second=1)
    statuses = [client.get("/api/v1/organizations").status_code for _ in range(4)]
    assert statuses.count(429) >= 2, statuses
    time.sleep(1.1)  # the worker's memory of the refusal ends with the second's window
    assert client.get("/api/v1/organizations").status_code == 200


@pytest.mark.parametrize("proxies", [0, 1])
def test_the_address_limit_believes_only_trusted_proxies(database_url: str, proxies: int) -> None:
    """Behind one trusted proxy each client's own address has its budget; with none, a
    client's X-Forwarded-For is ignored and cannot buy it a fresh budget."""
    client = create_app(_limit_config(database_url, per_minute=2, per_second=100,
                                      TRUSTED_PROXIES=proxies)).test_client()

    def get(address: str) -> int:
        return client.get("/api/v1/organizations",
                          headers={"X-Forwarded-For": address}).status_code

    first = [get("203.0.113.7") for _ in range(3)]
    assert first == [200, 200, 429]
    assert get("198.51.100.2") == (200 if proxies else 429)


def test_a_burst_is_cut_to_the_per_second_share(database_url: str) -> None:
    """A client cannot spend its minute in one burst: 3 a second here, whatever the minute."""
    client = _limited_client(database_url, per_minute=1000, per_second=3)
    statuses = [client.get("/api/v1/organizations").status_code for _ in range(8)]
    # Eight quick requests touch at most two one-second windows: at most 3 + 3 get through.
    assert statuses[0] == 200 and statuses.count(200) <= 6 and statuses.count(429) >= 2, statuses


def test_a_spent_second_comes_back_with_the_next_window(database_url: str) -> None:
    client = _limited_client(database_url, per_minute=1000, per_second=2)
    # Five quick requests touch at most two one-second windows: at least one is refused.
    refused = [r for r in (client.get("/api/v1/organizations") for _ in range(5))
               if r.status_code == 429]
    assert refused and refused[0].headers["Retry-After"] == "1"
    time.sleep(1.1)  # the second's window has ended; the minute's has room
    assert client.get("/api/v1/organizations").status_code == 200


def test_a_burst_refused_by_the_second_does_not_spend_the_minute(database_url: str) -> None:
    client = _limited_client(database_url, per_minute=6, per_second=2)
    burst = [client.get("/api/v1/organizations").status_code for _ in range(8)]
    assert burst.count(200) <= 4 and burst.count(429) >= 4  # two one-second windows at most
    time.sleep(1.1)
    # At most 4 of the minute's 6 are spent: the refused part of the burst did not count.
    assert [client.get("/api/v1/organizations").status_code for _ in range(2)] == [200, 200]


def test_without_redis_the_api_answers_unlimited_and_says_so(database_url: str, caplog) -> None:
    config = {"DATABASE_URL": database_url, "RATE_LIMIT_PER_MINUTE": 1,
              "REDIS_URL": "redis://127.0.0.1:9/0"}  # nothing listens on the discard port
    client = create_app(config).test_client()
    with caplog.at_level(logging.WARNING, logger="marketplace.ratelimit"):
        statuses = [client.get("/api/v1/organizations").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    warnings = [r for r in caplog.records if r.name == "marketplace.ratelimit"]
    assert len(warnings) == 1 and "Redis is unreachable" in warnings[0].getMessage()


def test_serve_really_serves(tmp_path) -> None:
    """`marketplace serve` answers on its port (Flask ignores app.run() inside its CLI)."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MARKETPLACE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}"}
    proc = subprocess.Popen([sys.executable, "-m", "marketplace.cli", "serve", "--port",
                             str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    assert r.status == 200
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("marketplace serve did not answer")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_losing_the_database_at_commit_is_503_and_stores_nothing(client, as_role,
                                                                monkeypatch) -> None:
    """The commit (where the audit chain is extended too) fails as when PostgreSQL goes away:
    the client is told to retry (503), not that the service broke (500), and nothing stays."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    admin = as_role("bureau_admin")
    body = {"uscc": "91350100M000100Y43", "name": "苏州纳米科技发展有限公司",
            "kind": "enterprise", "region_code": "320571"}

    def lost(self: Session) -> None:
        raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(Session, "commit", lost)
    response = client.post("/api/v1/organizations", json=body, headers=admin)
    monkeypatch.undo()
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.mimetype == "application/problem+json"
    assert client.get("/api/v1/organizations?region_code=320571").get_json() == []


def test_gunicorn_closes_a_kept_alive_connection_after_its_quota(tmp_path) -> None:
    """gunicorn.conf.py: after GUNICORN_KEEPALIVE_REQUESTS requests on one connection the answer
    says `Connection: close`, so a busy client reconnects and may land on another worker."""
    import http.client
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MARKETPLACE_DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite3'}",
           "GUNICORN_KEEPALIVE_REQUESTS": "3", "WEB_CONCURRENCY": "1"}
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "-c", str(root / "gunicorn.conf.py"),
         "-b", f"127.0.0.1:{port}", "marketplace.app:create_app()"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(150):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("gunicorn did not start")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        answers = []
        for _ in range(3):
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            answers.append((response.status, response.getheader("Connection")))
        connection.close()
        assert answers == [(200, "keep-alive"), (200, "keep-alive"), (200, "close")]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_gunicorn_freezes_the_loaded_app_in_each_worker() -> None:
    """gunicorn.conf.py: once a worker has loaded the app, its objects are moved out of the
    garbage collector's sight (full collections walking them paused workers for 100-360 ms)."""
    import gc
    import runpy
    from pathlib import Path

    settings = runpy.run_path(str(Path(__file__).resolve().parents[1] / "gunicorn.conf.py"))
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        settings["post_worker_init"](None)
        assert gc.get_freeze_count() > 10_000  # this test process's modules, at least
    finally:
        gc.unfreeze()


def test_a_connection_the_database_dropped_is_replaced(database_url: str, monkeypatch) -> None:
    """As when PostgreSQL restarts: every connection of the service's pool is cut. One that has
    rested in the pool is pinged and replaced before use, so its request is served; one taken
    again at once (as under load, where no ping is spent) fails its request with 503, and the
    pool then connects afresh."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a pool of server connections is PostgreSQL's; SQLite opens a file")
    import psycopg
    from sqlalchemy.engine import make_url

    from marketplace import db

    url = make_url(database_url).set(drivername="postgresql")
    client = create_app({"DATABASE_URL": database_url}).test_client()

    def cut_every_connection() -> int:
        with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as c:
            return len(c.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "  # and wait
                "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall())

    def read() -> int:
        return client.get("/api/v1/organizations").status_code

    assert read() == 200
    monkeypatch.setattr(db, "PING_AFTER_REST_S", 0.0)  # every connection has rested enough
    assert cut_every_connection() >= 1
    assert read() == 200

    monkeypatch.setattr(db, "PING_AFTER_REST_S", 3600.0)  # none has
    assert cut_every_connection() >= 1
    assert read() == 503
    assert read() == 200


def test_the_character_u0000_is_refused_wherever_it_comes(client, as_role) -> None:
    """PostgreSQL refuses U+0000 in text: every endpoint answers 422 and names where it was,
    in the query, in the path or anywhere in a JSON body, instead of failing in the query."""
    search = client.get("/api/v1/organizations", query_string={"name": "苏州\x00大学",
                                                                "kind": "university"})
    assert search.status_code == 422 and search.mimetype == "application/problem+json"
    assert [e["field"] for e in search.get_json()["errors"]] == ["name"]

    bureau = as_role("bureau_reviewer")
    audit = client.get("/api/v1/audit?entity_id=%00", headers=bureau)
    assert audit.status_code == 422

    admin = as_role("bureau_admin")
    policy = client.post("/api/v1/support/policies", headers=admin, json={
        "code": "SZ\x00", "rates": {"seller": "0.1"}, "eligible_types": ["transfer", "x\x00"]})
    assert policy.status_code == 422
    assert {e["field"] for e in policy.get_json()["errors"]} == {"code", "eligible_types.1"}

    member = as_role("org_member")
    contract = client.post("/api/v1/contracts", headers={**member, "Idempotency-Key": "nul-1"},
                           json={"title": "技术\x00开发", "type": "development_commissioned"})
    assert contract.status_code == 422
    assert [e["field"] for e in contract.get_json()["errors"]] == ["title"]
    # The same text written out (a backslash, then "u0000") is ordinary text.
    plain = client.get("/api/v1/organizations", query_string={"name": "\\u0000"})
    assert plain.status_code == 200


def test_an_import_command_makes_its_app_without_the_http_routes(tmp_path, monkeypatch) -> None:
    """`marketplace import …` answers no request: its app leaves out the routes and the API
    document (half a second of its start), and the import works as ever. Other commands, such
    as `db upgrade` or `serve` (above), get the routes."""
    from click.testing import CliRunner

    from marketplace import app as app_module
    from marketplace import db
    from marketplace.cli import cli
    from tests.dbutil import EXAMPLE

    made: list[Any] = []
    real = app_module.create_app

    def recording(*args: Any, **kwargs: Any) -> Any:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(app_module, "create_app", recording)
    monkeypatch.setenv("MARKETPLACE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    runner = CliRunner()
    try:
        assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
        result = runner.invoke(cli, ["import", "organisations",
                                     str(EXAMPLE / "organisations.csv")])
        assert result.exit_code == 0, result.output
        assert " new," in result.output
    finally:
        db.session.remove()
    upgraded, imported = made
    assert "/api/v1/contracts" in {rule.rule for rule in upgraded.url_map.iter_rules()}
    assert [r.endpoint for r in imported.url_map.iter_rules()] == ["static"]


def test_an_app_without_http_does_not_import_what_serves_requests(tmp_path) -> None:
    """The modules only requests need (the API document, schemas, rate limits, metrics) are
    not loaded by a command's app: a tenth to a fifth of a second of every import's start."""
    import subprocess
    import sys

    serving = ("flask_smorest", "marshmallow", "webargs", "apispec", "redis", "prometheus_client")
    program = (
        "import sys\n"
        "from marketplace.app import create_app\n"
        f"create_app({{'DATABASE_URL': 'sqlite:///{tmp_path / 'x.sqlite3'}'}}, http=HTTP)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({serving!r})))\n"
    )
    loaded = {http: subprocess.run([sys.executable, "-c", program.replace("HTTP", str(http))],
                                   capture_output=True, text=True, check=True).stdout.strip()
              for http in (False, True)}
    assert loaded[False] == "[]"
    assert loaded[True] == str(sorted(serving))
