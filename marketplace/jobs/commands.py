from __future__ import annotations

import contextlib

import click


def register(cli: click.Group) -> None:
    @cli.command("scheduler")
    def scheduler() -> None:
        """Run the scheduled jobs in this process (one per deployment; never in web workers)."""
        from apscheduler.schedulers.blocking import BlockingScheduler
        from apscheduler.triggers.cron import CronTrigger
        from flask import current_app

        from marketplace.jobs.registry import JOBS, run_job
        from marketplace.observability import configure_logging

        configure_logging()
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        sched = BlockingScheduler(timezone="Asia/Shanghai",
                                  job_defaults={"coalesce": True, "max_instances": 1,
                                                "misfire_grace_time": 3600})

        def runner(name: str) -> None:
            # run_job logs a failure; the scheduler goes on to the next run.
            with app.app_context(), contextlib.suppress(Exception):
                run_job(name)

        for job in JOBS.values():
            sched.add_job(runner, CronTrigger(timezone="Asia/Shanghai", **job.trigger),
                          args=[job.name], id=job.name, name=job.description)
            click.echo(f"scheduled {job.name}: {job.description}")
        with contextlib.suppress(KeyboardInterrupt, SystemExit):
            sched.start()

    @cli.group("jobs")
    def jobs_group() -> None:
        """Run a scheduled job by hand."""

    @jobs_group.command("run")
    @click.argument("name")
    def run(name: str) -> None:
        """Run one scheduled job once now: close_notices, publish_indices or support_run."""
        from marketplace.jobs.registry import JOBS, run_job

        if name not in JOBS:
            raise click.ClickException(f"no job {name!r}: one of {', '.join(JOBS)}")
        try:
            click.echo(run_job(name))
        except Exception as exc:
            raise click.ClickException(f"{name} failed: {exc}") from exc
