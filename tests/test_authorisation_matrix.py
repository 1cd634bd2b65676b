"""Every endpoint × every actor: the status each one must get.

The operations come from the OpenAPI document, so a new endpoint without a row here fails.
Actors: the public (no token), the two bureau roles, the admin and a member of the
organisation that owns the objects (the seller, the achievement's owner, the demand's poster),
and the admin of an unrelated organisation. Bodies are empty (`{}`), so an allowed actor gets
422 from validation and a refused one 401/403/404 before anything is read; actions on objects
are sent in states where they are not allowed, so no cell changes what the next one sees.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

ACTORS = ("public", "bureau_admin", "bureau_reviewer", "owner_admin", "owner_member",
          "other_admin")


def row(spec: str) -> dict[str, int]:
    codes = [int(c) for c in spec.split()]
    assert len(codes) == len(ACTORS)
    return dict(zip(ACTORS, codes, strict=True))


ALL_200 = "200 200 200 200 200 200"

# (method, OpenAPI path) -> statuses in ACTORS order.
EXPECTED: dict[tuple[str, str], str] = {
    # accounts
    ("POST", "/api/v1/auth/tokens"): "422 422 422 422 422 422",
    ("POST", "/api/v1/auth/tokens/revoke"): "401 422 422 422 422 422",
    ("GET", "/api/v1/auth/me"): "401 200 200 200 200 200",
    ("POST", "/api/v1/users"): "401 422 403 403 403 403",
    # organisations: public register of who is who
    ("GET", "/api/v1/organizations"): ALL_200,
    ("POST", "/api/v1/organizations"): "401 422 403 403 403 403",
    ("GET", "/api/v1/organizations/{org_id}"): ALL_200,
    # the audit trail: bureau only
    ("GET", "/api/v1/audit"): "401 200 200 403 403 403",
    # contracts: the parties and the bureau; others do not learn the contract exists
    ("GET", "/api/v1/contracts"): "401 200 200 200 200 200",
    ("POST", "/api/v1/contracts"): "401 403 403 422 422 422",
    ("GET", "/api/v1/contracts/{contract_id}"): "401 200 200 200 200 404",
    ("GET", "/api/v1/contracts/{contract_id}/versions"): "401 200 200 200 200 404",
    ("POST", "/api/v1/contracts/{contract_id}/confirm"): "401 403 403 403 403 404",
    ("POST", "/api/v1/contracts/{contract_id}/submit"): "401 403 403 409 409 404",
    ("POST", "/api/v1/contracts/{contract_id}/register"): "401 409 409 403 403 403",
    ("POST", "/api/v1/contracts/{contract_id}/reject"): "401 422 422 403 403 403",
    ("POST", "/api/v1/contracts/{contract_id}/amend"): "401 422 422 403 403 403",
    ("POST", "/api/v1/contracts/{contract_id}/cancel"): "401 422 422 403 403 403",
    ("GET", "/api/v1/contracts/{contract_id}/payments"): "401 200 200 200 200 404",
    ("POST", "/api/v1/contracts/{contract_id}/payments"): "401 422 422 422 422 404",
    # achievements: the fixture's is withdrawn (not public), so owners may see it but no
    # action is allowed in that state
    ("GET", "/api/v1/achievements"): ALL_200,
    ("POST", "/api/v1/achievements"): "401 403 403 422 422 422",
    ("GET", "/api/v1/achievements/notices"): ALL_200,
    ("GET", "/api/v1/achievements/{achievement_id}"): "404 200 200 200 200 404",
    ("PATCH", "/api/v1/achievements/{achievement_id}"): "401 403 403 409 409 404",
    ("POST", "/api/v1/achievements/{achievement_id}/submit"): "401 403 403 409 409 404",
    ("POST", "/api/v1/achievements/{achievement_id}/withdraw"): "401 403 403 409 409 404",
    ("POST", "/api/v1/achievements/{achievement_id}/objections"): "401 403 403 422 422 422",
    ("POST", "/api/v1/achievements/{achievement_id}/rule"): "401 422 422 403 403 403",
    ("GET", "/api/v1/achievements/{achievement_id}/matches"): "401 200 200 200 200 404",
    # demands: for signed-in users; posted by enterprises' members
    ("GET", "/api/v1/demands"): "401 200 200 200 200 200",
    ("POST", "/api/v1/demands"): "401 403 403 422 422 422",
    ("GET", "/api/v1/demands/{demand_id}"): "401 200 200 200 200 200",
    ("GET", "/api/v1/demands/{demand_id}/matches"): "401 200 200 200 200 200",
    # indices: public; nothing is published for the month asked
    ("GET", "/api/v1/indices/{family}"): ALL_200,
    ("GET", "/api/v1/indices/{family}/{domain}/{period}"): "404 404 404 404 404 404",
    # support: policies are public; runs and the treasury are the bureau's; awards are the
    # bureau's and the receiving organisation's
    ("GET", "/api/v1/support/policies"): ALL_200,
    ("POST", "/api/v1/support/policies"): "401 422 403 403 403 403",
    ("GET", "/api/v1/support/policies/{code}"): ALL_200,
    ("GET", "/api/v1/support/policies/{code}/treasury"): "401 200 200 403 403 403",
    ("GET", "/api/v1/support/runs"): "401 200 200 403 403 403",
    ("POST", "/api/v1/support/runs"): "401 422 403 403 403 403",
    ("GET", "/api/v1/support/awards"): "401 200 200 200 200 200",
    ("GET", "/api/v1/support/awards/{award_id}"): "401 200 200 200 200 404",
    ("POST", "/api/v1/support/awards/{award_id}/approve"): "401 409 409 403 403 403",
    ("POST", "/api/v1/support/awards/{award_id}/pay"): "401 409 403 403 403 403",
}


@pytest.fixture
def world(client, create_org, create_user, login) -> dict[str, Any]:
    """Objects owned by one organisation, and a token for each actor."""
    seller = create_org(kind="university", region_code="320505", name="苏州示范大学")
    buyer = create_org(kind="enterprise", region_code="320583", name="昆山示范科技有限公司")
    other = create_org(kind="enterprise", region_code="320571", name="园区无关企业有限公司")
    headers = {
        "public": {},
        "bureau_admin": login(create_user("bureau_admin")),
        "bureau_reviewer": login(create_user("bureau_reviewer")),
        "owner_admin": login(create_user("org_admin", seller)),
        "owner_member": login(create_user("org_member", seller)),
        "other_admin": login(create_user("org_admin", other)),
    }
    contract = client.post("/api/v1/contracts", headers=headers["owner_admin"], json={
        "type": "license", "subtype": "ordinary", "title": "示范许可合同",
        "field": "new_materials", "seller_uscc": seller.uscc, "buyer_uscc": buyer.uscc,
        "total_amount": "100000.00", "technical_amount": "90000.00",
        "signed_on": "2026-03-01"})
    assert contract.status_code == 201, contract.get_json()
    from marketplace import db
    from marketplace.auth.identity import system
    from marketplace.support.models import SupportAward
    from marketplace.support.services import load_policy

    policy = load_policy(system("test"), {
        "code": "SZ-TT-2026", "year": 2026, "rates": {"seller": "0.03", "buyer": "0.10",
                                                      "intermediary": "0.01"},
        "cap": "500000.00", "min_technical_amount": "0.00", "eligible_types": ["license"],
        "eligible_kinds": {"seller": ["university"], "buyer": ["enterprise"],
                           "intermediary": ["intermediary"]}, "budget": None})
    from decimal import Decimal

    from marketplace.achievements.models import Achievement, AchievementOwner
    from marketplace.demands.models import Demand

    achievement = Achievement(
        owner_id=seller.id, title="示范成果", summary="摘要", keywords=[], field="new_materials",
        trl=5, transfer_modes=["license"], status="withdrawn", created_by="test",
        owners=[AchievementOwner(organization_id=seller.id, share=Decimal("100"))])
    demand = Demand(organization_id=other.id, title="示范需求", description="说明",
                    field="new_materials", budget_min=Decimal("1.00"),
                    budget_max=Decimal("2.00"), min_trl=3, created_by="test")
    db.session.add_all([achievement, demand])
    award = SupportAward(policy_id=policy.id, contract_id=contract.get_json()["id"],
                         role="seller", organization_id=seller.id, region_code="320505",
                         order_key="x", status="computed", explanation={})
    db.session.add(award)
    db.session.commit()
    params = {"org_id": seller.id, "contract_id": contract.get_json()["id"],
              "family": "transfer", "domain": "SZ", "period": "2021-12", "code": policy.code,
              "award_id": award.id, "achievement_id": achievement.id, "demand_id": demand.id}
    return {"headers": headers, "params": params}


def _operations(client) -> list[tuple[str, str]]:
    spec = client.get("/api/v1/openapi.json").get_json()
    return sorted((method.upper(), path) for path, item in spec["paths"].items()
                  for method in item if method in {"get", "post", "put", "patch", "delete"})


def test_every_operation_has_an_expectation(client) -> None:
    missing = [op for op in _operations(client) if op not in EXPECTED]
    stale = [op for op in EXPECTED if op not in set(_operations(client))]
    assert missing == [], f"endpoints without an authorisation row: {missing}"
    assert stale == [], f"rows for endpoints that no longer exist: {stale}"


def test_matrix(client, world) -> None:
    failures = []
    for method, path in _operations(client):
        expected = row(EXPECTED[(method, path)])
        url = re.sub(r"\{(\w+)\}", lambda m: str(world["params"][m.group(1)]), path)
        for actor in ACTORS:
            kwargs: dict[str, Any] = {"headers": world["headers"][actor]}
            if method in {"POST", "PUT", "PATCH"}:
                kwargs["json"] = {}
            response = client.open(url, method=method, **kwargs)
            if response.status_code != expected[actor]:
                failures.append(f"{method} {path} as {actor}: {response.status_code}, "
                                f"expected {expected[actor]}")
            assert response.status_code < 500, f"{method} {path} as {actor}"
    assert failures == []
