"""The scheduled jobs: thin, locked and idempotent.

Each job runs in one transaction under a PostgreSQL advisory lock taken with `try`: a second
scheduler started by mistake skips a job the first is running, and the job's own natural keys
(a figure's (family, domain, period, revision), an award's ledger keys, a notice's state) make a
repeat a no-op. A job killed half way has committed nothing; the next run does the whole job.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from marketplace import db
from marketplace.auth.identity import system
from marketplace.observability import observe_job

log = logging.getLogger("marketplace.jobs")


@dataclass(frozen=True)
class Job:
    name: str
    lock_key: int
    trigger: dict[str, object]  # APScheduler cron fields, Asia/Shanghai
    run: Callable[[datetime], str]
    description: str


def _optional(module: str, function: str) -> Callable[..., object] | None:
    if importlib.util.find_spec(module.rsplit(".", 1)[0]) is None:
        return None
    if importlib.util.find_spec(module) is None:
        return None
    return getattr(importlib.import_module(module), function, None)


def close_notices(now: datetime) -> str:
    close = _optional("marketplace.achievements.services", "close_finished_notices")
    if close is None:
        return "no achievements module"
    return f"closed notices: {close(now)}"


def publish_indices(now: datetime) -> str:
    from marketplace.market_indices import services

    return services.publish(system("scheduler"), services.last_complete_month(now),
                            now=now).summary()


def run_support(now: datetime) -> str:
    run = _optional("marketplace.support.services", "run_active_policy")
    if run is None:
        return "no support module"
    return f"support run: {run(system('scheduler'), now)}"


JOBS: dict[str, Job] = {job.name: job for job in (
    Job("close_notices", 0x4D4B4A01, {"hour": 0, "minute": 10}, close_notices,
        "daily: finished public notices become listings (notice → listed)"),
    Job("publish_indices", 0x4D4B4A02, {"day": 1, "hour": 2, "minute": 0}, publish_indices,
        "monthly on the 1st: publish the indices through the month just ended"),
    Job("support_run", 0x4D4B4A03, {"day": 1, "hour": 4, "minute": 0}, run_support,
        "monthly: run the active support policy of the year"),
)}


def run_job(name: str, now: datetime | None = None) -> str:
    """Run one job once, in its own transaction; skipped when another process holds it."""
    job = JOBS[name]
    started = time.perf_counter()
    now = now or db.utcnow()
    outcome = "error"
    try:
        with db.unit_of_work() as session:
            if not db.try_advisory_xact_lock(job.lock_key, session):
                outcome = "skipped"
                message = f"{name}: another process is running it"
            else:
                message = f"{name}: {job.run(now)}"
                outcome = "ok"
        log.info(message, extra={"job": name})
        return message
    except Exception:
        log.exception("job failed", extra={"job": name})
        raise
    finally:
        observe_job(name, outcome, time.perf_counter() - started)
