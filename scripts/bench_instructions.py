"""Instructions per request, counted by callgrind: a figure the machine's speed does not move.

    .venv/bin/python scripts/bench_instructions.py [--requests 100] [--warm 30]
        [--database URL] [--read-path PATH]

Timings on a shared machine drift by tens of percent within minutes; instruction counts do not
(the same code gives the same count to about 0.3%), so this is how a change to the request path
is judged before it is timed under gunicorn. Without --database it makes a fresh PostgreSQL
database (migrated, a university, an enterprise and a member of the university) and drops it at
the end; with one (the load test's, kept with `bench_load.py --keep-database`) it uses its
`bench-member-0`.

Each figure is one run of the service in-process (Flask's test client, rate limits counted in
Redis) under `valgrind --tool=callgrind --instr-atstart=no`: after --warm requests, counting is
switched on (`callgrind_control`) for --requests requests only. Three figures: recording a
contract (each with its own Idempotency-Key), an anonymous read of a cached public answer
(--read-path), and the same read refused with 429 because its client's minute is spent (what a
client hammering the API costs the workers). Needs valgrind. Prints the figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from bench_load import PASSWORD as LOAD_TEST_PASSWORD  # its members' password
from bench_record_api import PASSWORD, setup_market
from benchlib import ADMIN_URL, fresh_database
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure(args: argparse.Namespace) -> None:
    """In the process valgrind runs: warm up, then count --requests requests of one kind."""
    os.environ["MARKETPLACE_RATE_LIMIT_PER_MINUTE"] = "1" if args.measure == "refused" else (
        "1000000000")
    os.environ.setdefault("MARKETPLACE_REDIS_URL", args.redis)
    from marketplace.app import create_app

    client = create_app({"DATABASE_URL": args.database,  # counts of their own in Redis
                         "RATE_LIMIT_KEY_PREFIX": f"bench-{uuid.uuid4().hex}"}).test_client()
    member = args.member.split(",")  # username, password, seller, buyer
    token = client.post("/api/v1/auth/tokens", json={"username": member[0],
                                                      "password": member[1]}).get_json()["token"]

    def record() -> None:
        body = {"type": "development_commissioned", "title": f"计数合同 {uuid.uuid4()}",
                "field": "electronic_information", "seller_uscc": member[2],
                "buyer_uscc": member[3], "total_amount": "500000.00",
                "technical_amount": "450000.00", "signed_on": "2025-06-01"}
        answer = client.post("/api/v1/contracts", json=body, headers={
            "Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())})
        assert answer.status_code == 201, answer.get_json()

    def read() -> None:
        answer = client.get(args.read_path)
        assert answer.status_code == 200, answer.get_json()

    def refused() -> None:
        answer = client.get(args.read_path)
        assert answer.status_code == 429, answer.get_json()

    # With "refused" the minute's one request was the token's: every read after it is refused.
    one = {"record": record, "read": read, "refused": refused}[args.measure]
    for _ in range(args.warm):
        one()
    switch = ["callgrind_control", "--instr=on", str(os.getpid())]
    subprocess.run(switch, check=True, capture_output=True)
    for _ in range(args.requests):
        one()
    subprocess.run([*switch[:1], "--instr=off", str(os.getpid())], check=True,
                   capture_output=True)


def count(args: argparse.Namespace, what: str, member: str) -> float:
    """Instructions per request of `what` (record or read), from one run under callgrind."""
    out = Path(f"/tmp/callgrind.bench.{os.getpid()}.{what}")
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
               f"--callgrind-out-file={out}", sys.executable, __file__, "--measure", what,
               "--database", args.database, "--member", member, "--requests",
               str(args.requests), "--warm", str(args.warm), "--read-path", args.read_path,
               "--redis", args.redis]
    result = subprocess.run(command, capture_output=True, text=True)
    out.unlink(missing_ok=True)
    found = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode or not found:
        raise SystemExit(f"the {what} run failed:\n{result.stderr[-3000:]}")
    return int(found.group(1)) / args.requests


def load_test_member(url: str) -> str:
    """bench_load.py's first member: its username, password, seller and a buyer."""
    with create_engine(url).connect() as conn:
        seller = conn.execute(text(
            "SELECT o.uscc FROM users u JOIN organizations o ON o.id = u.organization_id "
            "WHERE u.username = 'bench-member-0'")).scalar()
        buyer = conn.execute(text(
            "SELECT uscc FROM organizations WHERE kind = 'enterprise' ORDER BY id LIMIT 1"
        )).scalar()
    if seller is None or buyer is None:
        raise SystemExit(f"{url} has no bench-member-0 (see bench_load.py --keep-database)")
    return f"bench-member-0,{LOAD_TEST_PASSWORD},{seller},{buyer}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--warm", type=int, default=30)
    parser.add_argument("--database", default=None,
                        help="postgresql+psycopg://… with bench_load.py's data (default: a "
                             "fresh database, dropped at the end)")
    parser.add_argument("--read-path", default="/api/v1/indices/transfer?domain=SZ",
                        help="a public GET answered from the cache after the first time")
    parser.add_argument("--redis", default=os.environ.get("MARKETPLACE_REDIS_URL",
                                                          "redis://127.0.0.1:6379/0"))
    parser.add_argument("--measure", choices=["record", "read", "refused"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--member", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args)
        return

    made: str | None = None
    if args.database:
        member = load_test_member(args.database)
    else:
        from marketplace.migrate import upgrade

        made = args.database = fresh_database(f"marketplace_bench_instr_{os.getpid()}")
        upgrade(made)
        m: dict[str, Any] = setup_market(made, 1)[0]
        member = f"{m['username']},{PASSWORD},{m['seller']},{m['buyer']}"
    try:
        print(f"callgrind, {args.requests} requests after {args.warm} to warm up, on "
              f"{make_url(args.database).database}:", flush=True)
        print(f"  record a contract: {count(args, 'record', member) / 1e6:.3f} M instructions "
              "a request", flush=True)
        print(f"  cached read of {args.read_path}: {count(args, 'read', member) / 1e6:.3f} M "
              "instructions a request", flush=True)
        print(f"  the same read refused (429, the client's minute spent): "
              f"{count(args, 'refused', member) / 1e6:.3f} M instructions a request", flush=True)
    finally:
        if made is not None:
            admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(made).database}" '
                                  "WITH (FORCE)"))


if __name__ == "__main__":
    main()
