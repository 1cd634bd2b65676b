"""Rate limits per client, counted in Redis so that they hold across every worker and host.

A client is its bearer token, else its address (as ProxyFix gives it behind trusted proxies).
Each has one budget for the whole API: RATE_LIMIT_PER_MINUTE, and a per-second share
(RATE_LIMIT_PER_SECOND, by default twice the even rate) so that the minute is not spent in one
burst. Each budget is a fixed window that starts with the client's first request in it, and
the windows are counted as Flask-Limiter counted them: the second's first, and a request the
second refuses does not count against the minute, so a burst is refused without spending the
minute. Both are counted by one Lua script, in one round trip to Redis per request:
Flask-Limiter, and `limits` under it, ask once per window, and those two round trips were a
third of the CPU of a cached public read. Without Redis the service answers unlimited rather
than not at all, and says so in its log.

A refusal is final for the rest of its window: the count only grows until the window ends. So a
worker that Redis told "refused, for another N ms" refuses that client itself until then,
without asking Redis again. A client hammering a spent budget costs the workers no Redis round
trip, and the decisions are the same as Redis would make. Redis's clock and the worker's may
differ by a millisecond or so at the window's end.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from typing import NoReturn

import redis
from flask import Flask, request
from werkzeug.exceptions import TooManyRequests

log = logging.getLogger("marketplace.ratelimit")

# Never limited: probes, metrics scrapes and the API docs' static assets.
EXEMPT = frozenset({"health.healthz", "health.readyz", "metrics", "docs_assets.asset"})
_WARN_EVERY = 60.0  # seconds between two "Redis is unreachable" warnings of one worker

_REMEMBERED = 10_000  # refused clients a worker keeps in memory, at most

# KEYS: one counter per window, the shortest first; ARGV: each window's length in seconds,
# then each window's allowance, in the same order. Counts the request in each window until
# one refuses it and returns that window's position (1, 2, ...) and the milliseconds left in
# it, or 0 when none refuses. A window's counter expires with the window.
_COUNT = """
local n = #KEYS
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('EXPIRE', key, ARGV[i]) end
  if count > tonumber(ARGV[n + i]) then return {i, redis.call('PTTL', key)} end
end
return 0
"""


class RateLimiter:
    def __init__(self, redis_url: str, per_minute: int, per_second: int, prefix: str) -> None:
        # (requests allowed, window in seconds, its name), the shortest window first.
        self.budgets = ((per_second, 1, "second"), (per_minute, 60, "minute"))
        self.args = ([seconds for _, seconds, _ in self.budgets]
                     + [allowed for allowed, _, _ in self.budgets])
        # A Redis that hangs must not hang the API: give up on it within half a second.
        client = redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.count = client.register_script(_COUNT)
        self.prefix = prefix
        self._warned_at = float("-inf")
        # client -> (time.monotonic() at which its refusing window ends, that budget's index)
        self._refused: dict[str, tuple[float, int]] = {}

    def check(self) -> None:
        """Count this request against its client's budgets; 429 once one is spent."""
        if request.endpoint in EXEMPT:
            return
        client = client_key()
        now = time.monotonic()
        refused = self._refused.get(client)
        if refused is not None:
            if now < refused[0]:
                self._refuse(*refused, now)
            self._refused.pop(client, None)
        keys = [f"{self.prefix}:{client}:{seconds}s" for _, seconds, _ in self.budgets]
        try:
            answer = self.count(keys=keys, args=self.args)
        except redis.RedisError as exc:
            self._warn(exc)
            return
        if answer:
            index, left_ms = int(answer[0]) - 1, int(answer[1])
            if left_ms < 0:  # no expiry on the key: cannot happen, but never refuse forever
                left_ms = self.budgets[index][1] * 1000
            ends = now + left_ms / 1000
            self._remember(client, ends, index)
            self._refuse(ends, index, now)

    def _refuse(self, ends: float, index: int, now: float) -> NoReturn:
        allowed, _seconds, name = self.budgets[index]
        raise TooManyRequests(f"{allowed} requests per {name}",
                              retry_after=max(1, math.ceil(ends - now)))

    def _remember(self, client: str, ends: float, index: int) -> None:
        if len(self._refused) >= _REMEMBERED:  # many clients refused at once: forget the past
            now = time.monotonic()
            for key, (until, _) in list(self._refused.items()):
                if until <= now:
                    self._refused.pop(key, None)
            if len(self._refused) >= _REMEMBERED:
                self._refused.clear()  # Redis still has every count; only a round trip is lost
        self._refused[client] = (ends, index)

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
