"""Public index reads are cached briefly per worker and by HTTP caches (ETag, max-age)."""

from __future__ import annotations

from sqlalchemy import select

from marketplace import db
from marketplace.contracts.models import Contract
from tests.market_indices.test_publication import _publish, example_market  # noqa: F401

URL = "/api/v1/indices/transfer/SZ/2021-12"


def _revise(market) -> None:
    """Cancel the latest registration and publish again: the month gets a second revision."""
    contract = db.session.scalars(select(Contract).where(Contract.status == "registered")
                                  .order_by(Contract.registered_at.desc())).first()
    contract.status = "cancelled"
    contract.cancelled_at = db.utcnow()
    db.session.commit()
    _publish(market)


def _held(answer):
    """A stand-in for services.revisions that answers only once released, and counts calls."""
    import threading

    entered, release = threading.Event(), threading.Event()
    calls = []

    def revisions(*args):
        calls.append(args)
        entered.set()
        assert release.wait(10)
        return answer

    return revisions, entered, release, calls


def test_anonymous_reads_are_cached_and_conditional(example_market, client, as_role) -> None:  # noqa: F811
    _publish(example_market)
    first = client.get(URL)
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "public, max-age=60"
    etag = first.headers["ETag"]
    assert client.get(URL, headers={"If-None-Match": etag}).status_code == 304

    # A revision: the cached answer stays for its minute; a signed-in reader sees it at once.
    _revise(example_market)
    assert client.get(URL).get_json() == first.get_json()
    fresh = client.get(URL, headers=as_role("bureau_reviewer")).get_json()
    assert fresh["revision"] == 2 and first.get_json()["revision"] == 1
    assert "Cache-Control" not in client.get(URL, headers=as_role("bureau_reviewer")).headers


def test_an_expired_answer_is_recomputed_once_while_the_others_get_it_stale(
        example_market, client, monkeypatch) -> None:  # noqa: F811
    """One request of a worker computes an expired answer again; the worker's other requests
    meanwhile get the expired one instead of each computing it too."""
    import threading
    import time
    import types

    from marketplace import cache
    from marketplace.market_indices import services

    _publish(example_market)
    first = client.get(URL).get_json()
    _revise(example_market)
    revised = services.revisions("transfer", "SZ", "2021-12")
    assert revised[0].revision == 2
    slow_revisions, entered, release, computed = _held(revised)
    monkeypatch.setattr(services, "revisions", slow_revisions)
    later = time.monotonic() + 61  # the answer's minute is over
    monkeypatch.setattr(cache, "time", types.SimpleNamespace(monotonic=lambda: later))
    answers = {}
    refresher = threading.Thread(target=lambda: answers.update(refresher=client.get(URL)))
    refresher.start()
    assert entered.wait(10)
    during = client.get(URL)  # while the refresher computes
    release.set()
    refresher.join(10)
    assert during.status_code == 200 and during.get_json() == first
    assert answers["refresher"].get_json()["revision"] == 2
    assert client.get(URL).get_json()["revision"] == 2
    assert len(computed) == 1


def test_an_answer_never_kept_is_computed_once_while_the_others_wait(
        example_market, client, monkeypatch) -> None:  # noqa: F811
    import threading

    from marketplace.market_indices import services

    _publish(example_market)
    slow_revisions, entered, release, computed = _held(
        services.revisions("transfer", "SZ", "2021-12"))
    monkeypatch.setattr(services, "revisions", slow_revisions)
    answers: dict[str, object] = {}
    first = threading.Thread(target=lambda: answers.update(first=client.get(URL)))
    first.start()
    assert entered.wait(10)
    second = threading.Thread(target=lambda: answers.update(second=client.get(URL)))
    second.start()
    second.join(0.3)
    assert second.is_alive() and len(computed) == 1  # waiting for the first, not computing
    release.set()
    first.join(10)
    second.join(10)
    assert answers["first"].status_code == answers["second"].status_code == 200
    assert answers["first"].get_json() == answers["second"].get_json()
    assert len(computed) == 1


def test_a_failed_recomputation_leaves_the_next_request_to_compute_again(
        example_market, client, monkeypatch) -> None:  # noqa: F811
    """A request that fails while computing an expired answer does not leave the expired one
    served for good: the next request computes it again."""
    import time
    import types

    from marketplace import cache
    from marketplace.market_indices import services

    _publish(example_market)
    assert client.get(URL).get_json()["revision"] == 1
    _revise(example_market)
    real = services.revisions
    failures = []

    def fails_once(*args):
        if not failures:
            failures.append(args)
            raise RuntimeError("the database went away")
        return real(*args)

    monkeypatch.setattr(services, "revisions", fails_once)
    later = time.monotonic() + 61
    monkeypatch.setattr(cache, "time", types.SimpleNamespace(monotonic=lambda: later))
    assert client.get(URL).status_code == 500
    assert client.get(URL).get_json()["revision"] == 2
