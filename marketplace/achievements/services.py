"""Achievements: registration, public notice and objections (确权、登记和公示), search, matching.

The life cycle is data (TRANSITIONS): draft → notice (submitted by an owner; the notice lasts
NOTICE_DAYS) → listed (by the scheduled job once the notice has run) → traded (when a
registered contract names it). An objection during the notice puts it on hold until the bureau
rules: upheld → rejected; dismissed → back to notice for the days left, or listed if none are.
Owners may withdraw it from any state but traded.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from flask import current_app, has_app_context
from sqlalchemy import (
    Float,
    Select,
    String,
    case,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import selectinload

from marketplace import db
from marketplace.achievements import text
from marketplace.achievements.models import (
    PUBLIC_STATUSES,
    Achievement,
    AchievementOwner,
    AchievementTerm,
    IpRight,
    Objection,
)
from marketplace.audit.services import record
from marketplace.auth.identity import Identity
from marketplace.errors import Forbidden, InvalidTransition, NotFound, ValidationProblem
from marketplace.imports import ImportRejected, ImportReport, open_csv, parse_amount, read_rows
from marketplace.organisations.models import Organisation
from marketplace.reference import FIELDS, check_uscc, unsafe_characters

IP_KINDS = ("invention_patent", "utility_model", "design_patent", "software_copyright",
            "ic_layout", "plant_variety", "technical_secret")
PATENT_KINDS = ("invention_patent", "utility_model", "design_patent")
TRANSFER_MODES = ("transfer", "license", "equity")
PATENT_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
PATENT_RE = re.compile(r"^(\d{12}|\d{8})\.?([0-9X])$")

# (state, action) -> (new state, who may act)
TRANSITIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("draft", "submit"): ("notice", "owner"),
    ("notice", "object"): ("on_hold", "other_org"),
    ("on_hold", "uphold"): ("rejected", "bureau"),
    ("on_hold", "dismiss"): ("notice", "bureau"),  # or listed when no notice days are left
    ("notice", "close"): ("listed", "system"),
    ("listed", "trade"): ("traded", "system"),
    ("notice", "trade"): ("traded", "system"),
    **{(state, "withdraw"): ("withdrawn", "owner")
       for state in ("draft", "notice", "on_hold", "listed")},
}


def allowed_actions(state: str) -> list[str]:
    return sorted(a for (s, a), (_n, who) in TRANSITIONS.items() if s == state and who != "system")


def check_patent_number(value: str) -> str:
    """A Chinese patent application number: 12 (or 8) digits, a dot and its mod-11 check.

    >>> check_patent_number("ZL 200710308494.X")
    '200710308494.X'
    """
    number = re.sub(r"\s", "", value.upper())
    for prefix in ("ZL", "CN"):
        if number.startswith(prefix):
            number = number[len(prefix):]
    match = PATENT_RE.match(number)
    if not match:
        raise ValueError("a patent application number: 12 digits (8 before 2003), a dot and a "
                         "check character")
    digits, check = match.groups()
    total = sum(int(d) * w for d, w in zip(digits, PATENT_WEIGHTS, strict=False))
    expected = "X" if total % 11 == 10 else str(total % 11)
    if check != expected:
        raise ValueError("the check character does not match the number")
    return f"{digits}.{check}"


def _notice_days() -> int:
    return int(current_app.config["NOTICE_DAYS"]) if has_app_context() else 15


def _org(code: str) -> Organisation | None:
    return db.session.scalar(select(Organisation).where(Organisation.uscc == code))


def validate(data: Mapping[str, Any], *, partial: bool = False) -> dict[str, list[str]]:
    """Every problem of an achievement's terms at once (the schema has checked the types)."""
    errors: dict[str, list[str]] = {}
    if "owners" in data or not partial:
        owners = data.get("owners") or []
        if not owners:
            errors.setdefault("owners", []).append("at least one owner")
        total = sum((Decimal(o["share"]) for o in owners), Decimal("0"))
        if owners and total != Decimal("100"):
            errors.setdefault("owners", []).append(f"shares add up to {total} %, not 100 %")
        seen = set()
        for i, o in enumerate(owners):
            if o["uscc"] in seen:
                errors.setdefault(f"owners.{i}.uscc", []).append("named twice")
            seen.add(o["uscc"])
            if _org(o["uscc"]) is None:
                errors.setdefault(f"owners.{i}.uscc", []).append(
                    "not a registered organisation")
    for i, right in enumerate(data.get("ip_rights") or []):
        if right["kind"] in PATENT_KINDS:
            try:
                check_patent_number(right["number"])
            except ValueError as exc:
                errors.setdefault(f"ip_rights.{i}.number", []).append(str(exc))
    return errors


