from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from marketplace.api import Code, Money, SafeText
from marketplace.contracts import services
from marketplace.contracts.lifecycle import REJECTION_REASONS
from marketplace.contracts.models import CONTRACT_STATUSES
from marketplace.imports import parse_instant
from marketplace.reference import CONTRACT_TYPES, FIELDS, check_uscc

SUBTYPES = tuple(dict.fromkeys(s for subs in CONTRACT_TYPES.values() for s in subs))


class Instant(fields.String):
    """A date or a date-time (ISO 8601); a date, or a time without an offset, is Asia/Shanghai."""

    def __init__(self, **kw: Any) -> None:
        kw.setdefault("metadata", {})
        kw["metadata"].setdefault("example", "2025-03-31T10:00:00+08:00")
        super().__init__(**kw)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kw: Any) -> str | None:
        return None if value is None else value.isoformat()

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kw: Any) -> datetime:
        text = super()._deserialize(value, attr, data, **kw)
        try:
            return parse_instant(text)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


def _uscc(**kw: Any) -> Code:
    return Code(checker=check_uscc, metadata={"description": "the party's unified social credit "
                                              "code (GB 32100)"}, **kw)


class ContractIn(Schema):
    """A contract's terms. Every problem is named at once, with the parties looked up."""

    type = fields.String(required=True, validate=validate.OneOf(CONTRACT_TYPES))
    subtype = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(SUBTYPES),
                            metadata={"description": "for transfer and license contracts"})
    title = SafeText(required=True, max_length=300)
    field = fields.String(required=True, validate=validate.OneOf(FIELDS))
    seller_uscc = _uscc(required=True)
    buyer_uscc = _uscc(required=True)
    intermediary_uscc = _uscc(load_default=None, allow_none=True)
    total_amount = Money(required=True)
    technical_amount = Money(required=True, metadata={"description": "0 < technical ≤ total"})
    signed_on = fields.Date(required=True)
    related_party = fields.Boolean(load_default=False)
    achievement_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                                    validate=validate.Range(min=1, max=2**31 - 1))

    @validates_schema(skip_on_field_errors=False)
    def _terms(self, data: dict[str, Any], **_kw: Any) -> None:
        errors, _parties = services.check_terms(data)
        if errors:
            raise ValidationError(errors)  # type: ignore[arg-type]


class AmendIn(Schema):
    """New terms (only those that change) and why; the parties stay."""

    type = fields.String(validate=validate.OneOf(CONTRACT_TYPES))
    subtype = fields.String(allow_none=True, validate=validate.OneOf(SUBTYPES))
    title = SafeText(max_length=300)
    field = fields.String(validate=validate.OneOf(FIELDS))
    intermediary_uscc = _uscc(allow_none=True)
    total_amount = Money()
    technical_amount = Money()
    signed_on = fields.Date()
    related_party = fields.Boolean()
    achievement_id = fields.Integer(allow_none=True, strict=True,
                                    validate=validate.Range(min=1, max=2**31 - 1))
    reason = SafeText(required=True, max_length=2000)


class RejectIn(Schema):
    reason = fields.String(required=True, validate=validate.OneOf(REJECTION_REASONS))
    note = SafeText(required=True, max_length=2000)


class CancelIn(Schema):
    reason = SafeText(required=True, max_length=2000)
    cancelled_at = Instant(load_default=None, metadata={
        "description": "when it was cancelled (注销); default now. A date is midnight in "
                       "Asia/Shanghai"})


class ContractQuery(Schema):
    status = fields.String(validate=validate.OneOf(CONTRACT_STATUSES))
    field = fields.String(validate=validate.OneOf(FIELDS))
    type = fields.String(validate=validate.OneOf(CONTRACT_TYPES))
    subtype = fields.String(validate=validate.OneOf(SUBTYPES))
    seller = _uscc()
    buyer = _uscc()
    intermediary = _uscc()
    registered_from = fields.Date(metadata={"description": "first day (Asia/Shanghai)"})
    registered_to = fields.Date(metadata={"description": "last day, included"})
    contract_no = Code(validate=validate.Length(min=1, max=32),
                       metadata={"description": "the registration number"})

    @validates_schema
    def _range(self, data: dict[str, Any], **_kw: Any) -> None:
        if "registered_from" in data and "registered_to" in data and (
            data["registered_from"] > data["registered_to"]
        ):
            raise ValidationError("must not be before registered_from", "registered_to")


class PartyOut(Schema):
    id = fields.Integer()
    uscc = fields.String()
    name = fields.String()


class ContractOut(Schema):
    id = fields.Integer()
    contract_no = fields.String(allow_none=True,
                                metadata={"description": "registration number (认定登记号)"})
    type = fields.String()
    subtype = fields.String(allow_none=True)
    title = fields.String()
    field = fields.String()
    seller = fields.Nested(PartyOut)
    buyer = fields.Nested(PartyOut)
    intermediary = fields.Nested(PartyOut, allow_none=True)
    total_amount = Money()
    technical_amount = Money()
    signed_on = fields.Date()
    related_party = fields.Boolean()
    achievement_id = fields.Integer(allow_none=True)
    status = fields.String()
    version = fields.Integer()
    source = fields.String(metadata={"description": "api or import"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    confirmed_at = fields.DateTime(allow_none=True)
    submitted_at = fields.DateTime(allow_none=True)
    registered_at = fields.DateTime(allow_none=True)
    rejected_at = fields.DateTime(allow_none=True)
    rejection_reason = fields.String(allow_none=True)
    rejection_note = fields.String(allow_none=True)
    cancelled_at = fields.DateTime(allow_none=True)
    cancellation_reason = fields.String(allow_none=True)


class TermsOut(Schema):
    type = fields.String()
    subtype = fields.String(allow_none=True)
    title = fields.String()
    field = fields.String()
    seller_uscc = fields.String()
    buyer_uscc = fields.String()
    intermediary_uscc = fields.String(allow_none=True)
    total_amount = fields.String(metadata={"example": "12500.00"})
    technical_amount = fields.String(metadata={"example": "12500.00"})
    signed_on = fields.String(metadata={"format": "date"})
    related_party = fields.Boolean()
    achievement_id = fields.Integer(allow_none=True)


class VersionOut(Schema):
    version = fields.Integer()
    terms = fields.Nested(TermsOut)
    changed_by = fields.String()
    changed_at = fields.DateTime()
    reason = fields.String(allow_none=True)


class PaymentIn(Schema):
    paid_on = fields.Date(required=True)
    amount = Money(required=True)


class PaymentOut(Schema):
    id = fields.Integer()
    contract_id = fields.Integer()
    paid_on = fields.Date()
    amount = Money()
    ordinal = fields.Integer(metadata={"description": "1 for the first payment of this amount "
                                       "on this day, 2 for the second, …"})
    recorded_by = fields.String()
    created_at = fields.DateTime()
