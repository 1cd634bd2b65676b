"""How fast the bulk import is, against PostgreSQL's own floor.

    .venv/bin/python scripts/bench_import.py [--contracts 1000000] [--seed 7]

Generates a synthetic market (marketplace/generate.py) into a temporary folder, creates a fresh
PostgreSQL database and migrates it, then runs the real CLI in a child process for
organisations, contracts and payments, measuring the wall time and the peak memory (RSS) of
each child. The floor is `psql \\copy` of the same contracts CSV into a bare table (typed
columns, no key, index, constraint or check).

The contracts import and the floor are timed `--repeat` times, alternately (the contracts
emptied between imports), each after a CHECKPOINT, so that one's writes do not slow the next
and a slow spell of the machine falls on both. The imported rows are vacuumed (untimed) before
the floor, so that on a server with autovacuum on it does not work on them during the floor.
It prints every pair and the medians; goals: contracts within 3x of the floor, every import
under 1 GB. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BARE_TABLE = """
CREATE TABLE bare_contracts (
    contract_no text, type text, subtype text, title text, field text, seller_uscc text,
    buyer_uscc text, intermediary_uscc text, total_amount numeric, technical_amount numeric,
    signed_on date, registered_at timestamptz, related_party smallint, status text,
    cancelled_at timestamptz
)"""


def run_child(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, last output line) of a child process, from wait4's rusage."""
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        child = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        _pid, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{output[-5000:]}")
    lines = output.strip().splitlines()
    return seconds, usage.ru_maxrss / 1024, lines[-1] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--server", default=os.environ.get(
        "MARKETPLACE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--repeat", type=int, default=3,
                        help="times the contracts import and the floor are timed, alternately")
    parser.add_argument("--no-payments", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database and the files")
    args = parser.parse_args()

    from marketplace.generate import generate_market
    from marketplace.migrate import upgrade

    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    name = f"marketplace_bench_import_{os.getpid()}"
    admin = create_engine(args.server, isolation_level="AUTOCOMMIT")
    url = make_url(args.server).set(database=name).render_as_string(hide_password=False)
    psql_url = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        started = time.perf_counter()
        summary = generate_market(work, args.contracts, args.seed)
        print(f"generated {summary.organisations:,} organisations, {summary.contracts:,} "
              f"contracts, {summary.payments:,} payments in {time.perf_counter() - started:.1f} s"
              f" ({summary.contracts_path.stat().st_size / 1e6:.0f} MB of contracts CSV)")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        upgrade(url)

        env = {**os.environ, "MARKETPLACE_DATABASE_URL": url, "MARKETPLACE_PROGRESS": "0"}
        cli = [str(Path(sys.executable).with_name("marketplace")), "import"]
        engine = create_engine(url, isolation_level="AUTOCOMMIT")

        def checkpoint() -> None:
            with engine.connect() as conn:
                conn.execute(text("CHECKPOINT"))

        def floor() -> float:
            with engine.connect() as conn:
                conn.execute(text(BARE_TABLE))
            checkpoint()
            started = time.perf_counter()
            subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", psql_url, "-c",
                            f"\\copy bare_contracts FROM '{work / 'contracts.csv'}' "
                            "WITH (FORMAT csv, HEADER true)"], check=True)
            seconds = time.perf_counter() - started
            with engine.connect() as conn:
                conn.execute(text("DROP TABLE bare_contracts"))
            return seconds

        def run(kind: str) -> tuple[float, float, str]:
            checkpoint()
            return run_child([*cli, kind, str(work / f"{kind}.csv")], env)

        results: dict[str, tuple[float, float, str]] = {}
        results["organisations"] = run("organisations")
        print(f"import organisations {results['organisations'][0]:9.1f} s  peak RSS "
              f"{results['organisations'][1]:6.0f} MB   {results['organisations'][2]}")
        imports: list[tuple[float, float, str]] = []
        floors: list[float] = []
        for attempt in range(args.repeat):
            if attempt:
                with engine.connect() as conn:
                    conn.execute(text("TRUNCATE contracts CASCADE"))
            imports.append(run("contracts"))
            with engine.connect() as conn:  # untimed: not left to autovacuum, if it is on
                conn.execute(text("VACUUM contracts"))
            floors.append(floor())
            seconds, rss, line = imports[-1]
            print(f"import contracts {attempt + 1}/{args.repeat} {seconds:7.1f} s  peak RSS "
                  f"{rss:6.0f} MB   floor {floors[-1]:5.1f} s   {seconds / floors[-1]:.2f}x   "
                  f"{line}")
        results["contracts"] = imports[-1]
        if not args.no_payments:
            results["payments"] = run("payments")
            print(f"import payments {results['payments'][0]:14.1f} s  peak RSS "
                  f"{results['payments'][1]:6.0f} MB   {results['payments'][2]}")
        again = run("contracts")
        print(f"import contracts again {again[0]:6.1f} s  peak RSS {again[1]:6.0f} MB   "
              f"{again[2]}")
        engine.dispose()

        contracts_s = statistics.median(seconds for seconds, _, _ in imports)
        floor_s = statistics.median(floors)
        rate = args.contracts / contracts_s if contracts_s else float("inf")
        print(f"floor: psql \\copy into a bare table, median {floor_s:7.1f} s "
              f"({', '.join(f'{f:.1f}' for f in floors)})")
        print(f"contracts import, median {contracts_s:.1f} s "
              f"({', '.join(f'{i[0]:.1f}' for i in imports)}); median / median = "
              f"{contracts_s / floor_s:.2f}x (goal: within 3x); pairs "
              f"{', '.join(f'{i[0] / f:.2f}x' for i, f in zip(imports, floors, strict=True))}; "
              f"{rate:,.0f} contracts/s")
        peak = max(r[1] for r in (*results.values(), *imports, again))
        print(f"peak RSS of any import: {peak:.0f} MB (goal: under 1024 MB)")
    finally:
        if args.keep:
            print(f"kept: database {name}, files in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
            from marketplace import db

            db.session.remove()
            for engine in db._engines.values():
                engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
