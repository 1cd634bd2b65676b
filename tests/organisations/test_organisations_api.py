from __future__ import annotations

import io

import pytest
from stdnum.cn import uscc as stdnum_uscc

from marketplace.reference import check_uscc


@pytest.mark.parametrize("code", ["91350100M000100Y43", "12100000400000624D"])
def test_spec_examples_are_valid_and_agree_with_stdnum(code: str) -> None:
    assert check_uscc(code) == code
    assert stdnum_uscc.is_valid(code)


def test_spec_invalid_example_is_refused() -> None:
    with pytest.raises(ValueError, match="check digit"):
        check_uscc("91350100M000100Y44")


def test_codes_are_normalised_before_checking() -> None:
    assert check_uscc("９１３５０１００ｍ０００１００ｙ４３") == "91350100M000100Y43"
    assert check_uscc(" 91350100 m000100y43\u3000") == "91350100M000100Y43"


def test_register_read_and_list(client, as_role) -> None:
    admin = as_role("bureau_admin")
    body = {"uscc": "９１３５０１００Ｍ０００１００Ｙ４３", "name": "苏州纳米科技发展有限公司",
            "kind": "enterprise", "region_code": "320571"}
    created = client.post("/api/v1/organizations", json=body, headers=admin)
    assert created.status_code == 201, created.get_json()
    org = created.get_json()
    assert org["uscc"] == "91350100M000100Y43"
    assert org["region_kind"] == "district"
    assert org["region_name"] == "苏州工业园区"
    # Chinese comes back as UTF-8, not \u escapes.
    assert "苏州纳米科技发展有限公司".encode() in created.data

    again = client.post("/api/v1/organizations", json=body, headers=admin)
    assert again.status_code == 409
    assert again.mimetype == "application/problem+json"

    one = client.get(f"/api/v1/organizations/{org['id']}")
    assert one.status_code == 200 and one.get_json()["name"] == body["name"]

    listed = client.get("/api/v1/organizations?region_code=320571&name=纳米")
    assert listed.status_code == 200
    assert [o["uscc"] for o in listed.get_json()] == ["91350100M000100Y43"]
    assert "X-Pagination" in listed.headers


def test_external_region_is_accepted_and_marked(client, as_role) -> None:
    admin = as_role("bureau_admin")
    body = {"uscc": "12100000400000624D", "name": "上海某研究院", "kind": "research_institute",
            "region_code": "310115"}
    created = client.post("/api/v1/organizations", json=body, headers=admin)
    assert created.status_code == 201
    assert created.get_json()["region_kind"] == "external"


def test_bad_input_names_every_field(client, as_role) -> None:
    admin = as_role("bureau_admin")
    response = client.post("/api/v1/organizations", headers=admin, json={
        "uscc": "91350100M000100Y44", "name": "x" * 201, "kind": "company",
        "region_code": "3205", "extra": 1,
    })
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    fields = {e["field"] for e in response.get_json()["errors"]}
    assert {"uscc", "name", "kind", "region_code", "extra"} <= fields


def test_hidden_control_characters_are_refused(client, as_role) -> None:
    admin = as_role("bureau_admin")
    response = client.post("/api/v1/organizations", headers=admin, json={
        "uscc": "91350100M000100Y43", "name": "苏州\u200b科技\u202e有限公司",
        "kind": "enterprise", "region_code": "320571"})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "name"


def test_malformed_json_is_a_problem_not_a_500(client, as_role) -> None:
    admin = as_role("bureau_admin")
    response = client.post("/api/v1/organizations", data="{not json",
                           headers={**admin, "Content-Type": "application/json"})
    assert 400 <= response.status_code < 500
    assert response.mimetype == "application/problem+json"


def test_import_is_all_or_nothing_and_idempotent(app) -> None:
    from sqlalchemy import func, select

    from marketplace import db
    from marketplace.auth.identity import system
    from marketplace.imports import ImportRejected
    from marketplace.organisations.models import Organisation
    from marketplace.organisations.services import import_csv

    good = ("uscc,name,kind,region_code\n"
            "91350100M000100Y43,苏州甲科技有限公司,enterprise,320571\n"
            "１２１０００００４０００００６２４Ｄ,上海乙研究院,research_institute,310115\n")
    bad = good + "91350100M000100Y44,丙公司,company,99\n"
    with pytest.raises(ImportRejected) as rejected:
        import_csv(system("test"), io.StringIO(bad), name="bad.csv")
    errors = {(e.line, e.column) for e in rejected.value.report.errors}
    assert errors == {(4, "uscc"), (4, "kind"), (4, "region_code")}
    assert db.session.scalar(select(func.count()).select_from(Organisation)) == 0

    first = import_csv(system("test"), io.StringIO(good), name="good.csv")
    second = import_csv(system("test"), io.StringIO(good), name="good.csv")
    assert (first.inserted, second.inserted, second.unchanged) == (2, 0, 2)
    assert db.session.scalar(select(func.count()).select_from(Organisation)) == 2