def _index_terms(a: Achievement) -> None:
    counts = text.document_terms(a.title, a.summary, a.keywords)
    db.session.execute(delete(AchievementTerm).where(AchievementTerm.achievement_id == a.id))
    _write_terms([(a, counts)])
    a.term_count = sum(counts.values())


IMPORT_BATCH = 1000


def _insert_with_terms(batch: list[tuple[Achievement, dict[str, int]]]) -> None:
    """New achievements (added to the session, `term_count` set) and their search terms, a
    batch at a time: one flush, then every term of the batch at once (`_write_terms`), not a
    few statements an achievement."""
    if not batch:
        return
    db.session.flush()
    _write_terms(batch)
    batch.clear()


def _write_terms(batch: Sequence[tuple[Achievement, dict[str, int]]]) -> None:
    """The search terms of flushed achievements, all in one insert."""
    db.insert_many(AchievementTerm.__table__, [
        {"achievement_id": a.id, "term": t[:40], "tf": n}
        for a, counts in batch for t, n in counts.items()])


def _owner_ids(a: Achievement) -> set[int]:
    return {o.organization_id for o in a.owners} | {a.owner_id}


def is_owner(actor: Identity, a: Achievement) -> bool:
    return actor.organization_id is not None and actor.organization_id in _owner_ids(a)


def create(actor: Identity, data: dict[str, Any]) -> Achievement:
    actor.require("org_admin", "org_member")
    errors = validate(data)
    owner_codes = [o["uscc"] for o in data["owners"]]
    me = db.session.get(Organisation, actor.organization_id)
    if me is not None and me.uscc not in owner_codes:
        errors.setdefault("owners", []).append("your organisation must be one of the owners")
    if errors:
        raise ValidationProblem(errors=errors)
    a = Achievement(owner_id=actor.organization_id, created_by=actor.label, status="draft",
                    **_terms(data))
    a.owners = [AchievementOwner(organization_id=_org(o["uscc"]).id,  # type: ignore[union-attr]
                                 share=o["share"]) for o in data["owners"]]
    a.ip_rights = [IpRight(kind=r["kind"], number=check_patent_number(r["number"])
                           if r["kind"] in PATENT_KINDS else r["number"])
                   for r in data.get("ip_rights") or []]
    db.session.add(a)
    db.session.flush()
    _index_terms(a)
    record(actor, "achievement.create", "achievement", a.id, after=_snapshot(a))
    return a


