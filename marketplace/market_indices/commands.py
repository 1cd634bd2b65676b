from __future__ import annotations

from typing import Any

import click


def register(cli: click.Group) -> None:
    @cli.group("indices")
    def indices_group() -> None:
        """The technology-trading indices."""

    @indices_group.command("publish")
    @click.option("--through", default=None, metavar="YYYY-MM",
                  help="last month to publish (default: the last complete month)")
    def publish(through: str | None) -> None:
        """Compute and publish every complete month up to --through, with any revisions."""
        from marketplace.auth.identity import system
        from marketplace.cli import guarded
        from marketplace.market_indices import services

        def run() -> Any:
            return services.publish(system("cli"), services.parse_through(through))

        click.echo(guarded(run).summary())

    @indices_group.command("check")
    @click.option("--publication", type=int, default=None, help="one publication (default: all)")
    def check(publication: int | None) -> None:
        """Recompute stored figures from their stored inputs and say whether they match."""
        from marketplace.market_indices import services

        report = services.check(publication)
        for line in report.mismatches[:50]:
            click.echo(line, err=True)
        if not report.ok:
            raise click.ClickException(f"{len(report.mismatches)} of {report.figures} figures "
                                       "do not recompute to what was published")
        click.echo(f"{report.figures} figures of {report.publications} publication(s) recompute "
                   "exactly")
