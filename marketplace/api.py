"""API conventions shared by every blueprint: money, safe text, periods, pagination."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import request
from flask_smorest import Page
from marshmallow import ValidationError, fields, validate
from sqlalchemy import func, select

from marketplace import db
from marketplace.errors import ValidationProblem
from marketplace.reference import normalise_code, unsafe_characters

TWO_PLACES = Decimal("0.01")


class Money(fields.Field):
    """Yuan as a string with two decimals out; a string or number with at most two decimals in.

    Input is never rounded: "12.345" is refused rather than silently changed.
    """

    def __init__(self, *, positive: bool = True, allow_zero: bool = False, **kw: Any) -> None:
        self.positive = positive
        self.allow_zero = allow_zero
        kw.setdefault("metadata", {})
        kw["metadata"].setdefault("example", "12500.00")
        super().__init__(**kw)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kw: Any) -> str | None:
        if value is None:
            return None
        return str(Decimal(value).quantize(TWO_PLACES))

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kw: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            raise ValidationError("an amount in yuan, as a string like \"12500.00\"")
        if isinstance(value, float):
            value = repr(value)
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValidationError("not a number") from exc
        if not amount.is_finite():
            raise ValidationError("not a finite amount")
        if amount.as_tuple().exponent < -2:  # type: ignore[operator]
            raise ValidationError("at most two decimals (fen)")
        if amount.copy_abs() >= Decimal("1e16"):
            raise ValidationError("too large")
        if self.positive and (amount < 0 or (amount == 0 and not self.allow_zero)):
            raise ValidationError("must be greater than 0" if not self.allow_zero
                                  else "must not be negative")
        return amount.quantize(TWO_PLACES)


money_component = {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "example": "12500.00"}


class SafeText(fields.String):
    """A string without invisible control characters (zero-width, bidi overrides)."""

    def __init__(self, *, max_length: int = 200, min_length: int = 1, **kw: Any) -> None:
        validators = list(kw.pop("validate", []) or [])
        validators.append(validate.Length(min=min_length, max=max_length))
        super().__init__(validate=validators, **kw)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kw: Any) -> str:
        text = super()._deserialize(value, attr, data, **kw).strip()
        bad = unsafe_characters(text)
        if bad:
            raise ValidationError(f"invisible control characters are not allowed: {', '.join(bad)}")
        return text


class Code(fields.String):
    """An identifier normalised first (NFKC, spaces stripped, upper case), then checked."""

    def __init__(self, checker: Any = None, **kw: Any) -> None:
        self.checker = checker
        super().__init__(**kw)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kw: Any) -> str:
        text = normalise_code(super()._deserialize(value, attr, data, **kw))
        if self.checker is not None:
            try:
                return str(self.checker(text))
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc
        return text


PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class Period(fields.String):
    """A calendar month, YYYY-MM."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kw: Any) -> str:
        text = super()._deserialize(value, attr, data, **kw)
        if not PERIOD_RE.match(text):
            raise ValidationError("a month as YYYY-MM")
        return text


MAX_OFFSET = 2**53


class SelectPage(Page):  # type: ignore[misc]
    """flask-smorest pagination over a SQLAlchemy select(): a COUNT and one LIMIT/OFFSET query."""

    @property
    def items(self) -> list[Any]:
        if self.page_params.first_item >= MAX_OFFSET:  # past any real list; and past BIGINT
            return []
        stmt = self.collection.offset(self.page_params.first_item).limit(
            self.page_params.page_size
        )
        return list(db.session.scalars(stmt))

    @property
    def item_count(self) -> int:
        count = select(func.count()).select_from(self.collection.order_by(None).subquery())
        return int(db.session.scalar(count) or 0)


NUL_REFUSED = "the character U+0000 is not allowed"


def refuse_nul_characters() -> None:
    """422 for a request with U+0000 in its path, its query or its JSON body, naming where.

    No text the market keeps or searches may hold it, and PostgreSQL refuses it in text
    outright: refused here, once for every endpoint, it never reaches a query as a 500. The
    body is looked into only when its raw bytes hold the JSON escape of the character."""
    environ = request.environ  # read directly: this runs before every request
    problems: dict[str, list[str]] = {}
    if "\x00" in environ.get("PATH_INFO", ""):
        problems["path"] = [NUL_REFUSED]
    if "%00" in environ.get("QUERY_STRING", ""):
        for name, value in request.args.items(multi=True):
            if "\x00" in name or "\x00" in value:
                problems[_printable(name)] = [NUL_REFUSED]
    if ("json" in environ.get("CONTENT_TYPE", "") and request.is_json
            and b"\\u0000" in request.get_data()):
        _find_nul(request.get_json(silent=True), "", problems)
    if problems:
        raise ValidationProblem("the request holds the character U+0000", errors=problems)


def _find_nul(value: Any, where: str, problems: dict[str, list[str]]) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            problems[where or "body"] = [NUL_REFUSED]
    elif isinstance(value, dict):
        for key, item in value.items():
            field = f"{where}.{_printable(key)}" if where else _printable(key)
            if "\x00" in key:
                problems[field] = [NUL_REFUSED]
            _find_nul(item, field, problems)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _find_nul(item, f"{where}.{i}" if where else str(i), problems)


def _printable(name: str) -> str:
    return name.replace("\x00", "\\u0000")
