"""The application factory: config -> extensions -> blueprints -> errors -> CLI."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import flask
from flask import Flask, Response, g, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter

from marketplace import config as config_module
from marketplace import db, errors

if TYPE_CHECKING:
    from flask_smorest import Api

# Each domain package may have a `resources` module with flask-smorest blueprints.
DOMAINS = (
    "auth", "organisations", "audit", "achievements", "demands", "contracts", "support",
    "market_indices", "dashboard",
)


class JSONProvider(DefaultJSONProvider):
    """UTF-8 Chinese as is, not \\u escapes; decimals as exact strings, never floats."""

    ensure_ascii = False
    sort_keys = False

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, Decimal):
            return str(o)
        return DefaultJSONProvider.default(o)


def create_app(config: dict[str, Any] | None = None, *, http: bool = True) -> Flask:
    """The service. `http=False` makes the app of commands that answer no request (the
    imports): the configuration and the database, without the routes, the API document and
    what serves requests, whose modules (flask-smorest, marshmallow, redis, prometheus) are
    then not even imported."""
    app = Flask(__name__, instance_relative_config=True)
    app.json_provider_class = JSONProvider
    app.json = JSONProvider(app)
    _configure(app, config)
    db.bind(app.config["DATABASE_URL"])
    app.teardown_appcontext(lambda _exc: db.session.remove())
    if http:
        _serve_http(app)
    return app


def _serve_http(app: Flask) -> None:
    from werkzeug.middleware.proxy_fix import ProxyFix

    from marketplace import api as api_conventions
    from marketplace import observability, ratelimit

    if app.config["TRUSTED_PROXIES"]:
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    _init_api(app)
    _register_blueprints(app)
    errors.register(app)
    _request_boundary(app)
    observability.init_app(app)
    ratelimit.init_app(app)
    app.before_request(api_conventions.refuse_nul_characters)  # after the rate limit's count


def _configure(app: Flask, overrides: dict[str, Any] | None) -> None:
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(config_module.load(app.instance_path, overrides))


def _init_api(app: Flask) -> None:
    from flask_smorest import Api

    api = Api(app, spec_kwargs={"security": [{"bearer": []}, {}]})
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    app.extensions["api"] = api


class DatabaseId(IntegerConverter):
    """`<int:…>` in every route: ids beyond a database INTEGER are simply not found."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def _register_blueprints(app: Flask) -> None:
    from flask_smorest import Blueprint

    app.url_map.converters["int"] = DatabaseId
    api: Api = app.extensions["api"]
    for domain in DOMAINS:
        name = f"marketplace.{domain}.resources"
        if importlib.util.find_spec(f"marketplace.{domain}") is None:
            continue
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, Blueprint):
                api.register_blueprint(value)
            elif isinstance(value, flask.Blueprint) and value.name not in app.blueprints:
                app.register_blueprint(value)  # plain pages, outside the API document
    from marketplace import docs
    from marketplace.health import bp as health_bp

    app.register_blueprint(health_bp)
    docs.init_app(app)


def _request_boundary(app: Flask) -> None:
    """One place per request commits: after a successful response, or rolls back."""

    @app.after_request
    def _commit(response: Response) -> Response:
        if request.method in ("GET", "HEAD", "OPTIONS") or response.status_code >= 400:
            db.rollback()
            return response
        try:
            db.session.commit()  # the audit entries are chained here too
        except Exception as exc:
            db.session.rollback()
            unavailable = errors.database_unavailable(exc)
            if unavailable is None:
                raise
            return unavailable  # nothing was stored: the client may retry with the same key
        return response

    @app.before_request
    def _reset_identity() -> None:
        g.pop("identity", None)


logging.getLogger("marketplace").setLevel(logging.INFO)
