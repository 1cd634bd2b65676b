"""Liveness and readiness, for the load balancer and the operators."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from marketplace import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Any:
    from marketplace.migrate import current_revision, head_revision

    try:
        db.session.execute(text("SELECT 1"))
        current = current_revision(db.session.connection())
    except Exception as exc:
        current_app.logger.warning("not ready: %s", exc.__class__.__name__)
        db.session.rollback()
        return jsonify(status="unavailable", database="unreachable"), 503
    head = head_revision()
    if current != head:
        return jsonify(status="unavailable", database="ok", migrations="behind",
                       current=current, head=head), 503
    return jsonify(status="ok", database="ok", migrations=head)
