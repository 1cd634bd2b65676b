from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from marketplace.api import SelectPage
from marketplace.auth.guards import bureau_admin
from marketplace.auth.services import current_identity
from marketplace.organisations import services
from marketplace.organisations.schemas import OrganisationIn, OrganisationOut, OrganisationQuery

blp = Blueprint("organizations", __name__, url_prefix="/api/v1/organizations",
                description="Universities, institutes, enterprises and intermediaries")


@blp.route("")
class Organisations(MethodView):
    @blp.arguments(OrganisationQuery(), location="query")
    @blp.response(200, OrganisationOut(many=True))
    @blp.paginate(SelectPage)
    def get(self, filters: dict[str, Any]) -> Any:
        """List organisations (public), filtered by kind, region or part of the name"""
        return services.query(filters)

    @bureau_admin
    @blp.arguments(OrganisationIn())
    @blp.response(201, OrganisationOut)
    @blp.alt_response(409, description="the code is registered already")
    def post(self, data: dict[str, Any]) -> Any:
        """Register an organisation (bureau administrators)"""
        org = services.register(current_identity(), data)
        return services.describe(org)


@blp.route("/<int:org_id>")
class OrganisationItem(MethodView):
    @blp.response(200, OrganisationOut)
    def get(self, org_id: int) -> Any:
        """Read one organisation (public)"""
        return services.describe(services.get(org_id))
