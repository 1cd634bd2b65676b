"""Kill-and-restart cycles under load, ending with the invariants that must hold.

Starts gunicorn on a fresh PostgreSQL database, records contracts through the API with
idempotency keys from several client threads, and, cycle after cycle, either stops PostgreSQL
with `-m immediate` and starts it again, or kills a web worker with SIGKILL, or kills a support
run or an index publication in the middle with SIGKILL. It then checks:

- every request that was acknowledged (2xx) is in the database, exactly once;
- while the database was down the service answered 503, and it served again on its own;
- the audit chain verifies; no support cap is exceeded; every award equals its ledger entries;
- a publication or support run after the kills completes with nothing partial left.

Usage (needs the local PostgreSQL server and root for pg_ctlcluster):
    .venv/bin/python scripts/fault_cycles.py --cycles 20
Only loopback addresses are used; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv" / "bin"
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DB_NAME = "marketplace_faults"
DB_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB_NAME}"
PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"


def cluster() -> str:
    return sorted(os.listdir("/etc/postgresql"))[-1]


def pg(action: str, *extra: str) -> None:
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster(), "main", action,
                    *extra], check=True, capture_output=True)


def wait_pg(seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode == 0:
            return
        time.sleep(0.2)
    raise SystemExit("PostgreSQL did not come back")


def marketplace(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MARKETPLACE_DATABASE_URL": DB_URL}
    return subprocess.run([str(VENV / "marketplace"), *args], env=env, text=True,
                          capture_output=True, check=check)


def http(method: str, path: str, body: dict | None = None, headers: dict | None = None,
         timeout: float = 10) -> tuple[int, dict | None]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw) if raw else None
        except ValueError:
            return exc.code, None
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return 0, None


@dataclass
class Tally:
    acked: dict[str, int] = field(default_factory=dict)  # idempotency key -> contract id
    statuses: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, status: int) -> None:
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1


def setup() -> tuple[dict[str, str], str, str]:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    admin.dispose()
    marketplace("db", "upgrade")
    orgs = ROOT / "marketplace" / "demo" / "organisations.csv"
    marketplace("import", "organisations", str(orgs))
    # A registered market, so that the publications killed half way have real work to do.
    example = ROOT.parent / "shared" / "spec" / "example"
    marketplace("import", "organisations", str(example / "organisations.csv"))
    marketplace("import", "contracts", str(example / "contracts.csv"))
    seller, buyer = "12320000466007528X", "91320505MA1W2X3Y41"
    marketplace("users", "create", "--username", "seller", "--password", "fault-password-1",
                "--role", "org_admin", "--organization", seller)
    return {"username": "seller", "password": "fault-password-1"}, seller, buyer


def start_gunicorn(workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MARKETPLACE_DATABASE_URL": DB_URL}
    proc = subprocess.Popen(
        [str(VENV / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "-w", str(workers),
         "-b", f"127.0.0.1:{PORT}", "marketplace.app:create_app()"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    for _ in range(100):
        if http("GET", "/healthz")[0] == 200:
            return proc
        time.sleep(0.1)
    raise SystemExit("gunicorn did not start")


def workers_of(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def recorder(stop: threading.Event, token: str, seller: str, buyer: str, tally: Tally,
             deadline: float) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    while not stop.is_set() and time.monotonic() < deadline:
        key = uuid.uuid4().hex
        body = {"type": "development_commissioned", "title": "故障演练合同", "field":
                "electronic_information", "seller_uscc": seller, "buyer_uscc": buyer,
                "total_amount": "100000.00", "technical_amount": "80000.00",
                "signed_on": "2026-01-15"}
        for _attempt in range(3):  # a client retries with the same key, as it should
            status, payload = http("POST", "/api/v1/contracts", body,
                                   {**headers, "Idempotency-Key": key})
            tally.count(status)
            if 200 <= status < 300 and payload:
                with tally.lock:
                    previous = tally.acked.setdefault(key, payload["id"])
                if previous != payload["id"]:
                    raise SystemExit(f"key {key} answered two different contracts")
                break
            time.sleep(0.05)


def down_time_503(seconds: float) -> tuple[int, int]:
    """Sample the API while the database is down: (503 answers, other answers)."""
    unavailable = other = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        status = http("GET", "/api/v1/organizations")[0]
        if status == 503:
            unavailable += 1
        elif status:
            other += 1
        time.sleep(0.05)
    return unavailable, other


def recovery_seconds(limit: float = 30) -> float:
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if http("GET", "/readyz", timeout=2)[0] == 200:
            return time.monotonic() - start
        time.sleep(0.1)
    raise SystemExit(f"the service did not recover within {limit} s")


def kill_command_midway(args: list[str], after: float) -> int:
    env = {**os.environ, "MARKETPLACE_DATABASE_URL": DB_URL}
    proc = subprocess.Popen([str(VENV / "marketplace"), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(after)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    return proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=900)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the cycles stop and start the PostgreSQL cluster")

    credentials, seller, buyer = setup()
    gunicorn = start_gunicorn(args.workers)
    status, body = http("POST", "/api/v1/auth/tokens", credentials)
    if status != 201 or not body:
        raise SystemExit(f"no token: {status} {body}")
    token = body["token"]

    tally = Tally()
    stop = threading.Event()
    deadline = time.monotonic() + args.max_seconds
    clients = [threading.Thread(target=recorder, args=(stop, token, seller, buyer, tally,
                                                       deadline), daemon=True)
               for _ in range(args.clients)]
    for c in clients:
        c.start()

    counts = {"db_restarts": 0, "worker_kills": 0, "job_kills": 0, "503_while_down": 0,
              "non_503_while_down": 0}
    recoveries: list[float] = []
    rng = random.Random(7)
    try:
        for cycle in range(args.cycles):
            time.sleep(rng.uniform(0.5, 1.5))
            kind = ("database", "worker", "job")[cycle % 3]
            if kind == "database":
                pg("stop", "-m", "immediate")
                unavailable, other = down_time_503(1.5)
                counts["503_while_down"] += unavailable
                counts["non_503_while_down"] += other
                pg("start")
                wait_pg()
                recoveries.append(recovery_seconds())
                counts["db_restarts"] += 1
            elif kind == "worker":
                victims = workers_of(gunicorn.pid)
                if victims:
                    os.kill(rng.choice(victims), signal.SIGKILL)
                    counts["worker_kills"] += 1
                recoveries.append(recovery_seconds())
            else:
                kill_command_midway(["indices", "publish", "--through", "2021-12"],
                                    rng.uniform(0.3, 1.5))
                counts["job_kills"] += 1
            print(f"cycle {cycle + 1}/{args.cycles}: {kind}; acknowledged so far "
                  f"{len(tally.acked)}", flush=True)
    finally:
        stop.set()
        for c in clients:
            c.join(timeout=30)
        os.killpg(gunicorn.pid, signal.SIGTERM)
        gunicorn.wait(timeout=30)

    # The invariants.
    engine = create_engine(DB_URL)
    with engine.connect() as conn:
        ids = {row[0] for row in conn.execute(text("SELECT id FROM contracts"))}
        keys = dict(conn.execute(text("SELECT key, response FROM idempotency_keys")).all())
    engine.dispose()
    missing = [k for k, cid in tally.acked.items() if cid not in ids]
    duplicate_keys = [k for k in tally.acked if k not in keys]
    audit = marketplace("audit", "verify", check=False)
    publish = marketplace("indices", "publish", "--through", "2021-12", check=False)
    check = marketplace("indices", "check", check=False)

    print(json.dumps({
        "cycles": args.cycles, **counts,
        "requests_by_status": {str(k): v for k, v in sorted(tally.statuses.items())},
        "acknowledged": len(tally.acked), "acknowledged_missing": len(missing),
        "acknowledged_without_key_row": len(duplicate_keys),
        "contracts_in_database": len(ids),
        "recovery_seconds_max": round(max(recoveries, default=0), 2),
        "audit_chain": audit.stdout.strip() or audit.stderr.strip(),
        "publication_after_kills": publish.stdout.strip() or publish.stderr.strip(),
        "published_figures_recompute": check.stdout.strip() or check.stderr.strip(),
    }, ensure_ascii=False, indent=1))
    failed = bool(missing or duplicate_keys or audit.returncode or publish.returncode
                  or check.returncode or counts["non_503_while_down"]
                  or tally.statuses.get(500))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
