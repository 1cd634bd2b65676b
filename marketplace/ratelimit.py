"""Rate limits per client, counted in Redis so that they hold across every worker and host.

A client is its bearer token, else its address (as ProxyFix gives it behind trusted proxies).
Each has one budget for the whole API: RATE_LIMIT_PER_MINUTE, and a per-second share
(RATE_LIMIT_PER_SECOND, by default twice the even rate) so that the minute is not spent in one
burst. Each budget is a fixed window that starts with the client's first request in it (as
`limits`' fixed window counts). Both windows are counted by one Lua script, in one round trip
to Redis per request: Flask-Limiter, and `limits` under it, ask once per window, and those two
round trips were a third of the CPU of a cached public read. Without Redis the service
answers unlimited rather than not at all, and says so in its log.
"""

from __future__ import annotations

import hashlib
import logging
import time

import redis
from flask import Flask, request
from werkzeug.exceptions import TooManyRequests

log = logging.getLogger("marketplace.ratelimit")

# Never limited: probes, metrics scrapes and the API docs' static assets.
EXEMPT = frozenset({"health.healthz", "health.readyz", "metrics", "docs_assets.asset"})
_WARN_EVERY = 60.0  # seconds between two "Redis is unreachable" warnings of one worker

# KEYS: one counter per window; ARGV: each window's length in seconds, in the same order.
# Returns the counts, this request included; a window's counter expires with the window.
_COUNT = """
local counts = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('EXPIRE', key, ARGV[i]) end
  counts[i] = count
end
return counts
"""


class RateLimiter:
    def __init__(self, redis_url: str, per_minute: int, per_second: int, prefix: str) -> None:
        # (requests allowed, window in seconds, its name), the longer window first.
        self.budgets = ((per_minute, 60, "minute"), (per_second, 1, "second"))
        self.windows = [seconds for _, seconds, _ in self.budgets]
        # A Redis that hangs must not hang the API: give up on it within half a second.
        client = redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.count = client.register_script(_COUNT)
        self.prefix = prefix
        self._warned_at = float("-inf")

    def check(self) -> None:
        """Count this request against its client's budgets; 429 once one is spent."""
        if request.endpoint in EXEMPT:
            return
        client = client_key()
        keys = [f"{self.prefix}:{client}:{seconds}s" for seconds in self.windows]
        try:
            counts = self.count(keys=keys, args=self.windows)
        except redis.RedisError as exc:
            self._warn(exc)
            return
        for (allowed, seconds, name), count in zip(self.budgets, counts, strict=True):
            if count > allowed:
                raise TooManyRequests(f"{allowed} requests per {name}", retry_after=seconds)

    def _warn(self, exc: redis.RedisError) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            log.warning("rate limits not applied: Redis is unreachable (%s)", exc)


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
