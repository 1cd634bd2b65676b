from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from marketplace import db
from marketplace.audit.models import AuditEntry
from marketplace.contracts import lifecycle
from marketplace.contracts.models import Contract, ContractVersion


def _fields(response) -> set[str]:
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    return {e["field"] for e in response.get_json()["errors"]}


def test_record_returns_the_whole_contract(market) -> None:
    response = market.post("", "seller", market.terms())
    assert response.status_code == 201, response.get_json()
    c = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/contracts/{c['id']}")
    assert c["status"] == "draft" and c["version"] == 1 and c["source"] == "api"
    assert c["contract_no"] is None and c["registered_at"] is None
    assert (c["total_amount"], c["technical_amount"]) == ("500000.00", "450000.00")
    assert c["seller"] == {"id": market.seller.id, "uscc": market.seller.uscc,
                           "name": "苏州某大学"}
    assert c["buyer"]["uscc"] == market.buyer.uscc
    assert c["intermediary"]["name"] == "园区技术转移中心"
    assert (c["type"], c["subtype"], c["field"], c["signed_on"]) == (
        "transfer", "patent_right", "new_materials", "2025-03-01")
    # The answer is built from what was written, not read back: it must be the stored contract.
    assert market.get(f"/{c['id']}", "seller").get_json() == c


def test_codes_and_amounts_are_normalised(market) -> None:
    full_width = "".join(chr(ord(ch) + 0xFEE0) for ch in market.buyer.uscc)
    c = market.draft(buyer_uscc=f" {full_width.lower()} ", total_amount=1200,
                     technical_amount="1000.5", intermediary_uscc=None,
                     type="consulting", subtype=None)
    assert c["buyer"]["uscc"] == market.buyer.uscc
    assert (c["total_amount"], c["technical_amount"]) == ("1200.00", "1000.50")
    assert c["intermediary"] is None


def test_bad_body_names_every_field_and_writes_nothing(market) -> None:
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    response = market.post("", "seller", {
        "type": "sale", "subtype": "exclusive", "title": "  ", "field": "space",
        "seller_uscc": "91350100M000100Y44", "buyer_uscc": "91350100M000100Y43",
        "intermediary_uscc": 7, "total_amount": "100.001", "technical_amount": "-5",
        "signed_on": "2025-02-30", "related_party": "maybe", "extra": 1,
    })
    assert _fields(response) == {
        "type", "title", "field", "seller_uscc", "buyer_uscc", "intermediary_uscc",
        "total_amount", "technical_amount", "signed_on", "related_party", "extra",
    }
    messages = {e["field"]: e["message"] for e in response.get_json()["errors"]}
    assert "no organisation" in messages["buyer_uscc"]
    assert "two decimals" in messages["total_amount"]

    # Cross-field problems are reported together with the field problems.
    response = market.post("", "seller", market.terms(
        type="license", subtype="patent_right", technical_amount="600000.00",
        buyer_uscc=market.seller.uscc, intermediary_uscc=market.seller.uscc,
        signed_on=tomorrow, title="x" * 301))
    assert _fields(response) == {"subtype", "technical_amount", "buyer_uscc",
                                 "intermediary_uscc", "signed_on", "title"}
    missing = market.post("", "seller", {})
    assert _fields(missing) == {"type", "title", "field", "seller_uscc", "buyer_uscc",
                                "total_amount", "technical_amount", "signed_on"}
    no_subtype = market.post("", "seller", market.terms(type="transfer", subtype=None))
    assert _fields(no_subtype) == {"subtype"}
    extra_subtype = market.post("", "seller", market.terms(type="service", subtype="sole"))
    assert _fields(extra_subtype) == {"subtype"}
    zero = market.post("", "seller", market.terms(total_amount="0", technical_amount="0.00"))
    assert _fields(zero) == {"total_amount", "technical_amount"}
    hidden = market.post("", "seller", market.terms(title="专利\u202e转让"))
    assert _fields(hidden) == {"title"}
    assert db.session.scalar(select(func.count()).select_from(Contract)) == 0


