"""Recall@5 and MRR of demand → achievement matching on the labelled evaluation set.

    .venv/bin/python scripts/eval_matching.py [tests/data/matching_eval.json]

Loads the set into a scratch SQLite database through the service's own models and term index,
ranks every listed achievement for each demand with the service's matching function, and
prints recall@1, recall@5, MRR and the misses. Exits non-zero if recall@5 < 0.9.
"""

from __future__ import annotations

import json
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SET = ROOT / "tests" / "data" / "matching_eval.json"


def load_set(session: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Insert the set's achievements (listed) and demands; return {demand key: Demand}."""
    from marketplace.achievements.models import Achievement, AchievementOwner
    from marketplace.achievements.services import _index_terms
    from marketplace.demands.models import Demand
    from marketplace.organisations.models import Organisation

    owner = Organisation(uscc="12320000466007528X", name="评测大学", kind="university",
                         region_code="320508")
    buyer = Organisation(uscc="91350100M000100Y43", name="评测企业", kind="enterprise",
                         region_code="320571")
    session.add_all([owner, buyer])
    session.flush()
    keys: dict[int, str] = {}
    for a in data["achievements"]:
        row = Achievement(owner_id=owner.id, external_key=a["key"], title=a["title"],
                          summary=a["summary"], keywords=a.get("keywords", []),
                          field=a["field"], trl=a["trl"], transfer_modes=["license"],
                          price=None if a.get("price") is None else Decimal(a["price"]),
                          status="listed", created_by="evaluation",
                          owners=[AchievementOwner(organization_id=owner.id,
                                                   share=Decimal("100"))])
        session.add(row)
        session.flush()
        _index_terms(row)
        keys[row.id] = a["key"]
    demands = {}
    for d in data["demands"]:
        row = Demand(organization_id=buyer.id, external_key=d["key"], title=d["title"],
                     description=d["description"], field=d["field"],
                     budget_min=Decimal(d["budget_min"]), budget_max=Decimal(d["budget_max"]),
                     min_trl=d["min_trl"], created_by="evaluation")
        session.add(row)
        demands[d["key"]] = row
    session.flush()
    return {"demands": demands, "achievement_keys": keys}


def evaluate(session: Any, data: dict[str, Any]) -> dict[str, Any]:
    from marketplace.achievements.services import matches_for_demand

    loaded = load_set(session, data)
    keys = loaded["achievement_keys"]
    hits1 = hits5 = 0
    reciprocal = 0.0
    misses = []
    for d in data["demands"]:
        ranked = [keys[m["achievement_id"]] for m in
                  matches_for_demand(loaded["demands"][d["key"]], limit=50)]
        relevant = set(d["relevant"])
        rank = next((i + 1 for i, k in enumerate(ranked) if k in relevant), None)
        if rank is not None:
            reciprocal += 1 / rank
            hits1 += rank == 1
            hits5 += rank <= 5
        if rank is None or rank > 5:
            misses.append(f"{d['key']} {d['title']}: relevant {sorted(relevant)} ranked "
                          f"{rank}; top {ranked[:3]}")
    n = len(data["demands"])
    return {"demands": n, "achievements": len(data["achievements"]),
            "recall_at_1": round(hits1 / n, 4), "recall_at_5": round(hits5 / n, 4),
            "mrr": round(reciprocal / n, 4), "misses": misses}


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SET
    data = json.loads(path.read_text(encoding="utf-8"))
    from marketplace import db
    from marketplace.app import create_app
    from marketplace.migrate import upgrade

    url = f"sqlite:///{tempfile.mkdtemp(prefix='eval-')}/eval.sqlite3"
    upgrade(url)
    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        result = evaluate(db.session, data)
    for miss in result.pop("misses"):
        print("miss:", miss)
    print(json.dumps(result, ensure_ascii=False))
    sys.exit(0 if result["recall_at_5"] >= 0.9 else 1)


if __name__ == "__main__":
    main()
