from __future__ import annotations

from decimal import Decimal

from marshmallow import Schema, ValidationError, fields, validate

from marketplace.achievements.services import IP_KINDS, TRANSFER_MODES
from marketplace.api import Code, Money, SafeText
from marketplace.reference import FIELDS, check_uscc

STATUSES = ("draft", "notice", "on_hold", "listed", "traded", "rejected", "withdrawn")


def _share(value: Decimal) -> None:
    if not Decimal("0") < value <= Decimal("100") or value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValidationError("a percentage above 0 and at most 100, with two decimals at most")


class OwnerIn(Schema):
    uscc = Code(checker=check_uscc, required=True)
    share = fields.Decimal(required=True, validate=_share,
                           metadata={"description": "percent, above 0 and at most 100; the "
                                                    "shares add up to exactly 100"})


class IpRightIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(IP_KINDS))
    number = fields.String(required=True, validate=validate.Length(min=1, max=64))


class AchievementIn(Schema):
    title = SafeText(required=True, max_length=200)
    summary = SafeText(required=True, max_length=4000)
    keywords = fields.List(SafeText(max_length=30), load_default=list,
                           validate=validate.Length(max=10))
    field = fields.String(required=True, validate=validate.OneOf(FIELDS))
    trl = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=9))
    owners = fields.List(fields.Nested(OwnerIn), required=True,
                         validate=validate.Length(min=1, max=20))
    ip_rights = fields.List(fields.Nested(IpRightIn), load_default=list,
                            validate=validate.Length(max=50))
    transfer_modes = fields.List(fields.String(validate=validate.OneOf(TRANSFER_MODES)),
                                 required=True, validate=validate.Length(min=1, max=3))
    price = Money(load_default=None, allow_none=True,
                  metadata={"description": "listed price in yuan; null: negotiable"})
    contact = SafeText(load_default=None, allow_none=True, max_length=200)


class AchievementPatch(Schema):
    """Only what is sent changes (no defaults: a missing field keeps its value)."""

    title = SafeText(max_length=200)
    summary = SafeText(max_length=4000)
    keywords = fields.List(SafeText(max_length=30), validate=validate.Length(max=10))
    field = fields.String(validate=validate.OneOf(FIELDS))
    trl = fields.Integer(strict=True, validate=validate.Range(min=1, max=9))
    owners = fields.List(fields.Nested(OwnerIn), validate=validate.Length(min=1, max=20))
    transfer_modes = fields.List(fields.String(validate=validate.OneOf(TRANSFER_MODES)),
                                 validate=validate.Length(min=1, max=3))
    price = Money(allow_none=True)
    contact = SafeText(allow_none=True, max_length=200)


class AchievementQuery(Schema):
    q = fields.String(validate=validate.Length(min=1, max=100),
                      metadata={"description": "search text (Chinese or English)"})
    field = fields.String(validate=validate.OneOf(FIELDS))
    min_trl = fields.Integer(validate=validate.Range(min=1, max=9))
    max_trl = fields.Integer(validate=validate.Range(min=1, max=9))
    transfer_mode = fields.String(validate=validate.OneOf(TRANSFER_MODES))
    max_price = Money()
    status = fields.String(validate=validate.OneOf(STATUSES))
    external_key = fields.String(validate=validate.Length(min=1, max=80))


class OwnerOut(Schema):
    organization_id = fields.Integer()
    share = fields.Decimal(as_string=True)


class IpRightOut(Schema):
    kind = fields.String()
    number = fields.String()


class AchievementOut(Schema):
    id = fields.Integer()
    external_key = fields.String(allow_none=True)
    title = fields.String()
    summary = fields.String()
    keywords = fields.List(fields.String())
    field = fields.String()
    trl = fields.Integer()
    transfer_modes = fields.List(fields.String())
    price = Money(allow_none=True)
    contact = fields.String(allow_none=True)
    status = fields.String()
    notice_ends_at = fields.DateTime(allow_none=True)
    owner_id = fields.Integer()
    owners = fields.List(fields.Nested(OwnerOut))
    ip_rights = fields.List(fields.Nested(IpRightOut))
    created_at = fields.DateTime()
    score = fields.Float(allow_none=True, metadata={"description": "search relevance"})


class ReasonIn(Schema):
    reason = SafeText(load_default=None, allow_none=True, max_length=1000)


class ObjectionIn(Schema):
    grounds = SafeText(required=True, max_length=4000)


class ObjectionOut(Schema):
    id = fields.Integer()
    achievement_id = fields.Integer()
    grounds = fields.String()
    status = fields.String()
    filed_at = fields.DateTime()


class RulingIn(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["upheld", "dismissed"]))
    note = SafeText(required=True, max_length=2000)


class MatchParts(Schema):
    text = fields.Float()
    field = fields.Float()
    readiness = fields.Float()
    price = fields.Float()
    total = fields.Float()


class AchievementMatchOut(Schema):
    achievement_id = fields.Integer()
    title = fields.String()
    field = fields.String()
    trl = fields.Integer()
    price = Money(allow_none=True)
    score = fields.Float()
    parts = fields.Nested(MatchParts)


class DemandMatchOut(Schema):
    demand_id = fields.Integer()
    title = fields.String()
    field = fields.String()
    score = fields.Float()
    parts = fields.Nested(MatchParts)
