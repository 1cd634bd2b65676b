"""The scheduled jobs on PostgreSQL: never twice, never half."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime

from sqlalchemy import func, select, text

from marketplace import db
from marketplace.auth.identity import system
from marketplace.contracts.importer import import_contracts
from marketplace.jobs.registry import JOBS, run_job
from marketplace.market_indices.models import IndexFigure, IndexPublication
from marketplace.organisations.services import import_csv as import_organisations
from tests.dbutil import EXAMPLE, run_together

NOW = "2022-01-15T00:00:00+00:00"


def _load_example() -> None:
    actor = system("test")
    import_organisations(actor, EXAMPLE / "organisations.csv", name="organisations.csv")
    import_contracts(actor, EXAMPLE / "contracts.csv", name="contracts.csv")
    db.session.commit()


def _counts() -> tuple[int, int, int]:
    db.session.rollback()
    figures = db.session.scalar(select(func.count()).select_from(IndexFigure))
    latest_revision = db.session.scalar(select(func.max(IndexFigure.revision)))
    publications = db.session.scalar(select(func.count()).select_from(IndexPublication))
    return figures, latest_revision or 0, publications


def test_two_schedulers_publish_each_figure_once(committing_app) -> None:
    _load_example()
    now = datetime.fromisoformat(NOW)
    results = run_together(committing_app, 2, lambda: run_job("publish_indices", now))
    assert all(isinstance(r, str) for r in results), results
    figures, revision, publications = _counts()
    assert (figures, revision, publications) == (792, 1, 1), results
    # Either the second waited and found nothing new, or it was skipped while the first ran.
    assert any("nothing published" in r or "another process" in r for r in results)


def test_a_publication_killed_half_way_leaves_nothing_and_the_next_completes(
        committing_app, database_url) -> None:
    _load_example()
    env = {**os.environ, "MARKETPLACE_DATABASE_URL": database_url}
    code = ("import time, marketplace.market_indices.services as s\n"
            "orig = s.IndexFigure.__table__.insert\n"
            "def slow_insert(*a, **k):\n"
            "    print('inserting', flush=True); time.sleep(30); return orig(*a, **k)\n"
            "s.IndexFigure.__table__.insert = slow_insert\n"
            "from marketplace.cli import cli\n"
            "cli.main(['indices', 'publish', '--through', '2021-12'], prog_name='marketplace')\n")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the publication row is written, the figures are next
        assert "inserting" in line
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    # Nothing partial is visible: no publication row, no figure.
    assert _counts() == (0, 0, 0)
    with db.engine_for(database_url).connect() as conn:  # and its locks were released
        held = conn.execute(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())")).scalar()
        assert held == 0
    message = run_job("publish_indices", datetime.fromisoformat(NOW))
    assert "792 figures published" in message
    assert _counts() == (792, 1, 1)


def test_job_registry_names_the_three_jobs() -> None:
    assert set(JOBS) == {"close_notices", "publish_indices", "support_run"}
    assert len({job.lock_key for job in JOBS.values()}) == 3


def test_jobs_run_command(app) -> None:
    from marketplace.cli import cli

    runner = app.test_cli_runner()
    unknown = runner.invoke(cli, ["jobs", "run", "nothing"])
    assert unknown.exit_code != 0 and "no job" in unknown.output
