"""BM25 summed in the database (issue 4): the same ranking as text.bm25 in Python, on SQLite and
PostgreSQL; filters kept; long demands cut to their rarest terms; no query per result."""

from __future__ import annotations

import json
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from marketplace import db
from marketplace.achievements import services, text
from marketplace.achievements.models import (
    PUBLIC_STATUSES,
    Achievement,
    AchievementOwner,
    AchievementTerm,
    IpRight,
)

TEXTS = [
    ("锂离子电池快充技术", "提升锂离子电池快充性能", ["锂离子电池"], "new_energy"),
    ("固态电池电解质薄膜", "全固态电池的关键材料", ["固态电池"], "new_energy"),
    ("电子元件与池塘水质监测", "用于水产养殖的电子监测", [], "environment"),
    ("纺织品瑕疵检测系统", "机器视觉检测布面瑕疵", ["机器视觉"], "electronic_information"),
    ("锂电池回收与梯次利用", "退役动力电池拆解、检测与梯次利用，锂电池材料回收", ["电池回收"],
     "environment"),
    ("钠离子电池正极材料", "层状氧化物正极，低成本储能电池", ["钠离子电池", "储能"],
     "new_energy"),
    ("锂离子电池快充技术", "提升锂离子电池快充性能", ["锂离子电池"], "new_energy"),  # a twin
    ("氢燃料电池双极板", "金属双极板冲压成型与涂层，燃料电池电堆", ["燃料电池"],
     "new_energy"),
    ("光伏组件清洗机器人", "光伏电站组件自动清洗，提升发电效率", ["光伏"], "new_energy"),
]


@pytest.fixture
def corpus(create_org):
    org = create_org(kind="university", region_code="320508", name="评分大学")
    ids = []
    for i, (title, summary, keywords, field) in enumerate(TEXTS):
        a = Achievement(owner_id=org.id, title=title, summary=summary, keywords=keywords,
                        field=field, trl=3 + i % 6, transfer_modes=["license"],
                        price=None if i % 2 else Decimal(100000 * (i + 1)),
                        status="draft" if i == len(TEXTS) - 1 else "listed",
                        created_by="test", owners=[AchievementOwner(organization_id=org.id,
                                                                    share=Decimal(100))],
                        ip_rights=[IpRight(kind="technical_secret", number=f"TS-{i}")])
        db.session.add(a)
        db.session.flush()
        services._index_terms(a)
        ids.append(a.id)
    # Committed (to a savepoint of the test's transaction): a GET rolls back only its own work.
    db.session.commit()
    return ids


