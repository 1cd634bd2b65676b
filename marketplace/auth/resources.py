from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from marketplace.api import Code
from marketplace.auth import services
from marketplace.auth.guards import bureau_admin, signed_in
from marketplace.auth.services import current_identity
from marketplace.reference import USER_ROLES, check_uscc

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Accounts and tokens")
users_blp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="Accounts")


class TokenIn(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=80))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200),
                             load_only=True)


class TokenOut(Schema):
    token = fields.String()
    token_type = fields.String()
    expires_at = fields.DateTime()


class RevokeIn(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200))


class UserIn(Schema):
    username = fields.String(required=True, validate=validate.Length(min=3, max=80))
    password = fields.String(required=True, validate=validate.Length(min=10, max=200),
                             load_only=True)
    role = fields.String(required=True, validate=validate.OneOf(USER_ROLES))
    organization = Code(checker=check_uscc, load_default=None, allow_none=True,
                        metadata={"description": "the organisation's USCC, for org roles"})


class UserOut(Schema):
    id = fields.Integer()
    username = fields.String()
    role = fields.String()
    organization_id = fields.Integer(allow_none=True)


class MeOut(Schema):
    user_id = fields.Integer(allow_none=True)
    username = fields.String()
    role = fields.String(allow_none=True)
    organization_id = fields.Integer(allow_none=True)


@blp.route("/tokens")
class Tokens(MethodView):
    @blp.arguments(TokenIn())
    @blp.response(201, TokenOut)
    @blp.alt_response(401, description="wrong username or password")
    def post(self, data: dict[str, Any]) -> Any:
        """Exchange a username and password for a bearer token"""
        token, row = services.issue_token(data["username"], data["password"])
        return {"token": token, "token_type": "Bearer", "expires_at": row.expires_at}


@blp.route("/tokens/revoke")
class Revoke(MethodView):
    @signed_in
    @blp.arguments(RevokeIn())
    @blp.response(204)
    def post(self, data: dict[str, Any]) -> None:
        """Revoke one of your own tokens"""
        services.revoke_token(current_identity(), data["token"])


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, MeOut)
    def get(self) -> Any:
        """Who the token belongs to"""
        actor = current_identity()
        actor.require_signed_in()
        return actor


@users_blp.route("")
class Users(MethodView):
    @bureau_admin
    @users_blp.arguments(UserIn())
    @users_blp.response(201, UserOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Create an account (bureau administrators)"""
        actor = current_identity()
        return services.create_user(actor, username=data["username"], password=data["password"],
                                    role=data["role"], organization_uscc=data["organization"])
