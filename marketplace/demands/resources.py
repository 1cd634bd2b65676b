from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from marketplace.achievements.schemas import AchievementMatchOut
from marketplace.achievements.services import matches_for_demand
from marketplace.api import Money, SafeText, SelectPage
from marketplace.auth.guards import org_user, signed_in
from marketplace.auth.services import current_identity
from marketplace.demands import services
from marketplace.reference import FIELDS

blp = Blueprint("demands", __name__, url_prefix="/api/v1/demands",
                description="Enterprises' technology demands and their matches")


class DemandIn(Schema):
    title = SafeText(required=True, max_length=200)
    description = SafeText(required=True, max_length=4000)
    field = fields.String(required=True, validate=validate.OneOf(FIELDS))
    budget_min = Money(required=True, allow_zero=True)
    budget_max = Money(required=True, allow_zero=True)
    min_trl = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=9))
    deadline = fields.Date(load_default=None, allow_none=True)


class DemandQuery(Schema):
    field = fields.String(validate=validate.OneOf(FIELDS))
    external_key = fields.String(validate=validate.Length(min=1, max=80))
    status = fields.String(validate=validate.OneOf(["open", "closed"]))


class DemandOut(Schema):
    id = fields.Integer()
    organization_id = fields.Integer()
    external_key = fields.String(allow_none=True)
    title = fields.String()
    description = fields.String()
    field = fields.String()
    budget_min = Money(allow_zero=True)
    budget_max = Money(allow_zero=True)
    min_trl = fields.Integer()
    deadline = fields.Date(allow_none=True)
    status = fields.String()
    created_at = fields.DateTime()


@blp.route("")
class Demands(MethodView):
    @signed_in
    @blp.arguments(DemandQuery(), location="query")
    @blp.response(200, DemandOut(many=True))
    @blp.paginate(SelectPage)
    def get(self, filters: dict[str, Any]) -> Any:
        """Demands (signed-in users: budgets are not for the public)"""
        return services.query(current_identity(), filters)

    @org_user
    @blp.arguments(DemandIn())
    @blp.response(201, DemandOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Post a demand (members of an enterprise)"""
        return services.create(current_identity(), data)


@blp.route("/<int:demand_id>")
class DemandItem(MethodView):
    @signed_in
    @blp.response(200, DemandOut)
    def get(self, demand_id: int) -> Any:
        """One demand"""
        return services.get(current_identity(), demand_id)


@blp.route("/<int:demand_id>/matches")
class DemandMatches(MethodView):
    @signed_in
    @blp.response(200, AchievementMatchOut(many=True))
    def get(self, demand_id: int) -> Any:
        """Listed achievements ranked for the demand, each with the parts of its score"""
        return matches_for_demand(services.get(current_identity(), demand_id))
