"""Configuration: read once at start-up, checked, and refused loudly when wrong."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the service must not start."""


DEFAULTS: dict[str, Any] = {
    "API_TITLE": "Suzhou technology trading market",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "/docs",
    # Served by marketplace.docs from the swagger-ui-bundle package: no CDN.
    "OPENAPI_SWAGGER_UI_URL": "/api/v1/docs-assets/",
    "TOKEN_TTL": timedelta(hours=12),
    "PASSWORD_PROFILE": "RFC_9106_LOW_MEMORY",  # an argon2.profiles name
    "NOTICE_DAYS": 15,
    "RATE_LIMIT_PER_MINUTE": 0,  # 0 = off; production sets it with a Redis URL
    "RATE_LIMIT_PER_SECOND": 0,  # 0 = twice the minute's average rate
    "RATE_LIMIT_KEY_PREFIX": "marketplace",  # of the counters' keys in Redis
    "REDIS_URL": None,
    # Reverse proxies in front of the service whose X-Forwarded-For/-Proto are believed: the
    # per-address rate limit and the logs then see the client, not the proxy. 0 = none (a
    # client's own X-Forwarded-For is ignored, so it cannot pose as another address).
    "TRUSTED_PROXIES": 0,
    "JSON_SORT_KEYS": False,
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
}


@dataclass(frozen=True)
class DatabaseUrl:
    url: str

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith("postgresql")


def check_database_url(url: str) -> str:
    """Accept only the two databases the service supports, with psycopg 3 for PostgreSQL."""
    if url.startswith("sqlite:///") or url == "sqlite://":
        return url
    if url.startswith("postgresql+psycopg://"):
        return url
    if url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            "MARKETPLACE_DATABASE_URL must name the psycopg 3 driver: "
            "postgresql+psycopg://user@host/db"
        )
    raise ConfigError(
        f"MARKETPLACE_DATABASE_URL {url!r} is neither sqlite:///… nor postgresql+psycopg://…"
    )


def load(instance_path: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings for one app: defaults, then the environment, then explicit overrides."""
    config = dict(DEFAULTS)
    default_db = "sqlite:///" + str(Path(instance_path) / "marketplace.sqlite3")
    config["DATABASE_URL"] = os.environ.get("MARKETPLACE_DATABASE_URL") or default_db
    if os.environ.get("MARKETPLACE_REDIS_URL"):
        config["REDIS_URL"] = os.environ["MARKETPLACE_REDIS_URL"]
    for name in ("RATE_LIMIT_PER_MINUTE", "RATE_LIMIT_PER_SECOND", "TRUSTED_PROXIES"):
        variable = f"MARKETPLACE_{name}"
        if os.environ.get(variable):
            try:
                config[name] = int(os.environ[variable])
            except ValueError as exc:
                raise ConfigError(f"{variable} must be a whole number") from exc
    if os.environ.get("MARKETPLACE_NOTICE_DAYS"):
        try:
            config["NOTICE_DAYS"] = int(os.environ["MARKETPLACE_NOTICE_DAYS"])
        except ValueError as exc:
            raise ConfigError("MARKETPLACE_NOTICE_DAYS must be a whole number") from exc
    config.update(overrides or {})
    config["DATABASE_URL"] = check_database_url(config["DATABASE_URL"])
    if config["RATE_LIMIT_PER_MINUTE"] and not config["REDIS_URL"]:
        raise ConfigError(
            "rate limits are shared by every worker: set MARKETPLACE_REDIS_URL with them"
        )
    from argon2 import profiles

    if not hasattr(profiles, str(config["PASSWORD_PROFILE"])):
        raise ConfigError(f"PASSWORD_PROFILE {config['PASSWORD_PROFILE']!r} is no argon2 profile")
    if int(config["TRUSTED_PROXIES"]) < 0:
        raise ConfigError("TRUSTED_PROXIES must be 0 or more")
    if int(config["NOTICE_DAYS"]) < 1:
        raise ConfigError("NOTICE_DAYS must be at least 1")
    return config
