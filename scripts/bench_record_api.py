"""Recording contracts through the HTTP API, under gunicorn, on loopback.

    .venv/bin/python scripts/bench_record_api.py [--requests 3000] [--seconds 60] [--threads 16]

Creates a fresh PostgreSQL database and migrates it, registers organisations and one member per
seller, starts `gunicorn -w 4 'marketplace.app:create_app()'` on 127.0.0.1, signs the members
in, then sends at most --requests POST /api/v1/contracts (each with its own Idempotency-Key;
--retry-share of them repeat an earlier key and body, as a client retrying would) from
--threads threads, for at most --seconds. Prints requests/s and latency percentiles; asserts
nothing. gunicorn and the database are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from benchlib import call, free_port, percentile
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-password-123"


def setup_market(url: str, pairs: int) -> list[dict[str, str]]:
    """Organisations and members, committed; returns [{username, seller, buyer}]."""
    from marketplace import db
    from marketplace.app import create_app
    from marketplace.auth.identity import system
    from marketplace.auth.services import create_user
    from marketplace.generate import uscc_check_char
    from marketplace.organisations.services import register

    app = create_app({"DATABASE_URL": url, "PASSWORD_PROFILE": "RFC_9106_LOW_MEMORY"})
    actor = system("bench")
    out = []
    with app.app_context():
        for i in range(pairs):
            codes = []
            for kind, head, region in (("university", "12", "320505"),
                                       ("enterprise", "91", "320583")):
                first17 = f"{head}{region}{i:09d}"
                code = first17 + uscc_check_char(first17)
                register(actor, {"uscc": code, "name": f"压测{kind}{i}", "kind": kind,
                                 "region_code": region})
                codes.append(code)
            username = f"bench-seller-{i}"
            create_user(actor, username=username, password=PASSWORD, role="org_member",
                        organization_uscc=codes[0])
            out.append({"username": username, "seller": codes[0], "buyer": codes[1]})
        db.session.commit()
        db.session.remove()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=16, help="seller/buyer pairs (and members)")
    parser.add_argument("--retry-share", type=float, default=0.1)
    parser.add_argument("--server", default=os.environ.get(
        "MARKETPLACE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()

    from marketplace.migrate import upgrade

    name = f"marketplace_bench_api_{os.getpid()}"
    admin = create_engine(args.server, isolation_level="AUTOCOMMIT")
    url = make_url(args.server).set(database=name).render_as_string(hide_password=False)
    logs = Path(tempfile.mkdtemp(prefix="bench-api-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        upgrade(url)
        members = setup_market(url, args.pairs)

        port = free_port()
        env = {**os.environ, "MARKETPLACE_DATABASE_URL": url}
        with open(logs / "gunicorn.log", "wb") as log:
            server = subprocess.Popen(
                [str(Path(sys.executable).with_name("gunicorn")), "-c",
                 str(ROOT / "gunicorn.conf.py"), "-w", str(args.workers),
                 "-b", f"127.0.0.1:{port}", "marketplace.app:create_app()"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                if call(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"gunicorn did not start; see {logs / 'gunicorn.log'}")
            time.sleep(0.2)

        for m in members:
            status, body, _ = call(port, "POST", "/api/v1/auth/tokens",
                                   {"username": m["username"], "password": PASSWORD})
            assert status == 201, body
            m["token"] = json.loads(body)["token"]

        lock = threading.Lock()
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        replayed = 0
        sent = 0
        sent_keys: list[tuple[dict[str, str], str, dict[str, object]]] = []
        stop_at = time.monotonic() + args.seconds

        def worker(seed: int) -> None:
            nonlocal sent, replayed
            rng = random.Random(seed)
            while True:
                with lock:
                    if sent >= args.requests or time.monotonic() > stop_at:
                        return
                    sent += 1
                    retry = sent_keys and rng.random() < args.retry_share
                    if retry:
                        member, key, body = rng.choice(sent_keys)
                if not retry:
                    member = rng.choice(members)
                    key = str(uuid.uuid4())
                    total = rng.randint(10_000, 5_000_000)
                    body = {"type": "development_commissioned", "title": f"压测合同 {key[:8]}",
                            "field": "electronic_information", "seller_uscc": member["seller"],
                            "buyer_uscc": member["buyer"], "total_amount": f"{total}.00",
                            "technical_amount": f"{total * 9 // 10}.00",
                            "signed_on": "2025-06-01"}
                started = time.perf_counter()
                status, _, headers = call(port, "POST", "/api/v1/contracts", body, {
                    "Authorization": f"Bearer {member['token']}", "Idempotency-Key": key})
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    statuses[status] += 1
                    replayed += headers.get("Idempotent-Replayed") == "true"
                    if not retry:
                        sent_keys.append((member, key, body))

        started = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started

        engine = create_engine(url)
        with engine.connect() as conn:
            contracts = conn.execute(text("SELECT count(*) FROM contracts")).scalar()
        engine.dispose()
        ms = [x * 1000 for x in latencies]
        print(f"gunicorn -w {args.workers}, {args.threads} client threads, loopback, "
              f"{os.cpu_count()} CPUs")
        print(f"{len(ms)} requests in {wall:.1f} s: {len(ms) / wall:.0f} requests/s; "
              f"statuses {dict(statuses)}; {replayed} replayed; {contracts} contracts stored")
        print(f"latency ms: p50 {percentile(ms, 0.50):.1f}  p90 {percentile(ms, 0.90):.1f}  "
              f"p99 {percentile(ms, 0.99):.1f}  max {max(ms):.1f}  "
              f"mean {statistics.fmean(ms):.1f}")
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        from marketplace import db

        db.session.remove()
        for engine in db._engines.values():
            engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    main()
