"""Request ids, structured JSON logs and Prometheus metrics (rate limits: `ratelimit`).

Metrics: request latency by endpoint, job durations and outcomes; under gunicorn set
PROMETHEUS_MULTIPROC_DIR so every worker's samples are collected at /metrics.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUEST_LATENCY = Histogram(
    "marketplace_request_duration_seconds", "HTTP request latency",
    ["method", "endpoint", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
JOB_DURATION = Histogram(
    "marketplace_job_duration_seconds", "Scheduled job duration", ["job", "outcome"],
    buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 300, 900),
)
JOB_RUNS = Counter("marketplace_job_runs_total", "Scheduled job runs", ["job", "outcome"])


def observe_job(job: str, outcome: str, seconds: float) -> None:
    JOB_DURATION.labels(job, outcome).observe(seconds)
    JOB_RUNS.labels(job, outcome).inc()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "method", "path", "status", "duration_ms", "job"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        rid = _request_id()
        if rid and "request_id" not in out:
            out["request_id"] = rid
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def _request_id() -> str | None:
    try:
        return g.get("request_id")
    except RuntimeError:
        return None


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the service, the scheduler and the CLI's background work."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("marketplace")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def init_app(app: Flask) -> None:
    access = logging.getLogger("marketplace.access")

    @app.before_request
    def _start() -> None:
        g.request_id = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        REQUEST_LATENCY.labels(request.method, endpoint, str(response.status_code)).observe(
            elapsed
        )
        access.info("request", extra={
            "request_id": g.get("request_id"), "method": request.method,
            "path": request.path, "status": response.status_code,
            "duration_ms": round(elapsed * 1000, 2),
        })
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            data = generate_latest(registry)
        else:
            data = generate_latest()
        return Response(data, mimetype=CONTENT_TYPE_LATEST)
