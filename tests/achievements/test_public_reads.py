"""The public's reads of achievements are cached for ten seconds; signed-in users read through."""

from __future__ import annotations

from tests.achievements.test_achievements_api import body, create, owner, university  # noqa: F401


def test_public_page_is_cached_briefly_and_owners_read_through(client, owner, university,  # noqa: F811
                                                               as_role) -> None:
    a = create(client, owner, body(university))
    assert client.post(f"/api/v1/achievements/{a['id']}/submit", headers=owner).status_code == 200
    url = f"/api/v1/achievements/{a['id']}"
    public = client.get(url)
    assert public.status_code == 200 and public.headers["Cache-Control"] == "public, max-age=10"
    assert client.get(url, headers={"If-None-Match": public.headers["ETag"]}).status_code == 304

    withdrawn = client.post(f"{url}/withdraw", json={"reason": "专利权属需重新确认"},
                            headers=owner)
    assert withdrawn.status_code == 200
    assert client.get(url, headers=owner).get_json()["status"] == "withdrawn"
    assert "Cache-Control" not in client.get(url, headers=owner).headers
    # The public may see the listing for up to ten seconds more (the choice is documented).
    assert client.get(url).get_json()["status"] == "notice"
