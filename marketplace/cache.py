"""A short-lived cache of public reads, in each worker and in HTTP caches.

The published indices change once a month, when the scheduler publishes; the public reads them
far more often. `public_cache(seconds)` keeps the bytes of an anonymous GET answer in the
worker for that long (a bounded map, oldest out first) and tells browsers and proxies they may
keep it as long (`Cache-Control: public, max-age`), with an ETag so that a client that asks
again with `If-None-Match` gets 304 and no body. A signed-in request is never served from it.

When an answer expires, one request of the worker computes it again while the others are
still given the expired one (stale while it revalidates, for as long as that takes): a busy
worker does not stall all its threads on the same recomputation every time an answer expires.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, make_response, request

MAX_ENTRIES = 2048
Entry = tuple[float, bytes, int, list[tuple[str, str]]]


class _Store:
    """One per app: (expiry, body, status, headers) by request path and Accept header."""

    def __init__(self) -> None:
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        self.refreshing: set[str] = set()  # expired keys that one request is computing again
        self.lock = threading.Lock()

    def get(self, key: str, now: float) -> Entry | None:
        """The entry to answer with, or None: then the caller computes it and `put`s it (or
        `abandon`s it). An expired entry is None for the first caller and stale for the rest
        until the first one is done."""
        with self.lock:
            hit = self.entries.get(key)
            if hit is None or hit[0] > now:
                return hit
            if key in self.refreshing:
                return hit
            self.refreshing.add(key)
            return None

    def put(self, key: str, entry: Entry) -> None:
        with self.lock:
            self.refreshing.discard(key)
            self.entries[key] = entry
            self.entries.move_to_end(key)
            while len(self.entries) > MAX_ENTRIES:
                self.entries.popitem(last=False)

    def abandon(self, key: str) -> None:
        """The caller that was computing `key` again has no answer worth keeping."""
        with self.lock:
            self.refreshing.discard(key)


def _store() -> _Store:
    store: _Store | None = current_app.extensions.get("public_cache")
    if store is None:
        store = current_app.extensions["public_cache"] = _Store()
    return store


def public_cache(seconds: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if request.method != "GET" or "Authorization" in request.headers:
                return view(*args, **kwargs)
            key = f"{request.full_path}|{request.headers.get('Accept', '')}"
            now = time.monotonic()
            store = _store()
            hit = store.get(key, now)
            if hit is not None:
                response = Response(hit[1], status=hit[2], headers=hit[3])
            else:
                try:
                    response = make_response(view(*args, **kwargs))
                except BaseException:
                    store.abandon(key)
                    raise
                if response.status_code != 200 or response.is_streamed:
                    store.abandon(key)
                    return response
                response.headers["Cache-Control"] = f"public, max-age={seconds}"
                response.add_etag()
                headers = [(k, v) for k, v in response.headers.items()
                           if k.lower() not in ("x-request-id", "content-length")]
                store.put(key, (now + seconds, response.get_data(), 200, headers))
            return response.make_conditional(request)

        return wrapper

    return decorator
