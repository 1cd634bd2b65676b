"""Request ids and structured logs; metrics are added here as the service grows."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from flask import Flask, Response, g, request


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "method", "path", "status", "duration_ms"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def init_app(app: Flask) -> None:
    access = logging.getLogger("marketplace.access")

    @app.before_request
    def _start() -> None:
        g.request_id = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        duration = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        access.debug("request", extra={
            "request_id": g.get("request_id"), "method": request.method,
            "path": request.path, "status": response.status_code,
            "duration_ms": round(duration, 2),
        })
        return response
