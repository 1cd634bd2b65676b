"""Publishing the worked example market, through the CLI and read back through the API."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import select

from marketplace import db
from marketplace.auth.identity import system
from marketplace.cli import cli
from marketplace.contracts.importer import import_contracts
from marketplace.contracts.models import Contract
from marketplace.market_indices import services
from marketplace.organisations.services import import_csv as import_organisations
from tests.dbutil import EXAMPLE

EXPECTED = json.loads((EXAMPLE / "expected_indices.json").read_text(encoding="utf-8"))


@pytest.fixture
def example_market(app):
    actor = system("test")
    import_organisations(actor, EXAMPLE / "organisations.csv", name="organisations.csv")
    import_contracts(actor, EXAMPLE / "contracts.csv", name="contracts.csv")
    db.session.commit()
    return app


def _publish(app, through: str = "2021-12") -> str:
    result = app.test_cli_runner().invoke(cli, ["indices", "publish", "--through", through])
    assert result.exit_code == 0, result.output
    return result.output


def _close(a: str | None, b: str | None, tol: Decimal = Decimal("1e-9")) -> bool:
    if a is None or b is None:
        return a is b
    return abs(Decimal(a) - Decimal(b)) <= tol


def test_example_figures_match_the_spec(example_market, client) -> None:
    output = _publish(example_market)
    assert "792 figures published" in output
    assert services.check().ok

    got = {}
    for family in ("transfer", "regional", "industry"):
        page, items = 1, []
        while True:
            response = client.get(f"/api/v1/indices/{family}?page={page}&page_size=100")
            assert response.status_code == 200
            batch = response.get_json()
            items += batch
            if len(batch) < 100:
                break
            page += 1
        got.update({(i["family"], i["domain"], i["period"]): i for i in items})
    assert len(got) == len(EXPECTED["figures"]) == 792

    for want in EXPECTED["figures"]:
        item = got[(want["family"], want["domain"], want["period"])]
        c = item["components"]
        key = f"{want['family']}/{want['domain']}/{want['period']}"
        assert _close(c["value_exact"], want["value"]), key
        assert item["value"] == want["value_2dp"], key
        assert _close(c["mom_pct_exact"], want["mom_pct"]), key
        assert _close(c["yoy_pct_exact"], want["yoy_pct"]), key
        assert c["x"] == want["x"], key
        assert c["cap"] == want["cap"], key
        assert _close(c["link"], want["L"]), key
        assert c["weights"] == want["weights"], key
        assert item["reason"] == want["reason"], key
        assert item["methodology_version"] == "1.0" and item["revision"] == 1

    one = client.get("/api/v1/indices/transfer/SZ/2021-07").get_json()
    want = next(f for f in EXPECTED["figures"]
                if (f["family"], f["domain"], f["period"]) == ("transfer", "SZ", "2021-07"))
    assert {k: Decimal(v) for k, v in one["contributions"].items()} == {
        k: Decimal(v) for k, v in want["contributions"].items()}
    assert one["domain_name"] == "苏州市" and len(one["revisions"]) == 1


def test_rerun_publishes_nothing_and_a_cancellation_publishes_revisions(example_market,
                                                                         client) -> None:
    _publish(example_market)
    again = _publish(example_market)
    assert "nothing published" in again

    contract = db.session.scalars(select(Contract).where(
        Contract.status == "registered", Contract.registered_at.is_not(None))
        .order_by(Contract.registered_at.desc())).first()
    contract.status = "cancelled"
    contract.cancelled_at = db.utcnow()
    db.session.commit()
    revised = _publish(example_market)
    assert "revisions of earlier figures" in revised
    period = services.indices.period_of(contract.registered_at)
    detail = client.get(f"/api/v1/indices/transfer/SZ/{period}").get_json()
    assert [r["revision"] for r in detail["revisions"]] == [2, 1]
    assert detail["revisions"][0]["revision_reason"].startswith("revised")
    assert detail["revisions"][1]["components"]["x"]["N"] == detail["components"]["x"]["N"] + 1
    assert services.check().ok


def test_csv_for_the_bureau(example_market, client) -> None:
    _publish(example_market)
    response = client.get("/api/v1/indices/regional?domain=320583&from=2021-01&to=2021-12",
                          headers={"Accept": "text/csv"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0].startswith("family,domain,domain_name,period,value")
    assert len(lines) == 13 and all(",昆山市," in line for line in lines[1:])
    assert client.get("/api/v1/indices/industry?format=csv").mimetype == "text/csv"


@pytest.mark.parametrize(("url", "status", "field"), [
    ("/api/v1/indices/nowhere", 404, None),
    ("/api/v1/indices/regional?domain=310115", 422, "domain"),
    ("/api/v1/indices/transfer?from=2021-05&to=2021-01", 422, "from"),
    ("/api/v1/indices/transfer?from=2021-13", 422, "from"),
    ("/api/v1/indices/transfer/SZ/2021-1", 422, "period"),
    ("/api/v1/indices/transfer/SZ/2030-01", 404, None),
])
def test_bad_queries_are_clear_problems(client, url: str, status: int, field: str | None) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    if field:
        assert field in {e["field"] for e in response.get_json()["errors"]}


def test_publish_refuses_unfinished_or_empty_months(example_market) -> None:
    runner = example_market.test_cli_runner()
    future = runner.invoke(cli, ["indices", "publish", "--through", "2999-01"])
    assert future.exit_code != 0 and "not complete" in future.output
    early = runner.invoke(cli, ["indices", "publish", "--through", "2018-06"])
    assert early.exit_code != 0 and "no registered contract" in early.output
    bad = runner.invoke(cli, ["indices", "publish", "--through", "2021-13"])
    assert bad.exit_code != 0 and "YYYY-MM" in bad.output
