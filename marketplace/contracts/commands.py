"""`marketplace import contracts|payments|grants FILE` and `marketplace generate`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from marketplace.imports import ImportReport

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _show_progress() -> bool:
    """Progress bars go to stderr, and only when someone watches it."""
    return sys.stderr.isatty() or os.environ.get("MARKETPLACE_PROGRESS") == "1"


def _run_import(importer: Callable[..., ImportReport], file: Path) -> None:
    from marketplace.auth.identity import system
    from marketplace.cli import guarded

    with tqdm(total=file.stat().st_size, unit="B", unit_scale=True, desc=file.name,
              file=sys.stderr, disable=not _show_progress(), leave=False) as bar:

        def progress(done: int) -> None:
            bar.update(max(0, done - bar.n))

        report = guarded(lambda: importer(system("import"), file, name=str(file),
                                          progress=progress))
    click.echo(report.summary())


def register(cli: click.Group) -> None:
    import_group: Any = cli.commands["import"]

    @import_group.command("contracts")
    @click.argument("file", type=FILE)
    def import_contracts(file: Path) -> None:
        """Contracts: contract_no,type,subtype,title,field,seller_uscc,buyer_uscc,
        intermediary_uscc,total_amount,technical_amount,signed_on,registered_at,
        related_party,status,cancelled_at."""
        from marketplace.contracts.importer import import_contracts as importer

        _run_import(importer, file)

    @import_group.command("payments")
    @click.argument("file", type=FILE)
    def import_payments(file: Path) -> None:
        """Payments (到账): contract_no,paid_on,amount."""
        from marketplace.contracts.importer import import_payments as importer

        _run_import(importer, file)

    @import_group.command("grants")
    @click.argument("file", type=FILE)
    def import_grants(file: Path) -> None:
        """External grants (就高不重复): contract_no,role,uscc,amount,programme."""
        from marketplace.contracts.importer import import_grants as importer

        _run_import(importer, file)

    @cli.command("generate")
    @click.option("--contracts", "count", type=click.IntRange(min=0), default=10_000,
                  show_default=True, help="how many contracts")
    @click.option("--seed", type=int, default=1, show_default=True,
                  help="the same seed gives the same files")
    @click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
                  required=True, help="the folder to write the CSV files to")
    @click.option("--start-year", type=int, default=2019, show_default=True)
    @click.option("--years", type=click.IntRange(min=1), default=5, show_default=True)
    def generate(count: int, seed: int, out_dir: Path, start_year: int, years: int) -> None:
        """Write a synthetic market (organisations, contracts, payments CSV) of a given size."""
        from marketplace.generate import generate_market

        with tqdm(total=count, unit=" contracts", unit_scale=True, file=sys.stderr,
                  disable=not _show_progress(), leave=False) as bar:
            try:
                summary = generate_market(out_dir, count, seed, start_year=start_year,
                                          years=years, progress=bar.update)
            except (ValueError, OSError) as exc:
                raise click.ClickException(str(exc)) from exc
        click.echo(f"wrote {summary.organisations} organisations, {summary.contracts} "
                   f"contracts and {summary.payments} payments ({summary.first_day} to "
                   f"{summary.last_day}, seed {seed}) to {summary.out_dir}")
