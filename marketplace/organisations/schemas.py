from __future__ import annotations

from marshmallow import Schema, fields, validate

from marketplace.api import Code, SafeText
from marketplace.reference import ORG_KINDS, check_uscc


class OrganisationIn(Schema):
    uscc = Code(checker=check_uscc, required=True,
                metadata={"description": "unified social credit code (GB 32100)",
                          "example": "91350100M000100Y43"})
    name = SafeText(required=True, max_length=200)
    kind = fields.String(required=True, validate=validate.OneOf(ORG_KINDS))
    region_code = fields.String(required=True, validate=validate.Regexp(r"^\d{6}$"),
                                metadata={"description": "six-digit GB/T 2260 division code"})


class OrganisationOut(Schema):
    id = fields.Integer()
    uscc = fields.String()
    name = fields.String()
    kind = fields.String()
    region_code = fields.String()
    region_name = fields.String(allow_none=True)
    region_kind = fields.String(metadata={"description": "district, county_city or external"})
    created_at = fields.DateTime()


class OrganisationQuery(Schema):
    kind = fields.String(validate=validate.OneOf(ORG_KINDS))
    region_code = fields.String(validate=validate.Regexp(r"^\d{6}$"))
    name = fields.String(validate=validate.Length(min=1, max=100),
                         metadata={"description": "part of the name"})
