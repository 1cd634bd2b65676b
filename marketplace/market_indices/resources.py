from __future__ import annotations

import csv
import functools
import io
from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import ValidationError

from marketplace import db
from marketplace.api import SelectPage
from marketplace.cache import public_cache
from marketplace.errors import NotFound, ValidationProblem
from marketplace.market_indices import services
from marketplace.market_indices.models import IndexFigure
from marketplace.market_indices.schemas import (
    FAMILIES,
    FigureDetailOut,
    FigureOut,
    FormatQuery,
    SeriesQuery,
)

blp = Blueprint("indices", __name__, url_prefix="/api/v1/indices",
                description="The published technology-trading indices (public)")

CSV_COLUMNS = ("family", "domain", "domain_name", "period", "value", "mom_pct", "yoy_pct",
               "reason", "N", "V", "P", "E", "X", "U", "contracts", "total_amount",
               "technical_amount", "methodology_version", "revision", "published_at")


def _check_family(family: str, domain: str | None = None) -> None:
    if family not in FAMILIES:
        raise NotFound(f"no index family {family!r}: one of {', '.join(FAMILIES)}")
    if domain is not None and domain not in services.domains(family):
        raise ValidationProblem(errors={"domain": [
            f"{domain!r} is not a domain of {family}: {', '.join(services.domains(family))}"]})


def _2dp(text: str | None) -> str | None:
    if text is None:
        return None
    from decimal import ROUND_HALF_UP, Decimal

    return str(Decimal(text).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def describe(f: IndexFigure) -> dict[str, Any]:
    d = f.detail
    return {
        "family": f.family, "family_name": services.FAMILY_NAMES[f.family],
        "domain": f.domain, "domain_name": services.domain_name(f.family, f.domain),
        "period": f.period, "value": d["value_2dp"], "mom_pct": _2dp(d["mom_pct"]),
        "yoy_pct": _2dp(d["yoy_pct"]), "reason": d["reason"],
        "components": {"x": d["x"], "refs": d["refs"], "weights": d["weights"],
                       "link": d["L"], "cap": d["cap"], "ref_year": d.get("ref_year"),
                       "raw": d.get("raw", {}), "value_exact": d["value"],
                       "mom_pct_exact": d["mom_pct"], "yoy_pct_exact": d["yoy_pct"]},
        "methodology_version": f.methodology_version, "revision": f.revision,
        "revision_reason": f.revision_reason, "published_at": f.published_at,
    }


def wants_csv(fmt: str) -> bool:
    return fmt == "csv" or request.accept_mimetypes.best == "text/csv"


def as_csv(figures: list[IndexFigure], name: str) -> Response:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(CSV_COLUMNS)
    for f in figures:
        item = describe(f)
        raw = item["components"]["raw"]
        x = item["components"]["x"]
        w.writerow([item["family"], item["domain"], item["domain_name"], item["period"],
                    item["value"] or "", item["mom_pct"] or "", item["yoy_pct"] or "",
                    item["reason"] or "", *(x[k] for k in "NVPEXU"),
                    raw.get("contracts", ""), raw.get("total_amount", ""),
                    raw.get("technical_amount", ""), item["methodology_version"],
                    item["revision"], item["published_at"].isoformat()])
    response = Response("\ufeff" + out.getvalue(), mimetype="text/csv")  # BOM: Excel reads UTF-8
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


class FigurePage(SelectPage):
    """Pages of figures, each rendered with its names and components."""

    @property
    def items(self) -> list[Any]:
        return [describe(f) for f in super().items]


def csv_alternative(fn: Any) -> Any:
    """Answer ?format=csv or Accept: text/csv with the whole series as CSV, unpaginated."""

    @functools.wraps(fn)
    def wrapper(self: Any, family: str, **kwargs: Any) -> Any:
        if not wants_csv(request.args.get("format", "json")):
            return fn(self, family=family, **kwargs)
        args = {k: v for k, v in request.args.items() if k not in ("page", "page_size")}
        try:
            query = SeriesQuery().load(args)
        except ValidationError as exc:
            raise ValidationProblem(errors=exc.messages_dict) from exc
        _check_family(family, query.get("domain"))
        stmt = services.series(family, query.get("domain"), query.get("from_"), query.get("to"))
        return as_csv(list(db.session.scalars(stmt)), f"indices-{family}")

    return wrapper


# Figures change only when the scheduler publishes (monthly): a minute's delay is harmless.
PUBLIC_SECONDS = 60


@blp.route("/<family>")
class Series(MethodView):
    @public_cache(PUBLIC_SECONDS)
    @csv_alternative
    @blp.arguments(SeriesQuery(), location="query")
    @blp.response(200, FigureOut(many=True))
    @blp.alt_response(200, description="the same as CSV with ?format=csv or Accept: text/csv",
                      content_type="text/csv", success=True)
    @blp.alt_response(404, description="unknown family")
    @blp.paginate(FigurePage)
    def get(self, query: dict[str, Any], family: str) -> Any:
        """The latest revision of each month, for one family (all its domains, or one)"""
        _check_family(family, query.get("domain"))
        return services.series(family, query.get("domain"), query.get("from_"), query.get("to"))


@blp.route("/<family>/<domain>/<period>")
class Figure(MethodView):
    @public_cache(PUBLIC_SECONDS)
    @blp.arguments(FormatQuery(), location="query")
    @blp.response(200, FigureDetailOut)
    @blp.alt_response(404, description="nothing published for that month")
    def get(self, query: dict[str, Any], family: str, domain: str, period: str) -> Any:
        """One figure with its contributions and every revision"""
        _check_family(family, domain)
        from marketplace.api import PERIOD_RE

        if not PERIOD_RE.match(period):
            raise ValidationProblem(errors={"period": ["a month as YYYY-MM"]})
        found = services.revisions(family, domain, period)
        if wants_csv(query["format"]):
            return as_csv(found, f"index-{family}-{domain}-{period}")
        latest = found[0]
        item = describe(latest)
        item["contributions"] = latest.detail["contributions"]
        item["contributions_split"] = latest.detail["contributions_split"]
        item["revisions"] = [describe(f) for f in found]
        return item
