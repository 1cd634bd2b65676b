"""Accounts and bearer tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g, request
from sqlalchemy import bindparam, select

from marketplace import db
from marketplace.audit.services import record
from marketplace.auth.identity import ANONYMOUS, Identity
from marketplace.auth.models import ApiToken, User
from marketplace.errors import Conflict, Unauthorized, ValidationProblem
from marketplace.organisations.models import Organisation
from marketplace.reference import USER_ROLES, check_uscc

_hashers: dict[str, PasswordHasher] = {}
_dummy_hashes: dict[str, str] = {}


def _hasher() -> PasswordHasher:
    """argon2id with the configured profile (RFC 9106 low-memory; tests use CHEAPEST)."""
    name = current_app.config.get("PASSWORD_PROFILE", "RFC_9106_LOW_MEMORY")
    if name not in _hashers:
        _hashers[name] = PasswordHasher.from_parameters(getattr(profiles, name))
        # Verifying against this when the user does not exist keeps the timing the same.
        _dummy_hashes[name] = _hashers[name].hash("not a real password")
    return _hashers[name]


def _dummy_hash() -> str:
    _hasher()
    return _dummy_hashes[current_app.config.get("PASSWORD_PROFILE", "RFC_9106_LOW_MEMORY")]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    actor: Identity, *, username: str, password: str, role: str, organization_uscc: str | None
) -> User:
    errors: dict[str, list[str]] = {}
    username = username.strip()
    if not (3 <= len(username) <= 80):
        errors.setdefault("username", []).append("3 to 80 characters")
    if len(password) < 10:
        errors.setdefault("password", []).append("at least 10 characters")
    if role not in USER_ROLES:
        errors.setdefault("role", []).append(f"one of {', '.join(USER_ROLES)}")
    org: Organisation | None = None
    if role in ("org_admin", "org_member"):
        if not organization_uscc:
            errors.setdefault("organization", []).append("an organisation role needs one")
        else:
            try:
                code = check_uscc(organization_uscc)
            except ValueError as exc:
                errors.setdefault("organization", []).append(str(exc))
            else:
                org = db.session.scalar(select(Organisation).where(Organisation.uscc == code))
                if org is None:
                    errors.setdefault("organization", []).append(f"no organisation {code}")
    elif organization_uscc:
        errors.setdefault("organization", []).append("bureau accounts belong to no organisation")
    if errors:
        raise ValidationProblem(errors=errors)
    if db.session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(f"the username {username} is taken")
    user = User(
        username=username,
        password_hash=_hasher().hash(password),
        role=role,
        organization_id=org.id if org else None,
    )
    db.session.add(user)
    db.session.flush()
    record(actor, "user.create", "user", user.id,
           after={"username": username, "role": role, "organization": org.uscc if org else None})
    return user


def issue_token(username: str, password: str) -> tuple[str, ApiToken]:
    user = db.session.scalar(select(User).where(User.username == username))
    try:
        _hasher().verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None or not user.is_active:
        raise Unauthorized("wrong username or password")
    token = secrets.token_urlsafe(32)
    ttl: timedelta = current_app.config["TOKEN_TTL"]
    row = ApiToken(user_id=user.id, token_hash=_token_hash(token), expires_at=db.utcnow() + ttl)
    db.session.add(row)
    db.session.flush()
    return token, row


def revoke_token(actor: Identity, token: str) -> None:
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if row is None or row.user_id != actor.user_id:
        raise Unauthorized("unknown token")
    row.revoked_at = db.utcnow()
    db.session.flush()


# Built once: every signed-in request runs it, and a statement reused skips SQLAlchemy's
# construction and cache key (about a third of its cost in Python).
_TOKEN_IDENTITY = (
    select(ApiToken.expires_at, ApiToken.revoked_at, User.id, User.username, User.role,
           User.organization_id, User.is_active)
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


def identity_for_token(token: str, now: datetime | None = None) -> Identity:
    now = now or db.utcnow()
    row = db.connection().execute(_TOKEN_IDENTITY, {"token_hash": _token_hash(token)}).one_or_none()
    if row is None or row.revoked_at is not None or not row.is_active:
        raise Unauthorized("the token is unknown or revoked")
    expires_at = row.expires_at
    if expires_at.tzinfo is None:  # pragma: no cover - UTCDateTime always adds it
        raise Unauthorized("the token is unknown or revoked")
    if expires_at <= now:
        raise Unauthorized("the token has expired")
    return Identity(user_id=row.id, username=row.username, role=row.role,
                    organization_id=row.organization_id)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def current_identity() -> Identity:
    """The acting identity of this request, read once from the bearer token."""
    if "identity" not in g:
        token = bearer_token()
        g.identity = identity_for_token(token) if token else ANONYMOUS
    identity: Identity = g.identity
    return identity
