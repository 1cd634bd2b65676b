"""RFC 9457 problem details for every error the API gives.

Services raise these exceptions; one handler turns each into `application/problem+json`.
Validation problems carry one entry per bad field, so a client can show each next to its input.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

from marketplace import db

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    status = 400
    title = "Bad request"
    type = "about:blank"

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        title: str | None = None,
        errors: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.detail = detail
        self.errors = dict(errors) if errors else None
        self.extra = extra

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            out["detail"] = self.detail
        if self.errors:
            out["errors"] = flatten_errors(self.errors)
        out.update(self.extra)
        return out


class ValidationProblem(Problem):
    """Every problem of the input at once: {field: [messages]}."""

    status = 422
    title = "Invalid input"
    type = "/problems/validation"


class NotFound(Problem):
    status = 404
    title = "Not found"


class Forbidden(Problem):
    status = 403
    title = "Forbidden"


class Unauthorized(Problem):
    status = 401
    title = "Authentication required"


class Conflict(Problem):
    status = 409
    title = "Conflict"
    type = "/problems/conflict"


class InvalidTransition(Conflict):
    type = "/problems/invalid-transition"
    title = "Not allowed in the current state"


class Unavailable(Problem):
    status = 503
    title = "Service unavailable"


def flatten_errors(errors: Mapping[str, Any], prefix: str = "") -> list[dict[str, str]]:
    """Marshmallow's nested error dict as a flat list of {field, message} with dotted paths."""
    out: list[dict[str, str]] = []
    for key, value in errors.items():
        field = f"{prefix}.{key}" if prefix else str(key)
        if field in {"_schema", "json._schema"}:
            field = prefix or "body"
        if isinstance(value, Mapping):
            out.extend(flatten_errors(value, field))
        elif isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, Mapping):
                    out.extend(flatten_errors(item, field))
                else:
                    out.append({"field": field, "message": str(item)})
        else:
            out.append({"field": field, "message": str(value)})
    return out


def database_unavailable(exc: BaseException) -> Response | None:
    """503 with Retry-After when `exc` says the database is unreachable, else None."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, PendingRollbackError

    # A lost connection surfaces as any of these, depending on when it is noticed.
    if not (isinstance(exc, OperationalError | InterfaceError | PendingRollbackError) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated)):
        return None
    log.warning("database unavailable: %s", exc.__class__.__name__)
    response = problem_response(
        {"type": "about:blank", "title": "Service unavailable", "status": 503,
         "detail": "the database is not reachable; try again shortly"},
        503,
    )
    response.headers["Retry-After"] = "5"
    return response


def problem_response(body: dict[str, Any], status: int) -> Response:
    response = Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_JSON
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _rollback() -> None:
    try:
        db.rollback()
    except Exception:  # pragma: no cover - a broken connection; the pool replaces it
        log.exception("rollback failed")


def register(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(exc: Problem) -> Response:
        _rollback()
        return problem_response(exc.body(), exc.status)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        _rollback()
        status = exc.code or 500
        body: dict[str, Any] = {"type": "about:blank", "title": exc.name, "status": status}
        # webargs (through flask-smorest) puts the field messages here.
        messages = getattr(exc, "data", {}).get("messages") if hasattr(exc, "data") else None
        if messages:
            errors: dict[str, Any] = {}
            for location, fields in messages.items():
                if isinstance(fields, Mapping):
                    errors.update(fields)
                else:
                    errors[location] = fields
            body["type"] = ValidationProblem.type
            body["title"] = ValidationProblem.title
            body["errors"] = flatten_errors(errors)
        elif exc.description and status != 500:
            body["detail"] = exc.description
        response = problem_response(body, status)
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        retry_after = getattr(exc, "retry_after", None)  # a rate limit's refusal (ratelimit)
        if status == 429 and retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        _rollback()
        unavailable = database_unavailable(exc)
        if unavailable is not None:
            return unavailable
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(
            {"type": "about:blank", "title": "Internal server error", "status": 500}, 500
        )