def _terms(data: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("title", "summary", "keywords", "field", "trl", "transfer_modes", "price",
            "contact", "external_key")
    return {k: data[k] for k in keys if k in data}


def _snapshot(a: Achievement) -> dict[str, Any]:
    return {"title": a.title, "field": a.field, "trl": a.trl, "status": a.status,
            "price": None if a.price is None else str(a.price),
            "owners": [[o.organization_id, str(o.share)] for o in a.owners]}


def update_draft(actor: Identity, achievement_id: int, data: dict[str, Any]) -> Achievement:
    a = get_for(actor, achievement_id)
    if not is_owner(actor, a):
        raise Forbidden("only an owner changes an achievement")
    if a.status != "draft":
        raise InvalidTransition(f"only a draft is edited; this one is in {a.status}",
                                current_state=a.status, allowed_actions=allowed_actions(a.status))
    errors = validate(data, partial=True)
    if errors:
        raise ValidationProblem(errors=errors)
    before = _snapshot(a)
    for key, value in _terms(data).items():
        setattr(a, key, value)
    if "owners" in data:
        a.owners = [AchievementOwner(organization_id=_org(o["uscc"]).id,  # type: ignore[union-attr]
                                     share=o["share"]) for o in data["owners"]]
    db.session.flush()
    _index_terms(a)
    record(actor, "achievement.update", "achievement", a.id, before=before, after=_snapshot(a))
    return a


def get_for(actor: Identity, achievement_id: int) -> Achievement:
    """The achievement if the actor may see it: the public sees notice, listed and traded."""
    a = db.session.get(Achievement, achievement_id)
    if a is None or not (a.status in PUBLIC_STATUSES or actor.is_bureau or is_owner(actor, a)):
        raise NotFound(f"no achievement {achievement_id}")
    return a


def _move(actor: Identity, a: Achievement, action: str, reason: str | None = None,
          new_state: str | None = None) -> None:
    key = (a.status, action)
    if key not in TRANSITIONS:
        raise InvalidTransition(f"cannot {action} an achievement in {a.status}",
                                current_state=a.status, allowed_actions=allowed_actions(a.status))
    target, who = TRANSITIONS[key]
    if who == "owner" and not is_owner(actor, a):
        raise Forbidden("only an owner may do this")
    if who == "bureau":
        actor.require("bureau_admin", "bureau_reviewer")
    before = a.status
    a.status = new_state or target
    db.session.flush()
    record(actor, f"achievement.{action}", "achievement", a.id,
           before={"status": before}, after={"status": a.status}, reason=reason)


def submit(actor: Identity, achievement_id: int, now: datetime | None = None) -> Achievement:
    a = get_for(actor, achievement_id)
    _move(actor, a, "submit")
    a.notice_ends_at = (now or db.utcnow()) + timedelta(days=_notice_days())
    db.session.flush()
    return a


def withdraw(actor: Identity, achievement_id: int, reason: str | None) -> Achievement:
    a = get_for(actor, achievement_id)
    _move(actor, a, "withdraw", reason)
    return a


def object_to(actor: Identity, achievement_id: int, grounds: str,
              now: datetime | None = None) -> Objection:
    actor.require("org_admin", "org_member")
    now = now or db.utcnow()
    a = db.session.scalar(select(Achievement).where(Achievement.id == achievement_id)
                          .with_for_update())
    if a is None or a.status not in (*PUBLIC_STATUSES, "on_hold"):
        raise NotFound(f"no achievement {achievement_id}")
    if is_owner(actor, a):
        raise Forbidden("an owner does not object to its own achievement")
    if a.status != "notice" or (a.notice_ends_at and a.notice_ends_at <= now):
        raise InvalidTransition("objections are taken only while the public notice runs",
                                current_state=a.status, allowed_actions=[])
    a.notice_seconds_left = int((a.notice_ends_at - now).total_seconds())  # type: ignore[operator]
    _move(actor, a, "object", grounds)
    objection = Objection(achievement_id=a.id, organization_id=actor.organization_id,
                          filed_by=actor.label, grounds=grounds)
    db.session.add(objection)
    db.session.flush()
    return objection


def rule(actor: Identity, achievement_id: int, decision: str, note: str,
         now: datetime | None = None) -> Achievement:
    actor.require("bureau_admin", "bureau_reviewer")
    now = now or db.utcnow()
    a = get_for(actor, achievement_id)
    if decision == "upheld":
        _move(actor, a, "uphold", note)
    else:
        left = a.notice_seconds_left or 0
        _move(actor, a, "dismiss", note, new_state="notice" if left > 0 else "listed")
        a.notice_ends_at = now + timedelta(seconds=left) if left > 0 else a.notice_ends_at
        a.notice_seconds_left = None
    for o in db.session.scalars(select(Objection).where(Objection.achievement_id == a.id,
                                                        Objection.status == "open")):
        o.status, o.ruled_at, o.ruled_by, o.ruling = decision, now, actor.label, note
    db.session.flush()
    return a


def close_finished_notices(now: datetime | None = None) -> int:
    """The scheduled job: every notice that has run its days becomes a listing.

    One conditional UPDATE: two processes at once cannot list one achievement twice, and a
    second run finds nothing left to do.
    """
    from marketplace.auth.identity import system

    now = now or db.utcnow()
    ids = list(db.session.scalars(
        update(Achievement).where(Achievement.status == "notice",
                                  Achievement.notice_ends_at <= now)
        .values(status="listed").returning(Achievement.id)))
    if ids:
        record(system("close_notices"), "achievement.list", "achievement", f"{len(ids)} closed",
               before={"status": "notice"}, after={"status": "listed", "ids": sorted(ids)},
               reason="the public notice ran its course without a standing objection")
    return len(ids)


def mark_traded(actor: Identity, achievement_id: int, contract: Any) -> None:
    """Called by the contracts service when a registered contract names the achievement."""
    a = db.session.get(Achievement, achievement_id)
    if a is None or a.status == "traded":
        return
    if (a.status, "trade") in TRANSITIONS:
        _move(actor, a, "trade", f"contract {getattr(contract, 'contract_no', '')} registered")


# ----------------------------------------------------------------------------- search

@dataclass
class Scored:
    achievement: Achievement
    score: float


def _visible(actor: Identity) -> Any:
    if actor.is_bureau:
        return None
    public = Achievement.status.in_(PUBLIC_STATUSES)
    if actor.organization_id is None:
        return public
    mine = Achievement.owner_id == actor.organization_id
    return or_(public, mine)


def filtered(actor: Identity, filters: Mapping[str, Any]) -> Select[tuple[Achievement]]:
    stmt = select(Achievement)
    visible = _visible(actor)
    if visible is not None:
        stmt = stmt.where(visible)
    if "status" in filters:
        stmt = stmt.where(Achievement.status == filters["status"])
    if "field" in filters:
        stmt = stmt.where(Achievement.field == filters["field"])
    if "min_trl" in filters:
        stmt = stmt.where(Achievement.trl >= filters["min_trl"])
    if "max_trl" in filters:
        stmt = stmt.where(Achievement.trl <= filters["max_trl"])
    if "max_price" in filters:
        stmt = stmt.where(or_(Achievement.price.is_(None),
                              Achievement.price <= filters["max_price"]))
    if "external_key" in filters:
        stmt = stmt.where(Achievement.external_key == filters["external_key"])
    if "transfer_mode" in filters:
        stmt = stmt.where(cast(Achievement.transfer_modes, String).contains(
            f'"{filters["transfer_mode"]}"'))
    return stmt


# A long demand is cut to its most informative terms: the rarest ones carry the match, and
# each extra term costs a pass over its postings.
MAX_QUERY_TERMS = 32


# The corpus statistics of BM25 (how many public achievements, their mean length) cost a pass
# over every achievement. Over a large corpus a few new listings move them by a hair, so each
# process keeps them for a minute; a small corpus is counted afresh every time.
STATS_TTL_SECONDS = 60.0
STATS_CACHE_MIN_DOCS = 10_000
_stats_cache: dict[str, tuple[float, int, float]] = {}


def corpus_stats() -> tuple[int, float]:
    """The number of public achievements and their mean (weighted) term count."""
    key = str(db.session.get_bind().engine.url)
    cached = _stats_cache.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1], cached[2]
    n_docs, avg_len = db.session.execute(
        select(func.count(), func.avg(Achievement.term_count))
        .where(Achievement.status.in_(PUBLIC_STATUSES))).one()
    stats = max(int(n_docs or 0), 1), float(avg_len or 1.0)
    if stats[0] >= STATS_CACHE_MIN_DOCS:
        _stats_cache[key] = (time.monotonic() + STATS_TTL_SECONDS, *stats)
    else:
        _stats_cache.pop(key, None)
    return stats


