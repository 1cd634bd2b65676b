from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

from sqlalchemy import delete, func, select, update

from marketplace import db
from marketplace.audit.models import AuditEntry
from marketplace.audit.services import verify_chain
from marketplace.cli import cli


def _register_some(create_org) -> None:
    for region in ("320505", "320583", "310115"):
        create_org(region_code=region)


def test_every_registration_is_audited_and_readable_by_the_bureau(client, as_role,
                                                                    create_org) -> None:
    _register_some(create_org)
    bureau = as_role("bureau_reviewer")
    entries = client.get("/api/v1/audit?action=organization.register", headers=bureau)
    assert entries.status_code == 200
    body = entries.get_json()
    assert len(body) == 3
    assert {e["actor"] for e in body} == {"system:test"}
    assert all(e["after"]["uscc"] for e in body)
    assert client.get("/api/v1/audit").status_code == 401
    assert client.get("/api/v1/audit", headers=as_role("org_admin")).status_code == 403


def test_chain_verifies_and_detects_an_edit(app, create_org) -> None:
    _register_some(create_org)
    runner = app.test_cli_runner()
    ok = runner.invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0 and "intact" in ok.output

    second = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id).offset(1)).first()
    db.session.execute(update(AuditEntry).where(AuditEntry.id == second.id)
                       .values(reason="quietly changed"))
    db.session.commit()
    db.session.expire_all()
    report = verify_chain()
    assert not report.ok and report.first_bad_id == second.id
    broken = runner.invoke(cli, ["audit", "verify"])
    assert broken.exit_code != 0 and f"entry {second.id}" in broken.output


def test_chain_detects_a_deleted_entry(app, create_org) -> None:
    _register_some(create_org)
    first = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).first()
    db.session.delete(first)
    db.session.commit()
    db.session.expire_all()
    assert not verify_chain().ok


def test_chain_detects_entries_deleted_from_the_end(app, create_org) -> None:
    """Only the chain's head row knows how far the chain went: without it, deleting the last
    entries would leave a shorter chain that verifies."""
    _register_some(create_org)
    entries = list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert verify_chain().ok
    db.session.delete(entries[-1])
    db.session.commit()
    db.session.expire_all()
    report = verify_chain()
    assert not report.ok and report.first_bad_id == entries[-2].id
    assert "missing" in (report.problem or "")


def test_the_chain_verifies_while_entries_are_added(app, create_org, monkeypatch) -> None:
    """An entry committed after verify has read the last entries, but before it finishes, is no
    sign of entries missing from the end."""
    from marketplace.audit import services
    from marketplace.auth.identity import system

    _register_some(create_org)
    walk = services._entries

    def entries_then_one_more_committed() -> Iterator[AuditEntry]:
        yield from walk()
        services.record(system("test"), "test.during_verify", "test", 1)
        db.session.commit()

    monkeypatch.setattr(services, "_entries", entries_then_one_more_committed)
    report = verify_chain()
    assert report.ok, report
    monkeypatch.setattr(services, "_entries", walk)
    assert verify_chain().checked == report.checked + 1


def test_concurrent_writers_chain_every_entry_once(committing_app) -> None:
    """Eight transactions record at once and stay open a while: each entry is chained at its
    commit, so the chain holds all eight in one line, and a rolled-back one leaves nothing.
    Twice: the first eight find the database emptied (no head row: they make it, racing), the
    next eight move the head forward in one statement each."""
    import time

    from marketplace.audit.models import AuditHead
    from marketplace.audit.services import record
    from marketplace.auth.identity import system
    from tests.dbutil import run_together

    def work() -> None:
        record(system("test"), "test.concurrent", "test", 1, after={"at": time.time()})
        time.sleep(0.05)  # the transactions overlap; none holds the chain while it waits

    with committing_app.app_context():
        db.session.execute(delete(AuditHead))
        db.session.commit()
    assert run_together(committing_app, 8, work) == [None] * 8
    with committing_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditHead)) == 1
    assert run_together(committing_app, 8, work) == [None] * 8

    def rolled_back() -> None:
        record(system("test"), "test.rolled_back", "test", 2)
        raise RuntimeError("the change fails")

    assert isinstance(run_together(committing_app, 1, rolled_back)[0], RuntimeError)
    with committing_app.app_context():
        actions = list(db.session.scalars(select(AuditEntry.action)))
        assert actions.count("test.concurrent") == 16 and "test.rolled_back" not in actions
        report = verify_chain()
        assert report.ok and report.checked == len(actions)


def test_many_entries_of_one_transaction_chain_in_the_order_recorded(app) -> None:
    """One commit writes all its entries at once; their ids, and so the chain, keep the order
    in which the transaction recorded them."""
    from marketplace.audit.services import record
    from marketplace.auth.identity import system

    for i in range(120):
        record(system("test"), "test.batch", "test", i, after={"step": i})
    db.session.commit()
    entries = list(db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "test.batch").order_by(AuditEntry.id)))
    assert [e.entity_id for e in entries] == [str(i) for i in range(120)]
    assert all(b.prev_hash == a.hash for a, b in pairwise(entries))
    verified = app.test_cli_runner().invoke(cli, ["audit", "verify"])
    assert verified.exit_code == 0 and "intact" in verified.output
