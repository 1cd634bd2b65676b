from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from marketplace import db
from marketplace.achievements import services
from marketplace.achievements.models import Achievement
from marketplace.achievements.schemas import (
    AchievementIn,
    AchievementOut,
    AchievementPatch,
    AchievementQuery,
    DemandMatchOut,
    ObjectionIn,
    ObjectionOut,
    ReasonIn,
    RulingIn,
)
from marketplace.api import SelectPage
from marketplace.auth.guards import bureau, org_user
from marketplace.auth.services import current_identity
from marketplace.cache import public_cache

blp = Blueprint("achievements", __name__, url_prefix="/api/v1/achievements",
                description="Technology achievements: registration, public notice, listing")


class ScoredList:
    """A ranked search result paginated like a select (flask-smorest slices it)."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items


class Ranking:
    """A search's matches as (id, score), best first; slicing it loads only that slice's
    achievements, so a page of ten does not load the hundred matches."""

    def __init__(self, ranking: list[tuple[int, float]]) -> None:
        self.ranking = ranking

    def __len__(self) -> int:
        return len(self.ranking)

    def __getitem__(self, page: slice) -> list[dict[str, Any]]:
        return [_out(s.achievement, round(s.score, 4))
                for s in services.load_scored(self.ranking[page])]


class RankedPage(SelectPage):
    @property
    def items(self) -> list[Any]:
        if isinstance(self.collection, Ranking):
            first = self.page_params.first_item
            return self.collection[first:first + self.page_params.page_size]
        return super().items

    @property
    def item_count(self) -> int:
        if isinstance(self.collection, Ranking):
            return len(self.collection)
        return super().item_count


def _out(a: Achievement, score: float | None = None) -> dict[str, Any]:
    return {**{c: getattr(a, c) for c in (
        "id", "external_key", "title", "summary", "keywords", "field", "trl",
        "transfer_modes", "price", "contact", "status", "notice_ends_at", "owner_id",
        "owners", "ip_rights", "created_at")}, "score": score}


# What the public reads may be up to this old (a withdrawal shows within it); signed-in users
# read through.
PUBLIC_SECONDS = 10


@blp.route("")
class Achievements(MethodView):
    @public_cache(PUBLIC_SECONDS)
    @blp.arguments(AchievementQuery(), location="query")
    @blp.response(200, AchievementOut(many=True))
    @blp.paginate(RankedPage)
    def get(self, query: dict[str, Any]) -> Any:
        """List and search achievements (the public sees those in notice, listed or traded)"""
        actor = current_identity()
        if "q" in query:
            return Ranking(services.ranked(actor, query["q"], query))
        return services.filtered(actor, query).order_by(Achievement.id.desc())

    @org_user
    @blp.arguments(AchievementIn())
    @blp.response(201, AchievementOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Register an achievement as a draft (a member of one of its owners)"""
        return _out(services.create(current_identity(), data))


@blp.route("/notices")
class Notices(MethodView):
    @blp.response(200, AchievementOut(many=True))
    @blp.paginate(SelectPage)
    def get(self) -> Any:
        """Public notices in progress (公示), ending soonest first"""
        return select(Achievement).where(Achievement.status == "notice").order_by(
            Achievement.notice_ends_at, Achievement.id)


@blp.route("/<int:achievement_id>")
class AchievementItem(MethodView):
    @public_cache(PUBLIC_SECONDS)
    @blp.response(200, AchievementOut)
    def get(self, achievement_id: int) -> Any:
        """One achievement (drafts: owners and the bureau only)"""
        return _out(services.get_for(current_identity(), achievement_id))

    @org_user
    @blp.arguments(AchievementPatch())
    @blp.response(200, AchievementOut)
    def patch(self, data: dict[str, Any], achievement_id: int) -> Any:
        """Change a draft (owners)"""
        return _out(services.update_draft(current_identity(), achievement_id, data))


@blp.route("/<int:achievement_id>/submit")
class Submit(MethodView):
    @org_user
    @blp.response(200, AchievementOut)
    @blp.alt_response(409, description="not a draft")
    def post(self, achievement_id: int) -> Any:
        """Submit a draft for public notice (owners)"""
        return _out(services.submit(current_identity(), achievement_id))


@blp.route("/<int:achievement_id>/withdraw")
class Withdraw(MethodView):
    @org_user
    @blp.arguments(ReasonIn())
    @blp.response(200, AchievementOut)
    def post(self, data: dict[str, Any], achievement_id: int) -> Any:
        """Withdraw an achievement (owners)"""
        return _out(services.withdraw(current_identity(), achievement_id, data["reason"]))


@blp.route("/<int:achievement_id>/objections")
class Objections(MethodView):
    @org_user
    @blp.arguments(ObjectionIn())
    @blp.response(201, ObjectionOut)
    @blp.alt_response(409, description="the notice is not running")
    def post(self, data: dict[str, Any], achievement_id: int) -> Any:
        """Object (异议) during the public notice (any organisation but the owners)"""
        return services.object_to(current_identity(), achievement_id, data["grounds"])


@blp.route("/<int:achievement_id>/rule")
class Rule(MethodView):
    @bureau
    @blp.arguments(RulingIn())
    @blp.response(200, AchievementOut)
    def post(self, data: dict[str, Any], achievement_id: int) -> Any:
        """Rule on the objections: upheld (rejected) or dismissed (notice resumes)"""
        return _out(services.rule(current_identity(), achievement_id, data["decision"],
                                  data["note"]))


@blp.route("/<int:achievement_id>/matches")
class AchievementMatches(MethodView):
    @blp.response(200, DemandMatchOut(many=True))
    def get(self, achievement_id: int) -> Any:
        """Open demands ranked for this achievement, each with the parts of its score"""
        from marketplace.demands.models import Demand

        actor = current_identity()
        actor.require_signed_in()
        a = services.get_for(actor, achievement_id)
        demands = db.session.scalars(select(Demand).where(Demand.status == "open"))
        return services.matches_for_achievement(a, demands)
