from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from marketplace import db
from marketplace.auth.models import ApiToken, User
from tests.dbutil import PASSWORD


def test_token_exchange_and_me(client, create_user) -> None:
    user = create_user("bureau_reviewer")
    response = client.post("/api/v1/auth/tokens",
                           json={"username": user.username, "password": PASSWORD})
    assert response.status_code == 201
    token = response.get_json()["token"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.get_json()["role"] == "bureau_reviewer"
    # Only the hash is stored.
    stored = db.session.scalar(select(ApiToken.token_hash).where(ApiToken.user_id == user.id))
    assert stored != token and len(stored) == 64


def test_passwords_are_hashed_with_argon2(create_user) -> None:
    user = create_user("bureau_admin")
    stored = db.session.scalar(select(User.password_hash).where(User.id == user.id))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_wrong_password_and_unknown_user_look_the_same(client, create_user) -> None:
    user = create_user("bureau_admin")
    wrong = client.post("/api/v1/auth/tokens", json={"username": user.username, "password": "x"})
    nobody = client.post("/api/v1/auth/tokens", json={"username": "nobody", "password": "x"})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.get_json()["detail"] == nobody.get_json()["detail"]


def test_expired_and_revoked_tokens_are_refused(client, create_user, login) -> None:
    user = create_user("bureau_admin")
    headers = login(user)
    token = headers["Authorization"].split()[1]
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200

    revoked = client.post("/api/v1/auth/tokens/revoke", json={"token": token}, headers=headers)
    assert revoked.status_code == 204
    after = client.get("/api/v1/auth/me", headers=headers)
    assert after.status_code == 401 and after.mimetype == "application/problem+json"

    headers = login(user)
    row = db.session.scalars(select(ApiToken).order_by(ApiToken.id.desc())).first()
    row.expires_at = db.utcnow() - timedelta(seconds=1)
    db.session.flush()
    expired = client.get("/api/v1/auth/me", headers=headers)
    assert expired.status_code == 401
    assert "expired" in expired.get_json()["detail"]


def test_garbage_token_is_401_not_500(client) -> None:
    response = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer \x00garbage"})
    assert response.status_code == 401


def test_only_the_bureau_admin_creates_accounts(client, as_role, create_org) -> None:
    org = create_org(kind="university", region_code="320505")
    body = {"username": "univ-admin", "password": "long-enough-password", "role": "org_admin",
            "organization": org.uscc.lower()}
    assert client.post("/api/v1/users", json=body).status_code == 401
    assert client.post("/api/v1/users", json=body,
                       headers=as_role("org_admin")).status_code == 403
    created = client.post("/api/v1/users", json=body, headers=as_role("bureau_admin"))
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["organization_id"] == org.id
    again = client.post("/api/v1/users", json=body, headers=as_role("bureau_admin"))
    assert again.status_code == 409


def test_org_roles_need_an_organisation(client, as_role) -> None:
    response = client.post("/api/v1/users", headers=as_role("bureau_admin"), json={
        "username": "lonely", "password": "long-enough-password", "role": "org_member"})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "organization"


def test_users_create_command(app) -> None:
    runner = app.test_cli_runner()
    from marketplace.cli import cli

    ok = runner.invoke(cli, ["users", "create", "--username", "cli-admin", "--password",
                             "long-enough-password", "--role", "bureau_admin"])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(cli, ["users", "create", "--username", "x", "--password", "short",
                              "--role", "org_admin"])
    assert bad.exit_code != 0
    assert "username" in bad.output and "password" in bad.output
