"""A small market for the contract tests: three parties, their members, an outsider, the bureau."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient


@dataclass
class Market:
    client: FlaskClient
    seller: Any
    buyer: Any
    intermediary: Any
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def terms(self, **changes: Any) -> dict[str, Any]:
        body = {
            "type": "transfer", "subtype": "patent_right",
            "title": "一种锂电池隔膜的制备方法专利转让",
            "field": "new_materials", "seller_uscc": self.seller.uscc,
            "buyer_uscc": self.buyer.uscc, "intermediary_uscc": self.intermediary.uscc,
            "total_amount": "500000.00", "technical_amount": "450000.00",
            "signed_on": "2025-03-01", "related_party": False,
        }
        body.update(changes)
        return {k: v for k, v in body.items() if v is not ...}

    def post(self, path: str, who: str, json: Any = None, **kw: Any) -> Any:
        return self.client.post(f"/api/v1/contracts{path}", json=json, headers={
            **self.headers[who], **kw.pop("headers", {})}, **kw)

    def get(self, path: str, who: str | None = None, **kw: Any) -> Any:
        return self.client.get(f"/api/v1/contracts{path}",
                               headers=self.headers[who] if who else {}, **kw)

    def draft(self, who: str = "seller", **changes: Any) -> dict[str, Any]:
        response = self.post("", who, self.terms(**changes))
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def submitted(self, **changes: Any) -> dict[str, Any]:
        contract = self.draft(**changes)
        assert self.post(f"/{contract['id']}/confirm", "buyer").status_code == 200
        response = self.post(f"/{contract['id']}/submit", "seller")
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def registered(self, **changes: Any) -> dict[str, Any]:
        contract = self.submitted(**changes)
        response = self.post(f"/{contract['id']}/register", "reviewer")
        assert response.status_code == 200, response.get_json()
        return response.get_json()


def build_market(client: FlaskClient, create_org: Callable[..., Any],
                 create_user: Callable[..., Any], login: Callable[[Any], dict[str, str]]) -> Market:
    seller = create_org(kind="university", region_code="320505", name="苏州某大学")
    buyer = create_org(kind="enterprise", region_code="320583", name="昆山某电池有限公司")
    intermediary = create_org(kind="intermediary", region_code="320571", name="园区技术转移中心")
    outsider = create_org(kind="enterprise", region_code="320506", name="吴中某公司")
    m = Market(client, seller, buyer, intermediary)
    m.headers = {
        "seller": login(create_user("org_member", seller)),
        "seller_admin": login(create_user("org_admin", seller)),
        "buyer": login(create_user("org_admin", buyer)),
        "intermediary": login(create_user("org_member", intermediary)),
        "outsider": login(create_user("org_admin", outsider)),
        "reviewer": login(create_user("bureau_reviewer")),
        "admin": login(create_user("bureau_admin")),
    }
    return m


@pytest.fixture
def market(client: FlaskClient, create_org: Callable[..., Any], create_user: Callable[..., Any],
           login: Callable[[Any], dict[str, str]]) -> Market:
    return build_market(client, create_org, create_user, login)


@pytest.fixture
def committed_market(committing_app: Flask) -> Market:
    """The same market really committed (PostgreSQL), for requests from several threads."""
    from marketplace import db
    from marketplace.auth.identity import system
    from marketplace.auth.services import create_user as _user
    from marketplace.organisations import services as orgs
    from tests.dbutil import PASSWORD, next_seq, uscc_for

    client = committing_app.test_client()

    def create_org(kind: str, region_code: str, name: str) -> Any:
        org = orgs.register(system("test"), {"uscc": uscc_for(region_code, kind), "name": name,
                                             "kind": kind, "region_code": region_code})
        db.session.commit()
        return org

    def create_user(role: str, org: Any = None) -> Any:
        user = _user(system("test"), username=f"{role}-{next_seq()}", password=PASSWORD,
                     role=role, organization_uscc=org.uscc if org is not None else None)
        db.session.commit()
        return user

    def login(user: Any) -> dict[str, str]:
        response = client.post("/api/v1/auth/tokens",
                               json={"username": user.username, "password": PASSWORD})
        return {"Authorization": f"Bearer {response.get_json()['token']}"}

    return build_market(client, create_org, create_user, login)


@pytest.fixture
def parties(create_org):
    """A seller, a buyer and an intermediary, for the import tests' rows (`row_cells`)."""
    return {
        "s": create_org(kind="university", region_code="320505"),
        "b": create_org(kind="enterprise", region_code="320583"),
        "i": create_org(kind="intermediary", region_code="320571"),
    }
