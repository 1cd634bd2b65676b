"""Benchmark the monthly pipeline on PostgreSQL: publish the indices and run support.

    .venv/bin/python scripts/bench_pipeline.py --contracts 1000000

Generates a synthetic market of seven years (marketplace.generate), imports it into a fresh
database with the real importers, then times, each step in a process of its own (peak RSS of
that process): publishing every month of all 22 domains; publishing one new month on top of
that history; a support run over the policy year; and a rerun with nothing new. Then it
times the database's sub-indicator aggregation of every month (`aggregation.cells`, the heavy
part of a publication) against the same aggregation done by DuckDB over the same rows,
exported once from PostgreSQL, and prints the ratio (DuckDB is used here only, never by the
service). Prints one line per step; nothing is asserted.

`--reuse` keeps a database already loaded by an earlier run of the same size and only clears
its publications and support runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchlib import (
    ROOT,
    clear_loaded,
    fresh_database,
    load_market,
    market_arguments,
    step,
    support_steps,
)

sys.path.insert(0, str(ROOT))

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    market_arguments(parser, seed=11, years=7)
    args = parser.parse_args()

    name = args.database or f"marketplace_bench_{args.contracts}"
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    env = {**os.environ, "MARKETPLACE_DATABASE_URL": url}
    last_year = args.start_year + args.years - 1
    if not (args.reuse and clear_loaded(url, "index_figures, index_publications, support_ledger, "
                                             "support_awards, support_runs, support_policies")):
        fresh_database(name)
        load_market(env, args.contracts, args.seed, args.start_year, args.years)
    else:
        step("migrate", ["db", "upgrade"], env)
    publish_and_support(env, last_year)
    compare_with_duckdb(url, args.start_year, last_year)


def publish_and_support(env: dict[str, str], last_year: int) -> None:
    step("publish all months (history)", ["indices", "publish", "--through",
                                          f"{last_year}-11"], env)
    step("publish one new month", ["indices", "publish", "--through", f"{last_year}-12"], env)
    step("publish again, nothing new", ["indices", "publish", "--through", f"{last_year}-12"],
         env)
    support_steps(env, last_year)


DUCKDB_CELLS = """
WITH c AS (SELECT *, strftime(registered_at AT TIME ZONE 'Asia/Shanghai', '%Y-%m') AS month,
                  CAST(round(technical * 100) AS BIGINT) AS tech_fen,
                  CAST(round(total * 100) AS BIGINT) AS total_fen,
                  CASE WHEN s_region <> b_region THEN 1 ELSE 0 END AS x,
                  CASE WHEN s_kind IN ('university', 'research_institute')
                       AND b_kind = 'enterprise' THEN 1 ELSE 0 END AS u,
                  (s_region IN ({ten}) OR b_region IN ({ten})) AS in_sz,
                  CASE WHEN s_region IN ({ten}) THEN s_region ELSE 'outside' END AS s_bucket
           FROM rows),
m AS (SELECT id, 'transfer' AS family, 'SZ' AS domain, s_bucket AS bucket, month, tech_fen,
             total_fen, x, u FROM c WHERE in_sz
      UNION ALL SELECT id, 'regional', s_region, field, month, tech_fen, total_fen, x, u
                FROM c WHERE s_region IN ({ten})
      UNION ALL SELECT id, 'regional', b_region, field, month, tech_fen, total_fen, x, u
                FROM c WHERE b_region IN ({ten}) AND b_region <> s_region
      UNION ALL SELECT id, 'industry', field, s_bucket, month, tech_fen, total_fen, x, u
                FROM c WHERE in_sz),
pc AS (SELECT month, seller_id AS party, s_region, b_region, field, in_sz FROM c
       UNION ALL SELECT month, buyer_id, s_region, b_region, field, in_sz FROM c
       UNION ALL SELECT month, intermediary_id, s_region, b_region, field, in_sz FROM c
                 WHERE intermediary_id IS NOT NULL),
seen AS (SELECT party, min(month) AS first_month FROM pc GROUP BY party),
pairs AS (SELECT 'transfer' AS family, 'SZ' AS domain, month, party FROM pc WHERE in_sz
          UNION SELECT 'industry', field, month, party FROM pc WHERE in_sz
          UNION SELECT 'regional', s_region, month, party FROM pc WHERE s_region IN ({ten})
          UNION SELECT 'regional', b_region, month, party FROM pc WHERE b_region IN ({ten}))
SELECT (SELECT count(*) FROM (SELECT family, domain, month, bucket, count(*), sum(tech_fen),
                                     sum(total_fen), sum(x), sum(u)
                              FROM m GROUP BY ALL)),
       (SELECT count(*) FROM (SELECT family, domain, month, count(*),
                                     sum(CASE WHEN s.first_month = pairs.month THEN 1 ELSE 0 END)
                              FROM pairs JOIN seen s USING (party) GROUP BY ALL))
"""

EXPORT = """
COPY (SELECT c.id, c.registered_at, c.seller_id, c.buyer_id, c.intermediary_id,
             s.region_code AS s_region, b.region_code AS b_region, s.kind AS s_kind,
             b.kind AS b_kind, c.field, c.technical_amount AS technical, c.total_amount AS total
      FROM contracts c JOIN organizations s ON s.id = c.seller_id
      JOIN organizations b ON b.id = c.buyer_id
      WHERE c.status = 'registered' AND c.registered_at IS NOT NULL) TO STDOUT WITH CSV HEADER
"""


def compare_with_duckdb(url: str, first_year: int, last_year: int) -> None:
    """The same sub-indicator aggregation in PostgreSQL (the service's) and in DuckDB."""
    try:
        import duckdb
    except ImportError:
        print('DuckDB comparison skipped: pip install -e ".[bench]"', flush=True)
        return
    import psycopg

    import indices
    from marketplace import db
    from marketplace.app import create_app
    from marketplace.market_indices import aggregation

    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        caps = {year: aggregation.cap(year, indices.Parameters())
                for year in range(first_year, last_year + 1)}
        start = time.perf_counter()
        first = indices.Period(first_year, 1)
        cells = aggregation.cells(first, indices.Period(last_year, 12), caps, earliest=first)
        service_seconds = time.perf_counter() - start
        db.session.remove()
    with tempfile.TemporaryDirectory(prefix="duckdb-") as tmp:
        csv_path = Path(tmp) / "rows.csv"
        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn, \
                csv_path.open("wb") as out, conn.cursor().copy(EXPORT) as copy:
            for block in copy:
                out.write(block)
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE TABLE rows AS SELECT * FROM read_csv('{csv_path}', header = true, "
                    "types = {'technical': 'DECIMAL(18,2)', 'total': 'DECIMAL(18,2)', "
                    "'s_region': 'VARCHAR', 'b_region': 'VARCHAR'})")
        ten = ", ".join(f"'{code}'" for code in indices.REGION_CODES)
        start = time.perf_counter()
        split_rows, party_rows = con.execute(DUCKDB_CELLS.format(ten=ten)).fetchone()
        duckdb_seconds = time.perf_counter() - start
    print(json.dumps({"step": "aggregation of every month: PostgreSQL (the service) vs DuckDB",
                      "cells": len(cells), "duckdb_cell_rows": party_rows,
                      "duckdb_split_rows": split_rows,
                      "postgresql_seconds": round(service_seconds, 2),
                      "duckdb_seconds": round(duckdb_seconds, 2),
                      "ratio": round(service_seconds / duckdb_seconds, 1)}), flush=True)


if __name__ == "__main__":
    main()
