from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from marketplace.api import Code, Money
from marketplace.reference import REGIONS, ROLES, check_uscc


class PolicyIn(Schema):
    """The policy document of interfaces.md; the rules check every value (see support.md)."""

    class Meta:
        unknown = EXCLUDE  # unknown keys are reported by the policy check itself

    code = fields.Raw(required=True)
    year = fields.Raw(required=True)
    rates = fields.Raw(required=True)
    cap = fields.Raw(required=True)
    min_technical_amount = fields.Raw(required=True)
    eligible_types = fields.Raw(required=True)
    eligible_kinds = fields.Raw(required=True)
    budget = fields.Raw(load_default=None, allow_none=True)


class PolicyOut(Schema):
    code = fields.String()
    year = fields.Integer()
    document = fields.Dict()
    created_at = fields.DateTime()
    first_run_at = fields.DateTime(allow_none=True)
    immutable = fields.Boolean()


class RunIn(Schema):
    policy = fields.String(required=True, validate=validate.Length(min=1, max=40))


class RunOut(Schema):
    run_id = fields.Integer(allow_none=True)
    policy = fields.String()
    items = fields.Integer()
    topped_up = fields.Integer()
    awarded = Money(allow_zero=True)
    clawed_back = Money(allow_zero=True)
    unfunded = Money(allow_zero=True, metadata={
        "description": "what the budget leaves unfunded after the run, in all"})
    summary = fields.String()


class RunRow(Schema):
    id = fields.Integer()
    started_at = fields.DateTime()
    actor = fields.String()
    items = fields.Integer()
    entries = fields.Integer()
    awarded = Money(allow_zero=True)
    clawed_back = Money(allow_zero=True)


class AwardQuery(Schema):
    policy = fields.String(validate=validate.Length(min=1, max=40))
    uscc = Code(checker=check_uscc)
    role = fields.String(validate=validate.OneOf(ROLES))
    region_code = fields.String(validate=validate.OneOf(list(REGIONS)))
    status = fields.String(validate=validate.OneOf(["computed", "approved", "paid"]))
    unfunded = fields.Boolean(metadata={
        "description": "true: only items the budget left unfunded, wholly or in part; "
                       "false: only items it did not"})


class AwardOut(Schema):
    id = fields.Integer()
    policy = fields.String()
    contract_no = fields.String()
    role = fields.String()
    uscc = fields.String()
    organization_name = fields.String()
    region_code = fields.String()
    amount = Money(positive=False)
    city_share = Money(positive=False)
    local_share = Money(positive=False)
    paid = Money(positive=False)
    owed_back = Money(positive=False)
    unfunded = Money(positive=False, metadata={
        "description": "what the policy budget left unfunded of the item (step 6)"})
    unfunded_reason = fields.String(allow_none=True)
    status = fields.String()


class LedgerOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    amount = Money(positive=False)
    city_share = Money(positive=False)
    local_share = Money(positive=False)
    run_id = fields.Integer(allow_none=True)
    actor = fields.String()
    reason = fields.String()
    created_at = fields.DateTime()


class AwardDetailOut(AwardOut):
    explanation = fields.Dict()
    ledger = fields.List(fields.Nested(LedgerOut))


class PayIn(Schema):
    reference = fields.String(load_default=None, allow_none=True,
                              validate=validate.Length(max=120),
                              metadata={"description": "the treasury's payment reference"})


class TreasuryQuery(Schema):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))
