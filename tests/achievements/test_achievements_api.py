"""Achievements through the API: registration, notice, objections, search, matching."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from marketplace import db
from marketplace.achievements.models import Achievement
from marketplace.achievements.services import close_finished_notices
from marketplace.audit.models import AuditEntry
from marketplace.auth.identity import system


@pytest.fixture
def university(create_org):
    return create_org(kind="university", region_code="320508", name="苏州示范大学")


@pytest.fixture
def owner(as_role, university):
    return as_role("org_admin", university)


def body(university, **over):
    data = {"title": "高镍三元正极材料表面包覆技术",
            "summary": "原子层沉积包覆抑制界面副反应，提高锂离子电池高温循环寿命。",
            "keywords": ["锂离子电池", "正极材料"], "field": "new_energy", "trl": 6,
            "owners": [{"uscc": university.uscc, "share": "100"}],
            "ip_rights": [{"kind": "invention_patent", "number": "ZL200710308494.X"}],
            "transfer_modes": ["transfer", "license"], "price": "1200000.00"}
    data.update(over)
    return data


def create(client, headers, data) -> dict:
    response = client.post("/api/v1/achievements", json=data, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_register_draft_then_notice_then_public(client, owner, university, as_role) -> None:
    a = create(client, owner, body(university))
    assert a["status"] == "draft" and a["ip_rights"][0]["number"] == "200710308494.X"
    assert client.get(f"/api/v1/achievements/{a['id']}").status_code == 404
    assert client.get(f"/api/v1/achievements/{a['id']}",
                      headers=as_role("org_admin")).status_code == 404
    assert client.get(f"/api/v1/achievements/{a['id']}",
                      headers=as_role("bureau_reviewer")).status_code == 200
    submitted = client.post(f"/api/v1/achievements/{a['id']}/submit", headers=owner)
    assert submitted.status_code == 200 and submitted.get_json()["status"] == "notice"
    assert client.get(f"/api/v1/achievements/{a['id']}").status_code == 200
    feed = client.get("/api/v1/achievements/notices").get_json()
    assert [x["id"] for x in feed] == [a["id"]]
    again = client.post(f"/api/v1/achievements/{a['id']}/submit", headers=owner)
    assert again.status_code == 409
    assert again.get_json()["current_state"] == "notice"
    assert "withdraw" in again.get_json()["allowed_actions"]


@pytest.mark.parametrize(("change", "field"), [
    ({"owners": "half"}, "owners"),
    ({"trl": 0}, "trl"),
    ({"trl": 10}, "trl"),
    ({"ip_rights": [{"kind": "invention_patent", "number": "200710308494.1"}]},
     "ip_rights.0.number"),
    ({"keywords": [f"词{i}" for i in range(11)]}, "keywords"),
])
def test_bad_input_names_the_field_and_changes_nothing(client, owner, university, change,
                                                        field, create_org) -> None:
    data = body(university, **change)
    if change.get("owners") == "half":
        other = create_org(kind="research_institute")
        data["owners"] = [{"uscc": university.uscc, "share": "60"},
                          {"uscc": other.uscc, "share": "30"}]
    response = client.post("/api/v1/achievements", json=data, headers=owner)
    assert response.status_code == 422
    assert field in {e["field"] for e in response.get_json()["errors"]}
    assert db.session.scalar(select(func.count()).select_from(Achievement)) == 0


def test_objection_hold_and_rulings(client, owner, university, as_role) -> None:
    a = create(client, owner, body(university))
    client.post(f"/api/v1/achievements/{a['id']}/submit", headers=owner)
    other = as_role("org_member")
    own = client.post(f"/api/v1/achievements/{a['id']}/objections", headers=owner,
                      json={"grounds": "自己的"})
    assert own.status_code == 403
    objection = client.post(f"/api/v1/achievements/{a['id']}/objections", headers=other,
                            json={"grounds": "该专利权属存在争议，我单位为共同发明人所在单位。"})
    assert objection.status_code == 201
    assert client.get(f"/api/v1/achievements/{a['id']}").status_code == 404  # on hold
    reviewer = as_role("bureau_reviewer")
    dismissed = client.post(f"/api/v1/achievements/{a['id']}/rule", headers=reviewer,
                            json={"decision": "dismissed", "note": "权属证明齐全"})
    assert dismissed.status_code == 200 and dismissed.get_json()["status"] == "notice"

    b = create(client, owner, body(university, title="另一项成果"))
    client.post(f"/api/v1/achievements/{b['id']}/submit", headers=owner)
    client.post(f"/api/v1/achievements/{b['id']}/objections", headers=other,
                json={"grounds": "抄袭"})
    upheld = client.post(f"/api/v1/achievements/{b['id']}/rule", headers=reviewer,
                         json={"decision": "upheld", "note": "异议成立"})
    assert upheld.get_json()["status"] == "rejected"


def test_objection_after_the_notice_closed_is_refused(client, owner, university,
                                                      as_role) -> None:
    a = create(client, owner, body(university))
    client.post(f"/api/v1/achievements/{a['id']}/submit", headers=owner)
    db.session.execute(update(Achievement).where(Achievement.id == a["id"]).values(
        notice_ends_at=db.utcnow() - timedelta(minutes=1)))
    db.session.commit()
    late = client.post(f"/api/v1/achievements/{a['id']}/objections",
                       headers=as_role("org_admin"), json={"grounds": "晚了"})
    assert late.status_code == 409


def test_finished_notices_are_listed_once(client, owner, university, app) -> None:
    a = create(client, owner, body(university))
    client.post(f"/api/v1/achievements/{a['id']}/submit", headers=owner)
    assert close_finished_notices() == 0
    later = db.utcnow() + timedelta(days=app.config["NOTICE_DAYS"], minutes=1)
    assert close_finished_notices(later) == 1
    assert close_finished_notices(later) == 0
    assert client.get(f"/api/v1/achievements/{a['id']}").get_json()["status"] == "listed"


def test_search_in_chinese(client, owner, university) -> None:
    for title, summary in [("锂离子电池快充技术", "提升锂离子电池快充性能"),
                           ("固态电池电解质薄膜", "全固态电池的关键材料"),
                           ("电子元件与池塘水质监测", "用于水产养殖的电子监测"),
                           ("纺织品瑕疵检测系统", "机器视觉检测布面瑕疵")]:
        a = create(client, owner, body(university, title=title, summary=summary, keywords=[]))
        client.post(f"/api/v1/achievements/{a['id']}/submit", headers=owner)
    found = [x["title"] for x in client.get("/api/v1/achievements?q=锂电池").get_json()]
    assert set(found[:2]) == {"锂离子电池快充技术", "固态电池电解质薄膜"}
    battery = [x["title"] for x in client.get("/api/v1/achievements?q=电池").get_json()]
    assert "电子元件与池塘水质监测" not in battery and len(battery) == 2
    assert client.get("/api/v1/achievements?q=瑕疵&field=new_energy").get_json()[0]["score"] > 0


def test_demand_matches_explain_themselves(client, owner, university, as_role,
                                           create_org) -> None:
    a = create(client, owner, body(university))
    client.post(f"/api/v1/achievements/{a['id']}/submit", headers=owner)
    close_finished_notices(db.utcnow() + timedelta(days=30))
    db.session.commit()
    enterprise = as_role("org_admin", create_org(kind="enterprise", region_code="320505"))
    demand = client.post("/api/v1/demands", headers=enterprise, json={
        "title": "提升动力电池高温循环寿命",
        "description": "三元锂电池高温衰减快，寻求正极改性技术",
        "field": "new_energy", "budget_min": "500000.00", "budget_max": "1500000.00",
        "min_trl": 5})
    assert demand.status_code == 201, demand.get_json()
    matches = client.get(f"/api/v1/demands/{demand.get_json()['id']}/matches",
                         headers=enterprise).get_json()
    assert matches[0]["achievement_id"] == a["id"]
    assert set(matches[0]["parts"]) == {"text", "field", "readiness", "price", "total"}
    assert matches[0]["parts"]["field"] == 1.0 and matches[0]["parts"]["text"] > 0
    back = client.get(f"/api/v1/achievements/{a['id']}/matches", headers=enterprise).get_json()
    assert back[0]["demand_id"] == demand.get_json()["id"]
    university_cannot_post = client.post("/api/v1/demands", headers=owner, json={
        "title": "x", "description": "y", "field": "new_energy", "budget_min": "1.00",
        "budget_max": "2.00", "min_trl": 1})
    assert university_cannot_post.status_code == 403


def test_import_catalogue_is_all_or_nothing_and_idempotent(app, client, university,
                                                           monkeypatch) -> None:
    from marketplace.achievements import services
    from marketplace.achievements.services import import_csv
    from marketplace.imports import ImportRejected

    monkeypatch.setattr(services, "IMPORT_BATCH", 1)  # each row a batch of its own

    good = ("key,owner_uscc,title,summary,keywords,field,trl,transfer_modes,price,status\n"
            f"K1,{university.uscc.lower()},石墨烯防腐涂料,盐雾寿命提高两倍,石墨烯;涂料,"
            "new_materials,7,transfer;license,300000.00,listed\n"
            f"K2,{university.uscc},稻田甲烷减排,间歇灌溉,,agriculture,6,license,,notice\n")
    bad = good + f"K3,{university.uscc},x,y,,space,0,sell,1.234,sold\n"
    with pytest.raises(ImportRejected) as rejected:
        import_csv(system("test"), io.StringIO(bad))
    assert {e.column for e in rejected.value.report.errors} == {
        "field", "trl", "transfer_modes", "price", "status"}
    assert db.session.scalar(select(func.count()).select_from(Achievement)) == 0
    first = import_csv(system("test"), io.StringIO(good))
    second = import_csv(system("test"), io.StringIO(good))
    assert (first.inserted, second.inserted, second.unchanged) == (2, 0, 2)
    db.session.commit()
    # Imported achievements are indexed for search like those made through the API.
    found = client.get("/api/v1/achievements", query_string={"q": "石墨烯 涂料"}).get_json()
    assert [a["title"] for a in found] == ["石墨烯防腐涂料"]
    found = client.get("/api/v1/achievements", query_string={"q": "稻田 甲烷"}).get_json()
    assert [(a["title"], a["status"]) for a in found] == [("稻田甲烷减排", "notice")]


def test_registering_a_contract_marks_the_achievement_traded(client, owner, university,
                                                             as_role, create_org,
                                                             create_user, login) -> None:
    a = create(client, owner, body(university))
    client.post(f"/api/v1/achievements/{a['id']}/submit", headers=owner)
    close_finished_notices(db.utcnow() + timedelta(days=30))
    db.session.commit()
    buyer_org = create_org(kind="enterprise", region_code="320583")
    buyer = login(create_user("org_admin", buyer_org))
    contract = client.post("/api/v1/contracts", headers=owner, json={
        "type": "license", "subtype": "exclusive", "title": "高镍正极包覆技术独占许可",
        "field": "new_energy", "seller_uscc": university.uscc, "buyer_uscc": buyer_org.uscc,
        "total_amount": "1200000.00", "technical_amount": "1000000.00",
        "signed_on": "2026-05-01", "achievement_id": a["id"]}).get_json()
    assert client.post(f"/api/v1/contracts/{contract['id']}/confirm",
                       headers=buyer).status_code == 200
    assert client.post(f"/api/v1/contracts/{contract['id']}/submit",
                       headers=owner).status_code == 200
    registered = client.post(f"/api/v1/contracts/{contract['id']}/register",
                             headers=as_role("bureau_reviewer"))
    assert registered.status_code == 200, registered.get_json()
    assert client.get(f"/api/v1/achievements/{a['id']}").get_json()["status"] == "traded"


def test_two_processes_closing_notices_list_each_once(committing_app) -> None:
    from marketplace.achievements.services import create as create_achievement
    from marketplace.achievements.services import submit
    from marketplace.auth.identity import Identity
    from marketplace.organisations.services import register
    from tests.dbutil import run_together, uscc_for

    org = register(system("test"), {"uscc": uscc_for("320505", "university"),
                                    "name": "并发测试大学", "kind": "university",
                                    "region_code": "320505"})
    actor = Identity(None, "owner", "org_admin", org.id)
    for i in range(20):
        a = create_achievement(actor, {
            "title": f"成果{i}", "summary": "摘要", "keywords": [], "field": "agriculture",
            "trl": 5, "owners": [{"uscc": org.uscc, "share": 100}], "ip_rights": [],
            "transfer_modes": ["license"], "price": None})
        submit(actor, a.id)
    db.session.commit()
    later = db.utcnow() + timedelta(days=30)
    counts = run_together(committing_app, 2, lambda: close_finished_notices(later))
    assert sorted(counts) == [0, 20]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "achievement.list")) == 1


def test_a_draft_changes_only_what_is_sent(client, owner, university) -> None:
    a = create(client, owner, body(university))
    patched = client.patch(f"/api/v1/achievements/{a['id']}", headers=owner,
                           json={"title": "高镍正极材料原子层沉积包覆技术"})
    assert patched.status_code == 200
    got = patched.get_json()
    assert got["title"] == "高镍正极材料原子层沉积包覆技术"
    assert got["keywords"] == a["keywords"] and got["price"] == a["price"]
    found = client.get("/api/v1/achievements?q=原子层沉积", headers=owner).get_json()
    assert [x["id"] for x in found] == [a["id"]]
