"""Benchmark the monthly pipeline on PostgreSQL: publish the indices and run support.

    .venv/bin/python scripts/bench_pipeline.py --contracts 1000000

Generates a synthetic market of seven years (marketplace.generate), imports it into a fresh
database with the real importers, then times, each step in a process of its own (peak RSS of
that process): publishing every month of all 22 domains; publishing one new month on top of
that history; a support run over the policy year; and a rerun with nothing new. Prints one
line per step; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
CLI = str(ROOT / ".venv" / "bin" / "marketplace")
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def step(name: str, args: list[str], env: dict[str, str]) -> dict[str, object]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    result = subprocess.run([CLI, *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if result.returncode:
        sys.exit(f"{name} failed: {result.stderr.strip()[-400:]}")
    row = {"step": name, "seconds": round(seconds, 2),
           "peak_rss_mb": round(max(peak, before) / 1024), "output": result.stdout.strip()[-160:]}
    print(json.dumps(row, ensure_ascii=False), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--start-year", type=int, default=2019)
    parser.add_argument("--years", type=int, default=7)
    args = parser.parse_args()

    name = f"marketplace_bench_{args.contracts}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    env = {**os.environ, "MARKETPLACE_DATABASE_URL":
           f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"}
    last_year = args.start_year + args.years - 1
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp)
        step("generate", ["generate", "--contracts", str(args.contracts), "--seed",
                          str(args.seed), "--out", str(out), "--start-year",
                          str(args.start_year), "--years", str(args.years)], env)
        step("migrate", ["db", "upgrade"], env)
        step("import organisations", ["import", "organisations", str(out / "organisations.csv")],
             env)
        step("import contracts", ["import", "contracts", str(out / "contracts.csv")], env)
        step("import payments", ["import", "payments", str(out / "payments.csv")], env)
    step("publish all months (history)", ["indices", "publish", "--through",
                                          f"{last_year}-11"], env)
    step("publish one new month", ["indices", "publish", "--through", f"{last_year}-12"], env)
    step("publish again, nothing new", ["indices", "publish", "--through", f"{last_year}-12"],
         env)
    policy = {"code": f"BENCH-{last_year}", "year": last_year,
              "rates": {"seller": "0.03", "buyer": "0.10", "intermediary": "0.01"},
              "cap": "500000.00", "min_technical_amount": "0.00",
              "eligible_types": ["development_commissioned", "development_cooperative",
                                 "transfer", "license"],
              "eligible_kinds": {"seller": ["university", "research_institute", "enterprise"],
                                 "buyer": ["enterprise"], "intermediary": ["intermediary"]},
              "budget": None}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(policy, f)
    step("support policy load", ["support", "policy", "load", f.name], env)
    step("support run", ["support", "run", "--policy", policy["code"]], env)
    step("support rerun, nothing new", ["support", "run", "--policy", policy["code"]], env)
    os.unlink(f.name)


if __name__ == "__main__":
    main()