def test_who_may_record(market, client) -> None:
    assert client.post("/api/v1/contracts", json=market.terms()).status_code == 401
    assert market.post("", "reviewer", market.terms()).status_code == 403
    outsider = market.post("", "outsider", market.terms())
    assert outsider.status_code == 403 and outsider.mimetype == "application/problem+json"
    assert market.post("", "intermediary", market.terms()).status_code == 403
    assert market.post("", "buyer", market.terms()).status_code == 201


def test_the_whole_life_cycle(market) -> None:
    c = market.draft()
    cid = c["id"]
    assert market.post(f"/{cid}/submit", "seller").status_code == 409  # not confirmed yet
    assert market.post(f"/{cid}/confirm", "seller").status_code == 403  # the buyer confirms
    confirmed = market.post(f"/{cid}/confirm", "buyer")
    assert confirmed.status_code == 200 and confirmed.get_json()["status"] == "confirmed"
    assert confirmed.get_json()["confirmed_at"]
    assert market.post(f"/{cid}/submit", "buyer").status_code == 403  # the seller submits
    submitted = market.post(f"/{cid}/submit", "seller_admin")
    assert submitted.get_json()["status"] == "submitted"
    assert market.post(f"/{cid}/register", "seller").status_code == 403
    registered = market.post(f"/{cid}/register", "reviewer")
    assert registered.status_code == 200
    body = registered.get_json()
    assert body["status"] == "registered" and body["registered_at"]
    year = date.fromisoformat(body["registered_at"][:10]).year
    assert re.fullmatch(rf"({year}|{year + 1})3205\d{{8}}", body["contract_no"])

    again = market.post(f"/{cid}/register", "admin")
    assert again.status_code == 409
    problem = again.get_json()
    assert again.mimetype == "application/problem+json"
    assert problem["current_state"] == "registered"
    assert problem["allowed_actions"] == ["amend", "cancel"]

    cancelled = market.post(f"/{cid}/cancel", "admin",
                            {"reason": "双方协商解除", "cancelled_at": body["registered_at"]})
    assert cancelled.status_code == 200, cancelled.get_json()
    out = cancelled.get_json()
    assert out["status"] == "cancelled" and out["cancellation_reason"] == "双方协商解除"
    assert out["cancelled_at"] == body["registered_at"]
    assert out["contract_no"] == body["contract_no"]
    late = market.post(f"/{cid}/amend", "admin", {"title": "新标题", "reason": "x"})
    assert late.status_code == 409 and late.get_json()["allowed_actions"] == []

    actions = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.entity_type == "contract",
                                        AuditEntry.entity_id == str(cid))
        .order_by(AuditEntry.id)).all()
    assert actions == ["contract.record", "contract.confirm", "contract.submit",
                       "contract.register", "contract.cancel"]


def test_registration_numbers_are_sequential(market) -> None:
    first = market.registered()["contract_no"]
    second = market.registered()["contract_no"]
    assert int(second[8:]) == int(first[8:]) + 1 and first[:8] == second[:8]


def test_reject_needs_a_known_reason_and_a_note(market) -> None:
    cid = market.submitted()["id"]
    bad = market.post(f"/{cid}/reject", "reviewer", {"reason": "too_expensive"})
    assert _fields(bad) == {"reason", "note"}
    assert market.post(f"/{cid}/reject", "buyer",
                       {"reason": "other", "note": "x"}).status_code == 403
    done = market.post(f"/{cid}/reject", "reviewer",
                       {"reason": "public_domain_as_transfer", "note": "该技术已公开"})
    assert done.status_code == 200
    out = done.get_json()
    assert (out["status"], out["rejection_reason"], out["rejection_note"]) == (
        "rejected", "public_domain_as_transfer", "该技术已公开")
    assert out["contract_no"] is None
    assert market.post(f"/{cid}/register", "reviewer").get_json()["allowed_actions"] == []
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "contract.reject"))
    assert entry.one().reason == "public_domain_as_transfer: 该技术已公开"