_df_cache: dict[str, dict[str, tuple[float, int]]] = {}
DF_CACHE_MAX_TERMS = 50_000


def document_frequencies(query: Sequence[str], n_docs: int) -> dict[str, int]:
    """How many achievements hold each query term (the terms in none are left out).

    Common terms (技术, 提升) have long posting lists that take a while to count; over a large
    corpus the counts are kept like the corpus statistics, for a minute.
    """
    key = str(db.session.get_bind().engine.url)
    if n_docs >= STATS_CACHE_MIN_DOCS:
        cache = _df_cache.setdefault(key, {})
    else:
        cache = {}
        _df_cache.pop(key, None)
    now = time.monotonic()
    df = {t: hit[1] for t in query if (hit := cache.get(t)) is not None and hit[0] > now}
    missing = [t for t in dict.fromkeys(query) if t not in df]
    if missing:
        counted = dict(db.session.execute(
            select(AchievementTerm.term, func.count()).where(AchievementTerm.term.in_(missing))
            .group_by(AchievementTerm.term)).all())
        if n_docs >= STATS_CACHE_MIN_DOCS:
            if len(cache) > DF_CACHE_MAX_TERMS:
                cache.clear()
            expires = now + STATS_TTL_SECONDS
            cache.update({t: (expires, counted.get(t, 0)) for t in missing})
        df.update(counted)
    return {t: n for t, n in df.items() if n}


