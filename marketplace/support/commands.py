from __future__ import annotations

import json
from pathlib import Path

import click


def register(cli: click.Group) -> None:
    @cli.group("support")
    def support_group() -> None:
        """Support policies, runs and the treasury export."""

    @support_group.group("policy")
    def policy_group() -> None:
        """Support policies."""

    @policy_group.command("load")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def load(file: Path) -> None:
        """Load a policy document (JSON)."""
        from marketplace.auth.identity import system
        from marketplace.cli import guarded
        from marketplace.support.services import load_policy

        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise click.ClickException(f"{file}: not JSON: {exc}") from exc
        row = guarded(lambda: load_policy(system("cli"), document))
        click.echo(f"policy {row.code} ({row.year}) loaded")

    @support_group.command("run")
    @click.option("--policy", "code", required=True)
    def run(code: str) -> None:
        """Apply a policy to the data as it stands; only the difference is written."""
        from marketplace.auth.identity import system
        from marketplace.cli import guarded
        from marketplace.support.services import run_policy

        click.echo(guarded(lambda: run_policy(system("cli"), code)).summary())

    @support_group.command("export")
    @click.option("--policy", "code", required=True)
    @click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv")
    @click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
    def export(code: str, fmt: str, out: Path) -> None:
        """The treasury export: what the city and each district or county pays."""
        from marketplace.cli import guarded
        from marketplace.support.services import treasury_csv, treasury_xlsx

        if fmt == "csv":
            out.write_text(guarded(lambda: treasury_csv(code)), encoding="utf-8")
        else:
            out.write_bytes(guarded(lambda: treasury_xlsx(code)))
        click.echo(f"wrote {out}")