def test_amendments_make_readable_versions(market) -> None:
    c = market.registered()
    cid = c["id"]
    assert market.post(f"/{cid}/amend", "seller", {"reason": "x"}).status_code == 403
    nothing = market.post(f"/{cid}/amend", "reviewer",
                          {"title": c["title"], "reason": "无变化"})
    assert _fields(nothing) == {"body"}
    parties = market.post(f"/{cid}/amend", "reviewer", {"buyer_uscc": market.seller.uscc,
                                                         "reason": "换买方"})
    assert _fields(parties) == {"buyer_uscc"}
    too_big = market.post(f"/{cid}/amend", "reviewer",
                          {"technical_amount": "900000.00", "reason": "x"})
    assert _fields(too_big) == {"technical_amount"}

    amended = market.post(f"/{cid}/amend", "reviewer", {
        "total_amount": "520000.00", "technical_amount": "470000.00",
        "intermediary_uscc": None, "reason": "补充协议增加技术服务费"})
    assert amended.status_code == 200, amended.get_json()
    out = amended.get_json()
    assert (out["version"], out["total_amount"], out["intermediary"]) == (2, "520000.00", None)
    assert out["status"] == "registered" and out["contract_no"] == c["contract_no"]

    versions = market.get(f"/{cid}/versions", "buyer").get_json()
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["terms"]["total_amount"] == "500000.00"
    assert versions[0]["terms"]["intermediary_uscc"] == market.intermediary.uscc
    assert versions[0]["reason"] == "recorded"
    assert versions[1]["terms"]["total_amount"] == "520000.00"
    assert versions[1]["terms"]["intermediary_uscc"] is None
    assert versions[1]["reason"] == "补充协议增加技术服务费"
    assert versions[1]["changed_by"].startswith("bureau_reviewer")
    assert versions[1]["changed_at"] >= versions[0]["changed_at"]
    # The intermediary removed by the amendment no longer reads the contract.
    assert market.get(f"/{cid}", "intermediary").status_code == 404


def test_an_amendment_may_name_another_intermediary(market, create_org) -> None:
    other = create_org(kind="intermediary", region_code="320571", name="相城技术经纪公司")
    registered = market.registered()
    amended = market.post(f"/{registered['id']}/amend", "reviewer", {
        "intermediary_uscc": other.uscc, "reason": "更换中介"})
    assert amended.status_code == 200, amended.get_json()
    assert amended.get_json()["intermediary"] == {"id": other.id, "uscc": other.uscc,
                                                  "name": "相城技术经纪公司"}
    versions = market.get(f"/{registered['id']}/versions", "seller").get_json()
    assert [v["terms"]["intermediary_uscc"] for v in versions] == [
        market.intermediary.uscc, other.uscc]
    assert market.get(f"/{registered['id']}", "intermediary").status_code == 404


def test_cancel_checks_its_date(market) -> None:
    c = market.registered()
    future = (date.today() + timedelta(days=3)).isoformat()
    bad = market.post(f"/{c['id']}/cancel", "admin", {"reason": "x", "cancelled_at": future})
    assert _fields(bad) == {"cancelled_at"}
    before = market.post(f"/{c['id']}/cancel", "admin",
                         {"reason": "x", "cancelled_at": "2020-01-01"})
    assert _fields(before) == {"cancelled_at"}
    bad_date = market.post(f"/{c['id']}/cancel", "admin", {"cancelled_at": "2025-02-30"})
    assert _fields(bad_date) == {"cancelled_at", "reason"}
    assert market.get(f"/{c['id']}", "admin").get_json()["status"] == "registered"