def informative_terms(query: Sequence[str], df: Mapping[str, int], n_docs: int,
                      most: int | None = None) -> list[str]:
    """The query terms worth scoring, in query order.

    Terms in most documents say little: they are left out when rarer ones are there. Terms in
    no document score nothing and are left out too. Of the rest, at most `most`, the rarest.

    >>> informative_terms(["a", "b", "c", "d"], {"a": 9, "b": 2, "c": 3}, 10, most=1)
    ['b']
    >>> informative_terms(["a", "d"], {"a": 9}, 10)  # d is rarer, and in nothing
    []
    >>> informative_terms(["a", "e"], {"a": 9, "e": 8}, 10)  # all common: all kept
    ['a', 'e']
    """
    useful = [t for t in query if df.get(t, 0) <= max(n_docs // 2, 1)] or list(query)
    useful = [t for t in useful if df.get(t, 0) > 0]
    most = MAX_QUERY_TERMS if most is None else most
    if len(useful) > most:
        keep = set(sorted(useful, key=lambda t: (df[t], useful.index(t)))[:most])
        useful = [t for t in useful if t in keep]
    return useful


def text_scores(query: Sequence[str], candidates: Select[tuple[Achievement]] | None = None,
                limit: int = 200) -> dict[int, float]:
    """BM25 of the achievements that hold any query term (over the public corpus's stats),
    the best `limit` of them, best first (ties: lower id first).

    The sum runs in the database so that only the best come back, the same on SQLite and
    PostgreSQL. The common terms of a query are first left out as entry points (MaxScore):
    an achievement holding none of the rarer terms scores less than the common terms' bound
    (each term adds less than idf·(k1 + 1)); if `limit` achievements holding a rarer term
    beat that bound, they are the answer, else every achievement holding any term is scored.
    """
    if not query:
        return {}
    n_docs, avg_len = corpus_stats()
    df = document_frequencies(query, n_docs)
    useful = informative_terms(query, df, n_docs)
    if not useful:
        return {}
    idf = {t: text.idf(df[t], n_docs) for t in useful}
    bound = {t: max(idf[t], 0.0) * (text.K1 + 1) for t in useful}
    common: list[str] = []
    for t in sorted(useful, key=lambda t: (-df[t], useful.index(t)))[:-1]:
        if sum(bound[c] for c in common) + bound[t] > sum(bound.values()) / 2:
            break
        common.append(t)
    if common:
        best = _bm25_top(useful, idf, avg_len, candidates, limit,
                         entry=[t for t in useful if t not in common])
        ceiling = sum(bound[t] for t in common) * (1 + 1e-9)
        if len(best) == limit and best[-1][1] > ceiling:
            return dict(best)
    return dict(_bm25_top(useful, idf, avg_len, candidates, limit))


def _bm25_top(useful: Sequence[str], idf: Mapping[str, float], avg_len: float,
              candidates: Select[tuple[Achievement]] | None, limit: int,
              entry: Sequence[str] | None = None) -> list[tuple[int, float]]:
    """The best `limit` (achievement, BM25) among the candidates holding a term of `entry`
    (default: any query term)."""
    # One row per achievement holding a term, with the term counts side by side; then BM25
    # term by term in query order, as text.bm25 adds it up (the same floating-point sums).
    tfs = {t: func.sum(case((AchievementTerm.term == t, AchievementTerm.tf), else_=0))
           for t in useful}
    postings = (select(AchievementTerm.achievement_id.label("aid"),
                       *(tfs[t].label(f"tf{i}") for i, t in enumerate(useful)))
                .where(AchievementTerm.term.in_(useful))
                .group_by(AchievementTerm.achievement_id))
    if entry is not None:  # the same sums (computed once), not another pass
        postings = postings.having(or_(*(tfs[t] > 0 for t in entry)))
    sub = postings.subquery()
    norm = literal(text.K1, Float) * (literal(1 - text.B, Float) + literal(text.B, Float)
                                      * cast(Achievement.term_count, Float)
                                      / literal(avg_len or 1.0, Float))
    score: Any = None
    for i, t in enumerate(useful):
        f = cast(sub.c[f"tf{i}"], Float)
        part = literal(idf[t], Float) * f * literal(text.K1 + 1, Float) / (f + norm)
        score = part if score is None else score + part
    score = score.label("score")
    stmt = select(sub.c.aid, score).join(Achievement, Achievement.id == sub.c.aid)
    if candidates is not None:
        froms = candidates.get_final_froms()
        if len(froms) == 1 and froms[0] is Achievement.__table__:
            if candidates.whereclause is not None:
                stmt = stmt.where(candidates.whereclause)
        else:
            stmt = stmt.where(sub.c.aid.in_(
                candidates.with_only_columns(Achievement.id).order_by(None).scalar_subquery()))
    stmt = stmt.order_by(score.desc(), sub.c.aid).limit(limit)
    return [(aid, float(s)) for aid, s in db.session.execute(stmt)]


def ranked(actor: Identity, q: str, filters: Mapping[str, Any],
           limit: int = 100) -> list[tuple[int, float]]:
    """The ids of the achievements matching `q` (and the filters) with their scores, best
    first; nothing else is loaded, so a page of them costs only its own achievements."""
    query = text.query_terms(q)
    if len(query) == 1 and len(query[0]) == 1:  # a single character: a plain substring match
        stmt = filtered(actor, filters).where(or_(Achievement.title.contains(query[0]),
                                                  Achievement.summary.contains(query[0])))
        ids = db.session.scalars(stmt.with_only_columns(Achievement.id).limit(limit))
        return [(i, 0.0) for i in ids]
    return list(text_scores(query, filtered(actor, filters), limit).items())


def load_scored(ranking: Sequence[tuple[int, float]]) -> list[Scored]:
    """The achievements of a ranking (see `ranked`), in its order, with their owners and rights."""
    if not ranking:
        return []
    found = {a.id: a for a in db.session.scalars(
        select(Achievement).where(Achievement.id.in_([i for i, _ in ranking]))
        .options(selectinload(Achievement.owners), selectinload(Achievement.ip_rights)))}
    return [Scored(found[i], s) for i, s in ranking if i in found]


def demand_text(demand: Any) -> list[str]:
    return text.query_terms(f"{demand.title} {demand.description}")


def matches_for_demand(demand: Any, limit: int = 20) -> list[dict[str, Any]]:
    """Listed achievements ranked for a demand, each with the parts of its score."""
    listed = select(Achievement).where(Achievement.status == "listed")
    scores = text_scores(demand_text(demand), listed, limit=200)
    if not scores:
        return []
    rows = db.session.execute(
        select(Achievement.id, Achievement.title, Achievement.field, Achievement.trl,
               Achievement.price).where(Achievement.id.in_(list(scores))))
    ranked = []
    for a in rows:
        parts = text.score_match(scores[a.id], demand_field=demand.field,
                                 achievement_field=a.field, trl=a.trl, min_trl=demand.min_trl,
                                 price=a.price, budget_min=demand.budget_min,
                                 budget_max=demand.budget_max)
        ranked.append({"achievement_id": a.id, "title": a.title, "field": a.field,
                       "trl": a.trl, "price": a.price, "score": parts.total,
                       "parts": parts.as_dict()})
    ranked.sort(key=lambda r: (-r["score"], r["achievement_id"]))
    return ranked[:limit]


def matches_for_achievement(achievement: Achievement, demands: Iterable[Any],
                            limit: int = 20) -> list[dict[str, Any]]:
    """Open demands ranked for an achievement (the demand texts are few: scored in memory)."""
    demands = list(demands)
    docs = {d.id: text.terms(f"{d.title} {d.title} {d.description}") for d in demands}
    query = text.query_terms(f"{achievement.title} {' '.join(achievement.keywords)}")
    df = {t: sum(1 for tf in docs.values() if t in tf) for t in query}
    avg = sum(sum(tf.values()) for tf in docs.values()) / max(len(docs), 1)
    ranked = []
    for d in demands:
        tf = docs[d.id]
        s = text.bm25(query, tf, sum(tf.values()), df, max(len(docs), 1), avg or 1.0)
        parts = text.score_match(s, demand_field=d.field, achievement_field=achievement.field,
                                 trl=achievement.trl, min_trl=d.min_trl, price=achievement.price,
                                 budget_min=d.budget_min, budget_max=d.budget_max)
        ranked.append({"demand_id": d.id, "title": d.title, "field": d.field,
                       "score": parts.total, "parts": parts.as_dict()})
    ranked.sort(key=lambda r: (-r["score"], r["demand_id"]))
    return [r for r in ranked if r["parts"]["text"] > 0 or r["parts"]["field"] > 0][:limit]


# ----------------------------------------------------------------------------- import

COLUMNS = ("key", "owner_uscc", "title", "summary", "keywords", "field", "trl",
           "transfer_modes", "price", "status")


def import_csv(actor: Identity, source: Path | IO[str], name: str = "") -> ImportReport:
    """A catalogue from a spreadsheet: all or nothing, idempotent on (owner, key)."""
    report = ImportReport("achievements", name or str(source))
    orgs = {o.uscc: o for o in db.session.scalars(select(Organisation))}
    existing = {(a.owner_id, a.external_key): a for a in db.session.scalars(
        select(Achievement).where(Achievement.external_key.is_not(None)))}
    new: list[tuple[int, dict[str, Any]]] = []
    seen: dict[tuple[int, str], int] = {}
    with open_csv(source) as stream:
        for line, row in read_rows(stream, COLUMNS, report):
            values: dict[str, Any] = {}
            bad = False

            def fail(column: str, reason: str) -> None:
                nonlocal bad
                bad = True
                report.add(line, column, reason)  # noqa: B023

            key = row["key"].strip()
            if not key or len(key) > 80:
                fail("key", "1 to 80 characters")
            try:
                owner = orgs.get(check_uscc(row["owner_uscc"]))
                if owner is None:
                    fail("owner_uscc", "not a registered organisation")
            except ValueError as exc:
                owner = None
                fail("owner_uscc", str(exc))
            for column, limit in (("title", 200), ("summary", 4000)):
                value = row[column].strip()
                if not value or len(value) > limit or unsafe_characters(value):
                    fail(column, f"1 to {limit} visible characters")
                values[column] = value
            keywords = [k.strip() for k in row["keywords"].split(";") if k.strip()]
            if len(keywords) > 10:
                fail("keywords", "at most 10")
            values["keywords"] = keywords
            if row["field"].strip() not in FIELDS:
                fail("field", f"{row['field']!r} is not a technology field")
            values["field"] = row["field"].strip()
            try:
                values["trl"] = int(row["trl"])
                if not 1 <= values["trl"] <= 9:
                    raise ValueError
            except ValueError:
                fail("trl", "a readiness level from 1 to 9")
            modes = [m.strip() for m in row["transfer_modes"].split(";") if m.strip()]
            if not modes or any(m not in TRANSFER_MODES for m in modes):
                fail("transfer_modes", f"one or more of {', '.join(TRANSFER_MODES)}")
            values["transfer_modes"] = modes
            try:
                values["price"] = parse_amount(row["price"]) if row["price"].strip() else None
            except ValueError as exc:
                fail("price", str(exc))
            status = row["status"].strip()
            if status not in ("draft", "notice", "listed"):
                fail("status", "draft, notice or listed")
            if bad or owner is None:
                continue
            if (owner.id, key) in seen:
                fail("key", f"appears again (line {seen[(owner.id, key)]})")
                continue
            seen[(owner.id, key)] = line
            values.update(external_key=key, status=status)
            old = existing.get((owner.id, key))
            if old is None:
                new.append((owner.id, values))
            elif all(getattr(old, k) == v for k, v in values.items() if k != "status"):
                report.unchanged += 1
            else:
                fail("key", f"{key} is in the catalogue already with other values; change it "
                            "through the API")
    if not report.ok:
        raise ImportRejected(report)
    now = db.utcnow()
    batch: list[tuple[Achievement, dict[str, int]]] = []
    for owner_id, values in new:
        counts = text.document_terms(values["title"], values["summary"], values["keywords"])
        a = Achievement(owner_id=owner_id, created_by=actor.label,
                        term_count=sum(counts.values()), **values)
        a.owners = [AchievementOwner(organization_id=owner_id, share=Decimal("100"))]
        if values["status"] == "notice":
            a.notice_ends_at = now + timedelta(days=_notice_days())
        db.session.add(a)
        batch.append((a, counts))
        if len(batch) >= IMPORT_BATCH:
            _insert_with_terms(batch)
    _insert_with_terms(batch)
    report.inserted = len(new)
    if new:
        record(actor, "achievement.import", "import", Path(str(report.source)).name[:64],
               after={"inserted": report.inserted, "unchanged": report.unchanged})
    return report
