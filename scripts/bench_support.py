"""Benchmark the support run on PostgreSQL in a database of its own.

    .venv/bin/python scripts/bench_support.py --contracts 100000 [--reuse] [--totals FILE]

Generates and imports the synthetic market of scripts/bench_pipeline.py (same seed, same
years) into `marketplace_support_N` on first use (with `--reuse` a loaded database is kept and
only its support tables are cleared), loads the policy of the last year, then times a support
run and a rerun with nothing new, each in a process of its own (peak RSS of that process).
`--code DIR` runs those steps with an earlier checkout of the package. With `--totals FILE`
it writes the ledger totals per organisation and role after the run (JSON), and with
`--compare FILE` it compares them with an earlier file, to the fen.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from pathlib import Path

from benchlib import (
    clear_loaded,
    fresh_database,
    load_market,
    market_arguments,
    step,
    support_steps,
)
from sqlalchemy import create_engine, text

TOTALS = """
SELECT o.uscc, a.role, SUM(l.amount), SUM(l.city_share), SUM(l.local_share), COUNT(*)
FROM support_ledger l JOIN support_awards a ON a.id = l.award_id
JOIN organizations o ON o.id = a.organization_id
WHERE l.kind <> 'payment' GROUP BY o.uscc, a.role ORDER BY o.uscc, a.role
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    market_arguments(parser, seed=11, years=7)
    parser.add_argument("--budget", help="a policy budget in yuan (default none)")
    parser.add_argument("--totals", type=Path, help="write ledger totals per org and role")
    parser.add_argument("--compare", type=Path, help="compare ledger totals with this file")
    parser.add_argument("--code", type=Path,
                        help="run the support steps with the marketplace package of this "
                             "directory (e.g. `git archive` of an earlier commit), to measure "
                             "the code before a change on the same database")
    args = parser.parse_args()

    name = args.database or f"marketplace_support_{args.contracts}"
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    env = {**os.environ, "MARKETPLACE_DATABASE_URL": url}
    last_year = args.start_year + args.years - 1
    if not (args.reuse and clear_loaded(
            url, "support_ledger, support_awards, support_runs, support_policies")):
        fresh_database(name)
        load_market(env, args.contracts, args.seed, args.start_year, args.years)
    if args.code:
        env["PYTHONPATH"] = str(args.code.resolve())
    else:
        step("migrate", ["db", "upgrade"], env)
    support_steps(env, last_year, args.budget)

    engine = create_engine(url)
    with engine.connect() as conn:
        totals = [[uscc, role, str(a), str(c), str(lo), n]
                  for uscc, role, a, c, lo, n in conn.execute(text(TOTALS))]
    engine.dispose()
    grand = sum((__import__("decimal").Decimal(t[2]) for t in totals), 0)
    print(json.dumps({"step": "ledger", "groups": len(totals), "total": str(grand)}), flush=True)
    if args.totals:
        args.totals.write_text(json.dumps(totals, ensure_ascii=False))
    if args.compare:
        before = json.loads(args.compare.read_text())
        # the number of entries per group may differ (it is not money); the money may not
        same = [t[:5] for t in before] == [t[:5] for t in totals]
        print(json.dumps({"step": "compare", "identical_to_the_fen": same,
                          "groups_before": len(before), "groups_after": len(totals)}),
              flush=True)
        if not same:
            sys.exit(1)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
