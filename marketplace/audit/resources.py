from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from marketplace.api import SelectPage
from marketplace.audit.models import AuditEntry
from marketplace.audit.services import seal
from marketplace.auth.services import current_identity

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit",
                description="The audit trail (bureau only)")


class AuditQuery(Schema):
    action = fields.String(validate=validate.Length(max=60))
    entity_type = fields.String(validate=validate.Length(max=40))
    entity_id = fields.String(validate=validate.Length(max=64))


class AuditOut(Schema):
    id = fields.Integer()
    occurred_at = fields.DateTime()
    actor = fields.String()
    action = fields.String()
    entity_type = fields.String()
    entity_id = fields.String()
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    reason = fields.String(allow_none=True)
    hash = fields.String()


@blp.route("")
class Audit(MethodView):
    @blp.arguments(AuditQuery(), location="query")
    @blp.response(200, AuditOut(many=True))
    @blp.paginate(SelectPage)
    def get(self, filters: dict[str, Any]) -> Any:
        """Read the audit trail, newest first"""
        current_identity().require("bureau_admin", "bureau_reviewer")
        seal()
        stmt = select(AuditEntry).order_by(AuditEntry.id.desc())
        for key in ("action", "entity_type", "entity_id"):
            if key in filters:
                stmt = stmt.where(getattr(AuditEntry, key) == filters[key])
        return stmt
