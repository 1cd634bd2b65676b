"""The `marketplace` command: a Flask CLI group. Domains add their commands in `commands.py`."""

from __future__ import annotations

import atexit
import gc
import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from flask import current_app
from flask.cli import FlaskGroup

from marketplace import db
from marketplace.config import ConfigError
from marketplace.errors import Problem
from marketplace.imports import ImportRejected, ImportReport

T = TypeVar("T")


# Commands that answer no HTTP request: their app is made without the API's routes and
# document, nor the modules that serve requests, which take half a second or more to import
# and build (a million-contract import takes 7-8 s).
WITHOUT_HTTP = frozenset({"import", "generate"})


def _create_app() -> Any:
    from marketplace.app import create_app

    context = click.get_current_context(silent=True)
    words = context.command_path.split() if context is not None else []
    try:
        return create_app(http=not (len(words) > 1 and words[1] in WITHOUT_HTTP))
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from exc


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             add_version_option=False, load_dotenv=False)
def cli() -> None:
    """Suzhou technology trading market."""


def guarded(fn: Callable[[], T]) -> T:
    """Run a command body in one unit of work; a failure is one line and a non-zero exit."""
    try:
        with db.unit_of_work():
            return fn()
    except ImportRejected as exc:
        print_report(exc.report)
        raise click.ClickException(exc.report.summary()) from exc
    except Problem as exc:
        detail = exc.detail or exc.title
        if exc.errors:
            from marketplace.errors import flatten_errors

            detail += ": " + "; ".join(f"{e['field']}: {e['message']}"
                                       for e in flatten_errors(exc.errors))
        raise click.ClickException(detail) from exc
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc


def print_report(report: ImportReport) -> None:
    for error in report.errors:
        click.echo(f"rejected: {error}", err=True)
    if report.error_count > len(report.errors):
        click.echo(f"… and {report.error_count - len(report.errors)} more", err=True)


def run_import(importer: Callable[..., ImportReport], path: Path) -> None:
    from marketplace.auth.identity import system

    report = guarded(lambda: importer(system("import"), path, name=str(path)))
    click.echo(report.summary())


@cli.group("db")
def db_group() -> None:
    """The database schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    from marketplace.migrate import upgrade

    upgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"database at {revision}")


@db_group.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Undo the migrations down to REVISION (`base` empties the database)."""
    from marketplace.migrate import downgrade

    downgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"database at {revision}")


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Run the web service (for trying it out; production runs gunicorn)."""
    from werkzeug.serving import run_simple

    from marketplace.observability import configure_logging

    configure_logging()
    # Our JSON line (with the request id) logs each request; werkzeug's own line would repeat it.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    click.echo(f"serving on http://{host}:{port}/ (dashboard), /api/v1/docs (API)")
    run_simple(host, port, app, threaded=True, use_reloader=False)


@cli.group("users")
def users_group() -> None:
    """Accounts."""


@users_group.command("create")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--role", required=True,
              type=click.Choice(["bureau_admin", "bureau_reviewer", "org_admin", "org_member"]))
@click.option("--organization", default=None, help="the organisation's USCC, for org roles")
def users_create(username: str, password: str, role: str, organization: str | None) -> None:
    """Create an account."""
    from marketplace.auth.identity import system
    from marketplace.auth.services import create_user

    user = guarded(lambda: create_user(system("cli"), username=username, password=password,
                                       role=role, organization_uscc=organization))
    click.echo(f"user {user.username} ({user.role}) created")


@cli.group("import")
def import_group() -> None:
    """Bulk imports from CSV: all or nothing per file, idempotent."""


@import_group.command("organisations")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_organisations(file: Path) -> None:
    """Organisations: uscc,name,kind,region_code."""
    from marketplace.organisations.services import import_csv

    run_import(import_csv, file)


@cli.group("audit")
def audit_group() -> None:
    """The audit trail."""


@audit_group.command("verify")
def audit_verify() -> None:
    """Check the hash chain of the audit trail from the first entry to the last."""
    from marketplace.audit.services import verify_chain

    report = verify_chain()
    if not report.ok:
        raise click.ClickException(
            f"audit chain broken at entry {report.first_bad_id}: {report.problem} "
            f"({report.checked} entries before it are intact)"
        )
    click.echo(f"audit chain intact: {report.checked} entries")


@cli.command("demo")
@click.option("--contracts", default=4000, show_default=True, help="size of the demo market")
@click.option("--seed", default=2026, show_default=True)
def demo(contracts: int, seed: int) -> None:
    """Load a demo market: contracts, achievements, demands, indices and support awards."""
    from marketplace.demo import load_demo

    load_demo(contracts=contracts, seed=seed)


def _register_domain_commands() -> None:
    from marketplace.app import DOMAINS

    for domain in (*DOMAINS, "jobs"):
        if importlib.util.find_spec(f"marketplace.{domain}") is None:
            continue
        name = f"marketplace.{domain}.commands"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).register(cli)


_register_domain_commands()


def main() -> None:
    # The objects still alive at exit go with the process: frozen, the collector's passes at
    # interpreter shutdown skip them (after a million-contract import those passes took
    # 0.4 s; 0.04 s frozen). Freezing changes nothing for the other exit handlers.
    atexit.register(gc.freeze)
    try:
        cli.main(prog_name="marketplace")
    except ConfigError as exc:  # pragma: no cover - create_app reports it first
        click.echo(f"Error: configuration: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
