"""The interactive API docs' assets, served from the swagger-ui-bundle package itself.

Nothing is fetched from a CDN: the service works on a closed network and the docs with it.
"""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, send_from_directory
from swagger_ui_bundle import swagger_ui_path
from werkzeug.wrappers import Response

ASSETS_URL = "/api/v1/docs-assets/"

bp = Blueprint("docs_assets", __name__)


@bp.get("/api/v1/docs-assets/<path:filename>")
def asset(filename: str) -> Response:
    response = send_from_directory(swagger_ui_path, filename, max_age=86400)
    return response


@bp.get("/docs")
def docs_shortcut() -> Response:
    return redirect("/api/v1/docs", code=302)  # type: ignore[return-value]


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
