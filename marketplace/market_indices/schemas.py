from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from marketplace.api import Period

FAMILIES = ("transfer", "regional", "industry")


class SeriesQuery(Schema):
    domain = fields.String(validate=validate.Length(min=1, max=32),
                           metadata={"description": "SZ, a region code or a field code"})
    from_ = Period(data_key="from", metadata={"description": "first month, YYYY-MM"})
    to = Period(metadata={"description": "last month, YYYY-MM"})
    format = fields.String(validate=validate.OneOf(["json", "csv"]), load_default="json")

    @validates_schema
    def _order(self, data: dict[str, str], **_kw: object) -> None:
        if data.get("from_") and data.get("to") and data["from_"] > data["to"]:
            raise ValidationError("from is after to", field_name="from")


class FormatQuery(Schema):
    format = fields.String(validate=validate.OneOf(["json", "csv"]), load_default="json")


class Components(Schema):
    x = fields.Dict(metadata={"description": "N, V, P, E, X, U of the month"})
    refs = fields.Dict(allow_none=True, metadata={"description": "reference averages"})
    weights = fields.Dict(allow_none=True)
    link = fields.String(allow_none=True, metadata={"description": "L, the annual link"})
    cap = fields.String(allow_none=True, metadata={"description": "C_y in yuan; null: none"})
    ref_year = fields.Integer(allow_none=True)
    raw = fields.Dict()
    value_exact = fields.String(allow_none=True)
    mom_pct_exact = fields.String(allow_none=True)
    yoy_pct_exact = fields.String(allow_none=True)


class FigureOut(Schema):
    family = fields.String()
    family_name = fields.String()
    domain = fields.String()
    domain_name = fields.String()
    period = fields.String()
    value = fields.String(allow_none=True, metadata={"description": "rounded half-up, 2 dp"})
    mom_pct = fields.String(allow_none=True, metadata={"description": "month on month, %"})
    yoy_pct = fields.String(allow_none=True, metadata={"description": "year on year, %"})
    reason = fields.String(allow_none=True, metadata={"description": "why there is no index"})
    components = fields.Nested(Components)
    methodology_version = fields.String()
    revision = fields.Integer()
    revision_reason = fields.String()
    published_at = fields.DateTime()


class FigureDetailOut(FigureOut):
    contributions = fields.Dict(allow_none=True)
    contributions_split = fields.Dict(allow_none=True)
    revisions = fields.List(fields.Nested(FigureOut))
