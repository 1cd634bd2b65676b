"""The public dashboard at `/`: server-rendered, inline SVG, nothing fetched from outside."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, render_template
from sqlalchemy import select

from marketplace import db
from marketplace.cache import public_cache
from marketplace.dashboard.charts import Point, bar_chart, line_chart, sparkline
from marketplace.market_indices.models import IndexFigure
from marketplace.market_indices.services import domain_name
from marketplace.reference import FIELDS, REGIONS

bp = Blueprint("dashboard", __name__, template_folder="templates")

INDICATOR_LABELS = {"N": "合同数 N", "V": "技术交易额 V", "P": "参与机构 P",
                    "E": "新进入机构 E", "X": "跨区域 X", "U": "产学研 U"}
SPARK_MONTHS = 24


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def dashboard_data() -> dict[str, Any] | None:
    figures = list(db.session.scalars(
        select(IndexFigure).where(IndexFigure.is_latest.is_(True))
        .order_by(IndexFigure.family, IndexFigure.domain, IndexFigure.period)))
    by_domain: dict[tuple[str, str], list[IndexFigure]] = defaultdict(list)
    for f in figures:
        by_domain[(f.family, f.domain)].append(f)
    city = by_domain.get(("transfer", "SZ"))
    if not city:
        return None
    latest = city[-1]

    def row(family: str, code: str) -> dict[str, Any]:
        series = by_domain.get((family, code), [])
        last = series[-1] if series else None
        detail = last.detail if last else {}
        return {
            "code": code, "name": domain_name(family, code),
            "value": _dec(detail.get("value_2dp")), "mom": _dec(detail.get("mom_pct")),
            "yoy": _dec(detail.get("yoy_pct")), "reason": detail.get("reason"),
            "spark": sparkline([_dec(f.detail.get("value")) for f in series[-SPARK_MONTHS:]],
                               label=f"{domain_name(family, code)} trend"),
        }

    contributions = latest.detail.get("contributions") or {}
    by_indicator = sorted(((INDICATOR_LABELS[k], Decimal(v)) for k, v in contributions.items()
                           if Decimal(v) != 0), key=lambda kv: -abs(kv[1]))
    by_region: dict[str, Decimal] = defaultdict(Decimal)
    for parts in (latest.detail.get("contributions_split") or {}).values():
        for bucket, value in parts.items():
            by_region[REGIONS[bucket].name if bucket in REGIONS else "苏州以外"] += Decimal(value)
    region_items = sorted(((k, v) for k, v in by_region.items() if v != 0),
                          key=lambda kv: -abs(kv[1]))
    shanghai = latest.published_at.astimezone(ZoneInfo("Asia/Shanghai"))
    return {
        "latest_period": latest.period,
        "methodology_version": latest.methodology_version,
        "published_at": shanghai.strftime("%Y-%m-%d %H:%M"),
        "base_note": "(基年月均 = 100, chain-linked each January)",
        "city": {"value": _dec(latest.detail.get("value_2dp")),
                 "mom": _dec(latest.detail.get("mom_pct")),
                 "yoy": _dec(latest.detail.get("yoy_pct"))},
        "city_chart": line_chart([Point(f.period, _dec(f.detail.get("value"))) for f in city],
                                 label="技术转移交易指数 over time"),
        "regions": [row("regional", code) for code in REGIONS],
        "fields": [row("industry", code) for code in FIELDS],
        "contrib_chart": bar_chart(by_indicator, label="contributions by indicator"),
        "region_contrib_chart": bar_chart(region_items[:11],
                                          label="contributions by seller region"),
    }


def _fmt(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:+.2f} %"


def _sign(value: Decimal | None) -> str:
    return "" if value is None or value == 0 else ("up" if value > 0 else "down")


@bp.get("/")
@public_cache(60)
def index() -> Any:
    data = dashboard_data()
    html = render_template("dashboard/index.html", data=data, fmt=_fmt, pct=_pct, sign=_sign)
    return html, 200, {"Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'"}
