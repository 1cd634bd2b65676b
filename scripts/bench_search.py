"""Search and matching latency over many listed achievements on PostgreSQL.

    .venv/bin/python scripts/bench_search.py --achievements 100000

Fills a fresh database with synthetic listed achievements (Chinese titles and summaries built
from the eleven fields' vocabularies, indexed by the service's own term index), then times
`GET /api/v1/achievements?q=…` and `GET /api/v1/demands/{id}/matches` through the app and
prints p50 and p95 in milliseconds. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from decimal import Decimal

from benchlib import SUFFIX, WORDS, fresh_database, percentile
from sqlalchemy import create_engine, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--achievements", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    url = fresh_database("marketplace_bench_search")

    from marketplace import db
    from marketplace.achievements import text as chinese
    from marketplace.achievements.models import Achievement, AchievementOwner, AchievementTerm
    from marketplace.app import create_app
    from marketplace.demands.models import Demand
    from marketplace.migrate import upgrade
    from marketplace.organisations.models import Organisation

    upgrade(url)
    app = create_app({"DATABASE_URL": url, "PASSWORD_PROFILE": "CHEAPEST"})
    rng = random.Random(5)
    fields = list(WORDS)
    started = time.perf_counter()
    with app.app_context():
        owner = Organisation(uscc="12320000466007528X", name="基准大学", kind="university",
                             region_code="320508")
        buyer = Organisation(uscc="91350100M000100Y43", name="基准企业", kind="enterprise",
                             region_code="320571")
        db.session.add_all([owner, buyer])
        db.session.flush()
        batch: list[dict] = []
        terms: list[dict] = []
        owners: list[dict] = []
        for i in range(1, args.achievements + 1):
            field = rng.choice(fields)
            a, b = rng.sample(WORDS[field], 2)
            title = f"{a}{rng.choice(SUFFIX)}"
            summary = f"面向{b}的{a}技术，提升性能并降低成本，已完成中试验证。"
            keywords = [a, b]
            counts = chinese.document_terms(title, summary, keywords)
            batch.append({"id": i, "owner_id": owner.id, "title": title, "summary": summary,
                          "keywords": keywords, "field": field, "trl": rng.randint(3, 9),
                          "transfer_modes": ["license"], "status": "listed",
                          "price": None if i % 3 else Decimal(rng.randint(1, 300) * 10000),
                          "term_count": sum(counts.values()), "created_by": "benchmark"})
            owners.append({"achievement_id": i, "organization_id": owner.id,
                           "share": Decimal(100)})
            terms.extend({"achievement_id": i, "term": t, "tf": n} for t, n in counts.items())
            if len(batch) == 5000:
                db.session.execute(Achievement.__table__.insert(), batch)
                db.session.execute(AchievementOwner.__table__.insert(), owners)
                db.session.execute(AchievementTerm.__table__.insert(), terms)
                batch, owners, terms = [], [], []
        if batch:
            db.session.execute(Achievement.__table__.insert(), batch)
            db.session.execute(AchievementOwner.__table__.insert(), owners)
            db.session.execute(AchievementTerm.__table__.insert(), terms)
        demands = []
        for field in fields:
            word = rng.choice(WORDS[field])
            d = Demand(organization_id=buyer.id, title=f"寻求{word}相关技术",
                       description=f"我司需要提升{word}的性能，希望合作开发", field=field,
                       budget_min=Decimal("100000"), budget_max=Decimal("1000000"), min_trl=5,
                       created_by="benchmark")
            db.session.add(d)
            demands.append(d)
        db.session.commit()
        demand_ids = [d.id for d in demands]
    # As autovacuum leaves a settled database: statistics, and the visibility map that lets
    # PostgreSQL answer from the covering indexes alone (index-only scans).
    settle = create_engine(url, isolation_level="AUTOCOMMIT")
    with settle.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    settle.dispose()
    print(f"loaded {args.achievements} listed achievements in "
          f"{time.perf_counter() - started:.1f} s")

    client = app.test_client()
    from marketplace.auth.identity import system
    from marketplace.auth.services import create_user

    with app.app_context():
        create_user(system("bench"), username="bench", password="bench-password-1",
                    role="bureau_reviewer", organization_uscc=None)
        db.session.commit()
    token = client.post("/api/v1/auth/tokens", json={"username": "bench",
                                                      "password": "bench-password-1"}).get_json()
    headers = {"Authorization": f"Bearer {token['token']}"}
    queries = [rng.choice(WORDS[rng.choice(fields)]) for _ in range(args.queries)]
    for label, urls in (
        ("search", [f"/api/v1/achievements?q={q}" for q in queries]),
        ("match one demand", [f"/api/v1/demands/{rng.choice(demand_ids)}/matches"
                              for _ in range(args.queries)]),
    ):
        timings = []
        for url in urls:
            start = time.perf_counter()
            response = client.get(url, headers=headers)
            timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.get_json()
        print(f"{label}: {len(timings)} requests over {args.achievements} achievements: "
              f"p50 {statistics.median(timings):.1f} ms, p95 {percentile(timings, 0.95):.1f} ms")


if __name__ == "__main__":
    main()