def python_bm25(query: list[str], only: set[int] | None = None) -> list[tuple[int, float]]:
    """The reference: every posting fetched and scored with text.bm25, as before issue 4."""
    n_docs, avg_len = db.session.execute(
        select(func.count(), func.avg(Achievement.term_count))
        .where(Achievement.status.in_(PUBLIC_STATUSES))).one()
    n_docs = max(int(n_docs or 0), 1)
    df = dict(db.session.execute(
        select(AchievementTerm.term, func.count()).where(AchievementTerm.term.in_(query))
        .group_by(AchievementTerm.term)).all())
    useful = [t for t in query if df.get(t, 0) <= max(n_docs // 2, 1)] or list(query)
    tfs: dict[int, dict[str, int]] = {}
    lengths: dict[int, int] = {}
    for aid, term, tf, length in db.session.execute(
            select(AchievementTerm.achievement_id, AchievementTerm.term, AchievementTerm.tf,
                   Achievement.term_count)
            .join(Achievement, Achievement.id == AchievementTerm.achievement_id)
            .where(AchievementTerm.term.in_(useful))):
        if only is None or aid in only:
            tfs.setdefault(aid, {})[term] = tf
            lengths[aid] = length
    scores = {aid: text.bm25(useful, tf, lengths[aid], df, n_docs, float(avg_len or 1.0))
              for aid, tf in tfs.items()}
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


@pytest.mark.parametrize("q", ["锂电池", "电池", "锂离子电池 正极材料", "机器视觉 瑕疵检测",
                               "燃料电池 储能 光伏"])
def test_database_bm25_is_the_python_bm25(app, corpus, q) -> None:
    query = text.query_terms(q)
    expected = python_bm25(query)
    got = services.text_scores(query, limit=50)
    assert list(got) == [aid for aid, _ in expected]
    for aid, score in expected:
        assert got[aid] == pytest.approx(score, rel=1e-12)
    for limit in range(1, len(expected) + 1):  # the MaxScore shortcut, taken or not
        top = services.text_scores(query, limit=limit)
        assert list(top) == [aid for aid, _ in expected[:limit]]
        assert list(top.values()) == pytest.approx([s for _, s in expected[:limit]], rel=1e-12)


def test_twins_tie_by_id_and_filters_still_apply(app, client, corpus) -> None:
    first, twin = corpus[0], corpus[6]
    scores = services.text_scores(text.query_terms("锂离子电池快充"))
    assert list(scores)[:2] == [first, twin] and scores[first] == scores[twin]
    found = client.get("/api/v1/achievements", query_string={"q": "电池", "field": "environment"})
    assert [a["id"] for a in found.get_json()] == [corpus[4]]  # not 电子元件与池塘 (电 … 池)
    cheap = client.get("/api/v1/achievements",
                       query_string={"q": "电池", "max_price": "250000"}).get_json()
    assert cheap and {a["id"] for a in cheap} <= {corpus[0], corpus[1], corpus[3], corpus[5],
                                                  corpus[7]}
    assert all(a["price"] is None or Decimal(a["price"]) <= Decimal("250000") for a in cheap)
    listed = select(Achievement).where(Achievement.status == "listed")
    only_listed = services.text_scores(text.query_terms("光伏组件"), listed)
    assert corpus[-1] not in only_listed  # the draft


def test_search_loads_owners_and_rights_in_bulk(app, client, corpus, as_role) -> None:
    """A page of matches costs the same statements whether it holds six achievements or two
    (the bureau's reviewer sees the draft too)."""
    headers = as_role("bureau_reviewer")
    statements: list[str] = []
    engine = db.session.get_bind().engine

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    def search(q: str) -> list[dict]:
        statements.clear()
        response = client.get("/api/v1/achievements", query_string={"q": q}, headers=headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    event.listen(engine, "before_cursor_execute", count)
    try:
        many = search("电池")
        n_many = len(statements)
        few = search("机器")
        n_few = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    for found in (*many, *few):
        assert found["owners"] and found["ip_rights"]
    assert len(many) >= 6 and len(few) == 2
    assert n_many == n_few


def test_a_long_demand_is_cut_to_its_rarest_terms(app, corpus, monkeypatch) -> None:
    df = {"aa": 1, "bb": 5, "cc": 2, "dd": 7}
    assert services.informative_terms(["dd", "aa", "zz", "bb", "cc"], df, 20, most=2) == \
        ["aa", "cc"]
    filler = "，".join(f"希望{i}号车间的生产效率与管理水平得到提升" for i in range(60))
    demand = SimpleNamespace(title="寻求燃料电池双极板技术",
                             description=f"双极板涂层，电池材料与储能。{filler}",
                             field="new_energy", min_trl=3, budget_min=Decimal(1),
                             budget_max=Decimal(10_000_000))
    assert len(services.demand_text(demand)) > services.MAX_QUERY_TERMS
    whole = services.matches_for_demand(demand)
    assert whole[0]["achievement_id"] == corpus[7]
    monkeypatch.setattr(services, "MAX_QUERY_TERMS", 3)  # 燃料 料电 双极 极板 电池 材料 储能 …
    cut = services.matches_for_demand(demand)
    assert cut[0]["achievement_id"] == corpus[7]
    assert {m["achievement_id"] for m in cut} < {m["achievement_id"] for m in whole}


def test_the_rarer_terms_answer_alone_when_they_clearly_win(app, corpus, monkeypatch) -> None:
    calls: list[bool] = []
    real = services._bm25_top

    def spy(*args, **kwargs):
        calls.append(kwargs.get("entry") is not None)
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "_bm25_top", spy)
    query = text.query_terms("锂离子电池快充")
    top = services.text_scores(query, limit=2)
    assert calls == [True]  # one pass, entered through the rarer terms only
    assert list(top) == [aid for aid, _ in python_bm25(query)[:2]] == [corpus[0], corpus[6]]
    calls.clear()
    services.text_scores(query, limit=5)  # fewer than 5 hold a rarer term: everything scored
    assert calls == [True, False]


def test_pages_of_a_search_add_up_to_its_ranking_and_load_only_themselves(
        client, corpus) -> None:
    """Page by page the API gives the ranking's matches in order, and a page loads only its
    own achievements (the ranking itself is ids and scores)."""
    db.session.commit()  # the corpus, for the requests (a savepoint in the test's transaction)
    url = "/api/v1/achievements?q=%E7%94%B5%E6%B1%A0"  # 电池
    whole = client.get(url + "&page_size=50")
    assert whole.status_code == 200
    ranking = [(a["id"], a["score"]) for a in whole.get_json()]
    assert len(ranking) >= 5
    paged = []
    for page in range(1, 4):
        answer = client.get(url + f"&page_size=2&page={page}")
        assert json.loads(answer.headers["X-Pagination"])["total"] == len(ranking)
        paged += [(a["id"], a["score"]) for a in answer.get_json()]
    assert paged == ranking[:6]

    loaded: list[object] = []

    def note(session: object, instance: object) -> None:
        loaded.append(instance)

    db.session.expunge_all()
    event.listen(Session, "loaded_as_persistent", note)
    try:
        # (a page not asked before: the answers above are cached for anonymous readers)
        assert len(client.get(url + "&page_size=3&page=2").get_json()) == 3
    finally:
        event.remove(Session, "loaded_as_persistent", note)
    assert sum(isinstance(o, Achievement) for o in loaded) == 3
