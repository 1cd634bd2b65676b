"""A short-lived cache of public reads, in each worker and in HTTP caches.

The published indices change once a month, when the scheduler publishes; the public reads them
far more often. `public_cache(seconds)` keeps the bytes of an anonymous GET answer in the
worker for that long (a bounded map, oldest out first) and tells browsers and proxies they may
keep it as long (`Cache-Control: public, max-age`), with an ETag so that a client that asks
again with `If-None-Match` gets 304 and no body. A signed-in request is never served from it.

One request of a worker computes an answer at a time: when an answer expires the worker's
other requests are given the expired one until it is done (stale while it revalidates), and
when it was never computed they wait for it. A busy worker does not stall all its threads
computing the same answer side by side, which on a cold start made them all several times
slower.
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
WAIT_SECONDS = 5.0  # for an answer another request of the worker is computing for the first time
Entry = tuple[float, bytes, int, list[tuple[str, str]]]


class _Store:
    """One per app: (expiry, body, status, headers) by request path and Accept header."""

    def __init__(self) -> None:
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        self.computing: dict[str, threading.Event] = {}  # keys one request is computing
        self.lock = threading.Lock()

    def get(self, key: str, now: float) -> Entry | None:
        """The entry to answer with, or None: then the caller computes the answer and `put`s
        it (or `abandon`s it). While one request computes an expired answer again, the others
        get the expired one; while one computes an answer never kept, the others wait for it
        (up to WAIT_SECONDS, then compute it too)."""
        with self.lock:
            hit = self.entries.get(key)
            if hit is not None and (hit[0] > now or key in self.computing):
                return hit
            pending = self.computing.get(key)
            if pending is None:
                self.computing[key] = threading.Event()
                return None
        pending.wait(WAIT_SECONDS)
        with self.lock:
            return self.entries.get(key)

    def put(self, key: str, entry: Entry) -> None:
        with self.lock:
            self.entries[key] = entry
            self.entries.move_to_end(key)
            while len(self.entries) > MAX_ENTRIES:
                self.entries.popitem(last=False)
            self._done(key)

    def abandon(self, key: str) -> None:
        """The caller computing `key` has no answer worth keeping (an error, a refusal)."""
        with self.lock:
            self._done(key)

    def _done(self, key: str) -> None:
        pending = self.computing.pop(key, None)
        if pending is not None:
            pending.set()


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
                try:  # whatever happens, the key is not left marked as being computed
                    response = make_response(view(*args, **kwargs))
                    if response.status_code != 200 or response.is_streamed:
                        store.abandon(key)
                        return response
                    response.headers["Cache-Control"] = f"public, max-age={seconds}"
                    response.add_etag()
                    headers = [(k, v) for k, v in response.headers.items()
                               if k.lower() not in ("x-request-id", "content-length")]
                    store.put(key, (now + seconds, response.get_data(), 200, headers))
                except BaseException:
                    store.abandon(key)
                    raise
            return response.make_conditional(request)

        return wrapper

    return decorator
