from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from marketplace import db
from marketplace.api import SelectPage
from marketplace.auth.guards import bureau, bureau_admin, signed_in
from marketplace.auth.services import current_identity
from marketplace.support import services
from marketplace.support.models import SupportPolicy, SupportRun
from marketplace.support.schemas import (
    AwardDetailOut,
    AwardOut,
    AwardQuery,
    PayIn,
    PolicyIn,
    PolicyOut,
    RunIn,
    RunOut,
    RunRow,
    TreasuryQuery,
)

blp = Blueprint("support", __name__, url_prefix="/api/v1/support",
                description="Support for sellers, buyers and intermediaries")


def _policy(row: SupportPolicy) -> dict[str, Any]:
    return {"code": row.code, "year": row.year, "document": row.document,
            "created_at": row.created_at, "first_run_at": row.first_run_at,
            "immutable": row.first_run_at is not None}


class AwardPage(SelectPage):
    @property
    def items(self) -> list[Any]:
        return services.describe_many(super().items)


@blp.route("/policies")
class Policies(MethodView):
    @blp.response(200, PolicyOut(many=True))
    def get(self) -> Any:
        """Support policies (public: they are published policy)"""
        return [_policy(p) for p in db.session.scalars(
            select(SupportPolicy).order_by(SupportPolicy.year, SupportPolicy.code))]

    @bureau_admin
    @blp.arguments(PolicyIn())
    @blp.response(201, PolicyOut)
    @blp.alt_response(409, description="the policy was used by a run and is immutable")
    def post(self, data: dict[str, Any]) -> Any:
        """Load a policy document (bureau administrators)"""
        return _policy(services.load_policy(current_identity(), data))


@blp.route("/policies/<code>")
class PolicyItem(MethodView):
    @blp.response(200, PolicyOut)
    def get(self, code: str) -> Any:
        """One policy"""
        return _policy(services.get_policy(code))


@blp.route("/policies/<code>/treasury")
class Treasury(MethodView):
    @bureau
    @blp.arguments(TreasuryQuery(), location="query")
    @blp.response(200, description="CSV or XLSX, one row per region")
    def get(self, query: dict[str, Any], code: str) -> Any:
        """What the city and each district or county-level city pay under a policy"""
        if query["format"] == "xlsx":
            return Response(services.treasury_xlsx(code), mimetype=(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                headers={"Content-Disposition": f'attachment; filename="{code}-treasury.xlsx"'})
        return Response(services.treasury_csv(code), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{code}-treasury.csv"'})


@blp.route("/runs")
class Runs(MethodView):
    @bureau
    @blp.response(200, RunRow(many=True))
    @blp.paginate(SelectPage)
    def get(self) -> Any:
        """Support runs, newest first (bureau)"""
        return select(SupportRun).order_by(SupportRun.id.desc())

    @bureau_admin
    @blp.arguments(RunIn())
    @blp.response(201, RunOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Run a policy over the data as it stands (bureau administrators)"""
        result = services.run_policy(current_identity(), data["policy"])
        return {**vars(result), "summary": result.summary()}


@blp.route("/awards")
class Awards(MethodView):
    @signed_in
    @blp.arguments(AwardQuery(), location="query")
    @blp.response(200, AwardOut(many=True))
    @blp.paginate(AwardPage)
    def get(self, filters: dict[str, Any]) -> Any:
        """Awards in support order; organisations see their own"""
        return services.awards_query(current_identity(), filters)


@blp.route("/awards/<int:award_id>")
class AwardItem(MethodView):
    @signed_in
    @blp.response(200, AwardDetailOut)
    def get(self, award_id: int) -> Any:
        """One award with its explanation and ledger entries"""
        return services.explain(current_identity(), award_id)


@blp.route("/awards/<int:award_id>/approve")
class Approve(MethodView):
    @bureau
    @blp.response(200, AwardDetailOut)
    @blp.alt_response(409, description="not in the computed state")
    def post(self, award_id: int) -> Any:
        """Approve an award (bureau)"""
        return services.approve(current_identity(), award_id)


@blp.route("/awards/<int:award_id>/pay")
class Pay(MethodView):
    @bureau_admin
    @blp.arguments(PayIn())
    @blp.response(200, AwardDetailOut)
    @blp.alt_response(409, description="not approved")
    def post(self, data: dict[str, Any], award_id: int) -> Any:
        """Record the treasury's payment of an approved award (bureau administrators)"""
        return services.pay(current_identity(), award_id, data["reference"])
