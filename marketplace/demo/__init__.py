"""`marketplace demo`: a small, believable market so a newcomer sees the product alive.

It generates three and a bit years of contracts up to the last complete month (organisations
with Chinese names in the real regions, payments in instalments), adds named universities,
institutes and enterprises with achievements and demands, creates demo accounts, publishes the
indices and runs the year's support policy. Every step goes through the same commands an
operator uses, so the demo also shows how the market is run.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from sqlalchemy import func, select

from marketplace import db

HERE = Path(__file__).resolve().parent
SHANGHAI = ZoneInfo("Asia/Shanghai")
DEMO_PASSWORD = "demo-password"
ACCOUNTS = (
    ("bureau", "bureau_admin", None),
    ("reviewer", "bureau_reviewer", None),
    ("university", "org_admin", "12320000466007528X"),   # 苏州大学
    ("enterprise", "org_admin", "91320505MA1W2X3Y41"),   # 苏州高新锂能科技有限公司
)


def last_complete_month_end(today: date | None = None) -> date:
    today = today or datetime.now(SHANGHAI).date()
    return today.replace(day=1) - timedelta(days=1)


def _available(args: Sequence[str]) -> bool:
    from marketplace.cli import cli

    command: click.Command | None = cli
    for word in args[:2]:
        if not isinstance(command, click.Group):
            return True
        command = command.commands.get(word)
        if command is None:
            return False
    return True


def _run(args: Sequence[str]) -> None:
    from marketplace.cli import cli

    if not _available(args):
        click.echo(f"(skipped: `marketplace {' '.join(args[:2])}` is not part of this build)")
        return
    click.echo(f"$ marketplace {' '.join(args)}")
    try:
        cli.main(list(args), prog_name="marketplace", standalone_mode=False)
    except click.ClickException as exc:
        raise click.ClickException(f"demo step `{' '.join(args)}` failed: {exc.message}") from exc


def load_demo(contracts: int = 4000, seed: int = 2026) -> None:
    from marketplace.generate import generate_market
    from marketplace.organisations.models import Organisation

    if db.session.scalar(select(func.count()).select_from(Organisation)):
        click.echo("the database already holds organisations: the demo is loaded once, into "
                   "an empty database")
        return
    end = last_complete_month_end()
    with tempfile.TemporaryDirectory(prefix="marketplace-demo-") as tmp:
        out = Path(tmp)
        click.echo(f"generating {contracts} contracts from {end.year - 3}-01 to {end:%Y-%m}")
        generate_market(out, contracts, seed, start_year=end.year - 3, years=4, end=end)
        _run(["import", "organisations", str(out / "organisations.csv")])
        _run(["import", "organisations", str(HERE / "organisations.csv")])
        _run(["import", "contracts", str(out / "contracts.csv")])
        _run(["import", "payments", str(out / "payments.csv")])
    for username, role, org in ACCOUNTS:
        args = ["users", "create", "--username", username, "--password", DEMO_PASSWORD,
                "--role", role]
        _run([*args, "--organization", org] if org else args)
    _run(["import", "achievements", str(HERE / "achievements.csv")])
    _run(["import", "demands", str(HERE / "demands.csv")])
    _run(["indices", "publish"])
    _run(["support", "policy", "load", str(HERE / "policy.json")])
    _run(["support", "run", "--policy", "SZ-TT-2025"])
    click.echo("")
    accounts = ", ".join(f"{u} ({r})" for u, r, _ in ACCOUNTS)
    click.echo(f"demo market loaded. Accounts (password {DEMO_PASSWORD}): {accounts}")
    click.echo("dashboard: /   API docs: /api/v1/docs   OpenAPI: /api/v1/openapi.json")