def test_who_reads_what(market, client) -> None:
    mine = market.draft()
    other = market.draft(intermediary_uscc=None)
    cid = mine["id"]
    for who in ("seller", "buyer", "intermediary", "reviewer", "admin"):
        assert market.get(f"/{cid}", who).status_code == 200, who
    assert market.get(f"/{cid}", "outsider").status_code == 404
    assert market.get(f"/{other['id']}", "intermediary").status_code == 404
    assert market.get(f"/{cid}").status_code == 401
    assert market.get("").status_code == 401
    assert market.get(f"/{cid}/versions", "outsider").status_code == 404
    assert market.get("/999999", "admin").status_code == 404
    # An outsider cannot act on it either, and learns nothing: 404, not 403 or 409.
    assert market.post(f"/{cid}/confirm", "outsider").status_code == 404
    assert market.post(f"/{cid}/payments", "outsider",
                       {"paid_on": "2025-03-02", "amount": "1.00"}).status_code == 404

    assert {c["id"] for c in market.get("", "intermediary").get_json()} == {cid}
    assert len(market.get("", "seller").get_json()) == 2
    assert market.get("", "outsider").get_json() == []
    assert len(market.get("", "reviewer").get_json()) == 2


def test_list_filters(market) -> None:
    a = market.registered()
    b = market.draft(type="service", subtype=None, field="biomedicine")
    c = market.draft(buyer_uscc=market.intermediary.uscc, intermediary_uscc=None)

    def ids(query: str) -> set[int]:
        response = market.get(f"?{query}", "reviewer")
        assert response.status_code == 200, response.get_json()
        return {x["id"] for x in response.get_json()}

    assert ids("status=registered") == {a["id"]}
    assert ids("field=biomedicine") == {b["id"]}
    assert ids("type=transfer") == {a["id"], c["id"]}
    assert ids(f"buyer={market.intermediary.uscc.lower()}") == {c["id"]}
    assert ids(f"seller={market.seller.uscc}") == {a["id"], b["id"], c["id"]}
    assert ids(f"contract_no={a['contract_no']}") == {a["id"]}
    day = a["registered_at"][:10]
    assert ids(f"registered_from={day}&registered_to={day}") | ids(
        f"registered_from={(date.fromisoformat(day) + timedelta(days=1)).isoformat()}"
    ) == {a["id"]}
    assert ids("registered_to=2000-01-01") == set()
    bad = market.get("?status=lost&registered_from=2025-02-30&seller=123", "reviewer")
    assert _fields(bad) == {"status", "registered_from", "seller"}
    page = market.get("?page_size=1", "reviewer")
    assert len(page.get_json()) == 1 and "X-Pagination" in page.headers


def test_versions_are_stored_per_version(market) -> None:
    c = market.registered()
    market.post(f"/{c['id']}/amend", "reviewer", {"title": "第二版", "reason": "更正名称"})
    market.post(f"/{c['id']}/amend", "reviewer", {"title": "第三版", "reason": "再更正"})
    rows = db.session.scalars(select(ContractVersion.version)
                              .where(ContractVersion.contract_id == c["id"])
                              .order_by(ContractVersion.version)).all()
    assert rows == [1, 2, 3]


@pytest.mark.parametrize("state", ["draft", "confirmed", "submitted", "registered", "rejected",
                                   "cancelled"])
def test_the_table_names_what_is_allowed(state: str) -> None:
    allowed = lifecycle.allowed_actions(state)
    for action in lifecycle.ACTIONS:
        assert (lifecycle.step(state, action) is not None) == (action in allowed)


def test_an_unknown_achievement_is_refused(market) -> None:
    """The link to the achievement it transacts is checked; marking it traded is tested with
    the achievements (tests/achievements)."""
    response = market.post("", "seller", json=market.terms(achievement_id=424242))
    assert response.status_code == 422
    assert "achievement_id" in {e["field"] for e in response.get_json()["errors"]}
