"""Rate limits per client, counted in Redis so that they hold across every worker and host.

A client is its bearer token, else its address (as ProxyFix gives it behind trusted proxies).
Each has one budget for the whole API: RATE_LIMIT_PER_MINUTE, and a per-second share
(RATE_LIMIT_PER_SECOND, by default twice the even rate) so that the minute is not spent in one
burst. The counting is `limits`' fixed window, in Redis; this module only applies it to each
request. Without Redis the service answers unlimited rather than not at all, and says so in
its log.
"""

from __future__ import annotations

import hashlib
import logging
import time

from flask import Flask, request
from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

log = logging.getLogger("marketplace.ratelimit")

# Never limited: probes, metrics scrapes and the API docs' static assets.
EXEMPT = frozenset({"health.healthz", "health.readyz", "metrics", "docs_assets.asset"})
_WARN_EVERY = 60.0  # seconds between two "Redis is unreachable" warnings of one worker


class RateLimiter:
    def __init__(self, redis_url: str, per_minute: int, per_second: int, prefix: str) -> None:
        self.items: tuple[RateLimitItem, ...] = (
            RateLimitItemPerMinute(per_minute), RateLimitItemPerSecond(per_second))
        # A Redis that hangs must not hang the API: give up on it within half a second.
        self.window = FixedWindowRateLimiter(storage_from_string(
            redis_url, wrap_exceptions=True, socket_timeout=0.5, socket_connect_timeout=0.5))
        self.prefix = prefix
        self._warned_at = float("-inf")

    def check(self) -> None:
        """Count this request against its client's budgets; 429 once one is spent."""
        if request.endpoint in EXEMPT:
            return
        client = client_key()
        for item in self.items:
            try:
                allowed = self.window.hit(item, self.prefix, client)
            except StorageError as exc:
                self._warn(exc)
                return
            if not allowed:
                raise TooManyRequests(f"{item.amount} requests per {item.GRANULARITY.name}",
                                      retry_after=item.get_expiry())

    def _warn(self, exc: StorageError) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            log.warning("rate limits not applied: Redis is unreachable (%s)", exc.storage_error)


def client_key() -> str:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer " and header[7:].strip():
        return "token:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    return "addr:" + (request.remote_addr or "unknown")


def init_app(app: Flask) -> None:
    per_minute = int(app.config.get("RATE_LIMIT_PER_MINUTE") or 0)
    if per_minute <= 0:
        return
    per_second = int(app.config.get("RATE_LIMIT_PER_SECOND") or max(1, -(-per_minute * 2 // 60)))
    limiter = RateLimiter(app.config["REDIS_URL"], per_minute, per_second,
                          app.config["RATE_LIMIT_KEY_PREFIX"])
    app.extensions["rate_limiter"] = limiter
    app.before_request(limiter.check)
