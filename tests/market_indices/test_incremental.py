"""Publication month by month on a synthetic market: the database's aggregation, reusing the
cells of earlier publications, gives exactly what `indices` computes from the plain rows."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import select

import indices
from marketplace import db
from marketplace.auth.identity import system
from marketplace.cli import cli
from marketplace.contracts.importer import import_contracts
from marketplace.contracts.models import Contract
from marketplace.generate import generate_market
from marketplace.market_indices import aggregation, services
from marketplace.market_indices.models import IndexFigure
from marketplace.organisations.services import import_csv as import_organisations
from tests.indices.example import load_rows


@pytest.fixture(scope="module")
def market_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("market")
    generate_market(out, 2500, seed=31, start_year=2019, years=4)
    return out


@pytest.fixture
def market(app, market_dir: Path):
    actor = system("test")
    import_organisations(actor, market_dir / "organisations.csv", name="organisations.csv")
    import_contracts(actor, market_dir / "contracts.csv", name="contracts.csv")
    db.session.commit()
    return app


def _publish(app, through: str) -> str:
    result = app.test_cli_runner().invoke(cli, ["indices", "publish", "--through", through])
    assert result.exit_code == 0, result.output
    return result.output


def _assert_published_equals(rows: list[indices.ContractRow], through: str) -> None:
    want = indices.compute_from_rows(rows, through)
    assert any(cap is not None for cap in want.caps.values())  # the cap is exercised
    stored = {(f.family, f.domain, f.period): f.detail for f in db.session.scalars(
        select(IndexFigure).where(IndexFigure.is_latest.is_(True)))}
    assert len(stored) == len(want.figures)
    for figure in want.figures:
        key = (figure.family, figure.domain, str(figure.period))
        assert stored[key] == indices.figure_to_dict(figure, extended=True), key


def test_month_by_month_equals_the_rows(market, market_dir: Path) -> None:
    rows = load_rows(market_dir)
    first = _publish(market, "2021-11")
    assert "aggregated 2019-01 to 2021-11" in first
    _assert_published_equals(rows, "2021-11")

    # A new month in the same year: only that month is aggregated again.
    assert "aggregated 2021-12 to 2021-12" in _publish(market, "2021-12")
    _assert_published_equals(rows, "2021-12")

    # January: the new year's cap becomes known, so the year before is aggregated again.
    assert "aggregated 2021-01 to 2022-01" in _publish(market, "2022-01")
    _assert_published_equals(rows, "2022-01")

    again = _publish(market, "2022-01")
    assert "nothing published" in again and "aggregated" not in again
    assert services.check().ok


def _aggregated_from(output: str) -> indices.Period:
    return indices.Period.parse(output.split("aggregated ", 1)[1][:7])


def test_a_late_cancellation_deep_in_history_revises_from_its_month(market,
                                                                   market_dir: Path) -> None:
    _publish(market, "2022-03")
    contract = db.session.scalars(
        select(Contract).where(Contract.status == "registered")
        .order_by(Contract.technical_amount.desc())).first()  # above every cap
    month = indices.period_of(contract.registered_at)
    contract.status = "cancelled"
    contract.cancelled_at = db.utcnow()
    db.session.commit()

    output = _publish(market, "2022-03")
    assert "revisions of earlier figures" in output
    assert _aggregated_from(output) <= month
    rows = [r for r in load_rows(market_dir) if r.contract_no != contract.contract_no]
    _assert_published_equals(rows, "2022-03")
    assert services.check().ok


def test_an_amendment_is_aggregated_again_from_its_month(market, market_dir: Path) -> None:
    _publish(market, "2022-03")
    february = indices.Period(2022, 2)
    contract = db.session.scalars(
        select(Contract).where(Contract.status == "registered",
                               Contract.registered_at >= aggregation.month_start(february),
                               Contract.registered_at < aggregation.month_start(february.shift(1)))
        .order_by(Contract.id)).first()
    field = "nuclear" if contract.field != "nuclear" else "agriculture"
    contract.field = field
    contract.version += 1
    db.session.commit()

    output = _publish(market, "2022-03")
    assert "revisions of earlier figures" in output
    assert "aggregated 2022-02 to 2022-03" in output
    rows = [r if r.contract_no != contract.contract_no else dataclasses.replace(r, field=field)
            for r in load_rows(market_dir)]
    _assert_published_equals(rows, "2022-03")
