from __future__ import annotations

from pathlib import Path
from typing import Any

import click

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def register(cli: click.Group) -> None:
    import_group: Any = cli.commands["import"]

    @import_group.command("achievements")
    @click.argument("file", type=FILE)
    def import_achievements(file: Path) -> None:
        """Achievements: key,owner_uscc,title,summary,keywords,field,trl,transfer_modes,
        price,status."""
        from marketplace.achievements.services import import_csv
        from marketplace.cli import run_import

        run_import(import_csv, file)

    @import_group.command("demands")
    @click.argument("file", type=FILE)
    def import_demands(file: Path) -> None:
        """Demands: key,uscc,title,description,field,budget_min,budget_max,min_trl."""
        from marketplace.cli import run_import
        from marketplace.demands.services import import_csv

        run_import(import_csv, file)

    @cli.group("achievements")
    def achievements_group() -> None:
        """Achievements."""

    @achievements_group.command("close-notices")
    def close_notices() -> None:
        """List every achievement whose public notice has run its days."""
        from marketplace.achievements.services import close_finished_notices
        from marketplace.cli import guarded

        click.echo(f"{guarded(close_finished_notices)} notice(s) closed")
