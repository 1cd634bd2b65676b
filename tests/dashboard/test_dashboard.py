"""The public dashboard, loaded in a real headless Chromium from a running server."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from marketplace.app import create_app
from marketplace.cli import cli
from tests.browser import rendered_dom, screenshot
from tests.dbutil import EXAMPLE

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture(scope="module")
def published_site(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('site') / 'site.sqlite3'}"
    app = create_app({"DATABASE_URL": url, "PASSWORD_PROFILE": "CHEAPEST"})
    runner = app.test_cli_runner()
    for args in (["db", "upgrade"],
                 ["import", "organisations", str(EXAMPLE / "organisations.csv")],
                 ["import", "contracts", str(EXAMPLE / "contracts.csv")],
                 ["indices", "publish", "--through", "2021-12"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_dashboard_draws_the_charts_in_chromium(published_site) -> None:
    dom = rendered_dom(published_site + "/")
    assert "苏州技术交易指数" in dom
    assert "2021-12" in dom
    # The city chart: a drawn line with points from 2019 to 2021, and the reference line.
    city = re.search(r'<section id="city">.*?</section>', dom, re.S).group(0)
    path = re.search(r'<path class="line" d="([^"]+)"', city).group(1)
    assert path.count("L") >= 30
    assert 'class="ref"' in city
    # Ten regions and eleven fields, each with a value or the reason it has none.
    assert len(re.findall(r'<tr data-domain="32\d{4}"', dom)) == 10
    assert len(re.findall(r'<tr data-domain="[a-z_]+"', dom)) == 11
    assert dom.count('class="spark"') >= 18
    # What moved the latest month, by indicator and by the seller's region.
    contributions = re.search(r'<section id="contributions">.*?</section>', dom, re.S).group(0)
    assert contributions.count('<rect class="bar') >= 3
    # Nothing is fetched from anywhere else.
    assert not re.search(r'(src|href)="https?://', dom)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = screenshot(published_site + "/", ARTIFACTS / "dashboard.png")
    assert shot.stat().st_size > 20_000


def test_dashboard_before_any_publication(tmp_path) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"})
    app.test_cli_runner().invoke(cli, ["db", "upgrade"])
    page = app.test_client().get("/")
    assert page.status_code == 200
    assert "Nothing published yet" in page.get_data(as_text=True)
