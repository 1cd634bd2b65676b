"""Bulk imports of contracts, payments and grants: the example market, bad rows, idempotency."""

from __future__ import annotations

import io
import shutil
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from marketplace import db
from marketplace.audit.models import AuditEntry
from marketplace.auth.identity import system
from marketplace.cli import cli
from marketplace.contracts import importer
from marketplace.contracts.importer import import_contracts, import_grants, import_payments
from marketplace.contracts.models import Contract, ExternalGrant, Payment
from marketplace.imports import ImportRejected
from tests.dbutil import EXAMPLE

ACTOR = system("test")
HEADER = ("contract_no,type,subtype,title,field,seller_uscc,buyer_uscc,intermediary_uscc,"
          "total_amount,technical_amount,signed_on,registered_at,related_party,status,"
          "cancelled_at\n")


def _count(model) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def _errors(call, *args) -> set[tuple[int, str]]:
    with pytest.raises(ImportRejected) as rejected:
        call(ACTOR, *args)
    return {(e.line, e.column) for e in rejected.value.report.errors}


def row_cells(p, no="201932050000001", **cells) -> dict[str, str]:
    """The cells of one valid registered contract between the parties `p`, with changes."""
    values = {
        "contract_no": no, "type": "transfer", "subtype": "patent_right",
        "title": "一种电池专利转让", "field": "new_energy", "seller_uscc": p["s"].uscc,
        "buyer_uscc": p["b"].uscc, "intermediary_uscc": p["i"].uscc,
        "total_amount": "1000.00", "technical_amount": "800.00", "signed_on": "2019-01-05",
        "registered_at": "2019-01-10", "related_party": "0", "status": "registered",
        "cancelled_at": "",
    }
    values.update(cells)
    return values


def _row(p, no="201932050000001", **cells) -> str:
    return ",".join(row_cells(p, no, **cells).values()) + "\n"


def _csv(*rows: str, header: str = HEADER) -> io.StringIO:
    return io.StringIO(header + "".join(rows))


def test_the_example_market_imports_cleanly_and_only_once(app, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    outputs = []
    for kind in ("organisations", "contracts", "payments", "grants"):
        result = runner.invoke(cli, ["import", kind, str(EXAMPLE / f"{kind}.csv")])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert "3000 new" in outputs[1] and "3872 new" in outputs[2] and "50 new" in outputs[3]
    counts = (_count(Contract), _count(Payment), _count(ExternalGrant))
    assert counts == (3000, 3872, 50)
    assert db.session.scalar(select(func.count()).select_from(Contract)
                             .where(Contract.status == "cancelled")) == 63

    # The messy cells: a full-width buyer code, a quoted title with commas, a UTC time that is
    # already the next month in Shanghai.
    c = db.session.scalar(select(Contract).where(Contract.contract_no == "201932050001176"))
    assert c.buyer.uscc == "91330106MAQ082NF2N"
    c = db.session.scalar(select(Contract).where(Contract.contract_no == "201932050000542"))
    assert c.title == '"VOCs治理" 项目, 二期' and c.intermediary is not None
    utc = db.session.scalars(select(Contract.registered_at).where(
        Contract.registered_at == datetime(2019, 2, 28, 23, 24, 51, tzinfo=UTC))).all()
    assert len(utc) == 1

    audit_before = _count(AuditEntry)
    for kind in ("contracts", "payments", "grants"):
        result = runner.invoke(cli, ["import", kind, str(EXAMPLE / f"{kind}.csv")])
        assert result.exit_code == 0, result.output
        assert " 0 new, 0 updated" in result.output
    assert (_count(Contract), _count(Payment), _count(ExternalGrant)) == counts
    assert _count(AuditEntry) == audit_before


def test_every_bad_cell_is_named_and_nothing_is_written(app, parties) -> None:
    p = parties
    rows = [
        _row(p, "201932050000001"),                                   # 2: good
        _row(p, "2019-ABC", type="sale"),                              # 3
        _row(p, "201932050000003", seller_uscc="91350100M000100Y44",
             buyer_uscc="91350100M000100Y43"),                        # 4: bad code, unknown org
        _row(p, "201932050000004", total_amount="10.001",
             technical_amount="-5"),                                  # 5
        _row(p, "201932050000005", total_amount="abc",
             technical_amount="1e3x"),                                # 6
        _row(p, "201932050000006", technical_amount="1000.01"),       # 7: technical > total
        _row(p, "201932050000007", signed_on="2025-02-30",
             registered_at="2019-13-01"),                             # 8
        _row(p, "201932050000008", field="space", subtype="sole"),    # 9
        _row(p, "201932050000009", type="consulting", subtype="ordinary"),  # 10
        _row(p, "201932050000010", status="expired", related_party="2"),    # 11
        _row(p, "201932050000011", status="cancelled"),               # 12: no cancelled_at
        _row(p, "201932050000012", cancelled_at="2019-02-01"),        # 13: registered, cancelled_at
        _row(p, "201932050000001"),                                   # 14: again
        _row(p, "201932050000013", buyer_uscc=p["s"].uscc,
             intermediary_uscc=p["s"].uscc),                          # 15
        _row(p, "201932050000014", cancelled_at="2019-01-09",
             status="cancelled"),                                     # 16
        _row(p, "201932050000015", title="\u200b", type="license", subtype=""),  # 17
        _row(p, "201932050000016", signed_on="2999-01-01",
             registered_at="2999-01-02T10:00:00+08:00"),              # 18
        "201932050000017,transfer\n",                                 # 19: too few cells
    ]
    assert _errors(import_contracts, _csv(*rows)) == {
        (3, "contract_no"), (3, "type"),
        (4, "seller_uscc"), (4, "buyer_uscc"),
        (5, "total_amount"), (5, "technical_amount"),
        (6, "total_amount"), (6, "technical_amount"),
        (7, "technical_amount"),
        (8, "signed_on"), (8, "registered_at"),
        (9, "field"), (9, "subtype"),
        (10, "subtype"),
        (11, "status"), (11, "related_party"),
        (12, "cancelled_at"),
        (13, "cancelled_at"),
        (14, "contract_no"),
        (15, "buyer_uscc"), (15, "intermediary_uscc"),
        (16, "cancelled_at"),
        (17, "title"), (17, "subtype"),
        (18, "signed_on"), (18, "registered_at"),
        (19, "row"),
    }
    assert _count(Contract) == 0


def test_one_bad_row_imports_nothing_and_is_named(app, parties) -> None:
    rows = [_row(parties, f"2019320500{n:05d}") for n in range(1, 1201)]
    rows[1100] = _row(parties, "201932050001101", signed_on="2019-02-29")
    with pytest.raises(ImportRejected) as rejected:
        import_contracts(ACTOR, _csv(*rows), name="one-bad.csv")
    report = rejected.value.report
    assert [(e.line, e.column) for e in report.errors] == [(1102, "signed_on")]
    assert "'2019-02-29' is not a date" in report.errors[0].reason
    assert "nothing was imported" in report.summary()
    assert _count(Contract) == 0
    ok = import_contracts(ACTOR, _csv(*rows[:1100]))
    assert (ok.inserted, _count(Contract)) == (1100, 1100)


def test_headers_are_checked(app, parties) -> None:
    bad = _csv(_row(parties), header=HEADER.replace("title,", "name,"))
    assert _errors(import_contracts, bad) == {(1, "title"), (1, "name")}
    assert _errors(import_contracts, io.StringIO("")) == {(1, "header")}


def test_a_later_export_cancels_and_other_changes_are_refused(app, parties) -> None:
    p = parties
    first = import_contracts(ACTOR, _csv(_row(p, "201932050000001"), _row(p, "201932050000002")))
    assert first.inserted == 2
    later = import_contracts(ACTOR, _csv(
        _row(p, "201932050000001", status="cancelled", cancelled_at="2019-06-30"),
        _row(p, "201932050000002"),
        _row(p, "201932050000003"),
    ))
    assert (later.inserted, later.updated, later.unchanged) == (1, 1, 1)
    c = db.session.scalar(select(Contract).where(Contract.contract_no == "201932050000001"))
    assert c.status == "cancelled"
    assert c.cancelled_at == datetime(2019, 6, 29, 16, tzinfo=UTC)  # midnight in Shanghai
    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "contract.import_update")).one()
    assert entry.after["status"] == "cancelled" and entry.before["status"] == "registered"

    assert _errors(import_contracts, _csv(_row(p, "201932050000001"))) == {(2, "status")}
    changed = _csv(_row(p, "201932050000002", total_amount="1200.00", title="另一个标题"),
                   _row(p, "201932050000003", buyer_uscc=p["i"].uscc, intermediary_uscc=""))
    assert _errors(import_contracts, changed) == {
        (2, "total_amount"), (2, "title"), (3, "buyer_uscc"), (3, "intermediary_uscc")}
    assert _count(Contract) == 3


@pytest.mark.parametrize("change", [
    {"subtype": "technical_secret"},
    {"type": "license", "subtype": "sole"},
    {"title": "一种电池专利转让（修订）"},
    {"field": "new_materials"},
    {"seller_uscc": "i", "intermediary_uscc": ""},
    {"buyer_uscc": "i", "intermediary_uscc": ""},
    {"intermediary_uscc": ""},
    {"total_amount": "1000.01"},
    {"technical_amount": "799.99"},
    {"signed_on": "2019-01-04"},
    {"registered_at": "2019-01-10T00:00:01+08:00"},
    {"related_party": "1"},
], ids=lambda change: "+".join(change))
def test_a_later_export_that_changes_any_term_is_refused(app, parties, change) -> None:
    """Whichever term a later export changes, the import names it (on PostgreSQL the database
    picks the stored rows that differ; none may slip through as unchanged)."""
    p = parties
    cells = {k: p[v].uscc if k.endswith("_uscc") and v else v for k, v in change.items()}
    import_contracts(ACTOR, _csv(_row(p, "201932050000001"), _row(p, "201932050000002")))
    again = _csv(_row(p, "201932050000001"), _row(p, "201932050000002", **cells))
    # Line 3 is named for each changed term; line 2, unchanged, is not named.
    assert _errors(import_contracts, again) == {(3, column) for column in change}


def test_an_api_registration_is_the_same_contract_in_a_later_export(market) -> None:
    c = market.registered(intermediary_uscc=None)
    registered_at = c["registered_at"]
    row = (f"{c['contract_no']},transfer,patent_right,{c['title']},new_materials,"
           f"{market.seller.uscc},{market.buyer.uscc},,500000.00,450000.00,2025-03-01,"
           f"{registered_at},0,registered,\n")
    report = import_contracts(ACTOR, _csv(row))
    assert (report.inserted, report.unchanged) == (0, 1)


def _pay(*rows: str) -> io.StringIO:
    return io.StringIO("contract_no,paid_on,amount\n" + "".join(rows))


def test_payments_are_numbered_summed_and_idempotent(app, parties) -> None:
    import_contracts(ACTOR, _csv(_row(parties, "201932050000001"),
                                 _row(parties, "201932050000002")))
    rows = ["201932050000001,2019-02-01,100.00\n", " 201932050000001 ,2019-02-01,100.00\n",
            "201932050000002,2019-03-01,1000\n"]
    first = import_payments(ACTOR, _pay(*rows))
    assert (first.inserted, first.unchanged) == (3, 0)
    again = import_payments(ACTOR, _pay(*rows))
    assert (again.inserted, again.unchanged) == (0, 3)
    third = import_payments(ACTOR, _pay(*rows[:2], rows[0]))  # a third identical instalment
    assert (third.inserted, third.unchanged) == (1, 2)
    ordinals = db.session.scalars(select(Payment.ordinal).where(
        Payment.amount == Decimal("100.00")).order_by(Payment.ordinal)).all()
    assert ordinals == [1, 2, 3]
    assert _count(Payment) == 4


def test_bad_payments_are_named(app, parties) -> None:
    import_contracts(ACTOR, _csv(_row(parties, "201932050000001")))
    import_payments(ACTOR, _pay("201932050000001,2019-02-01,600.00\n"))
    bad = _pay(
        "201932050000001,2019-02-01,300.00\n",   # 2: fine alone
        "201932050000001,2019-02-02,100.01\n",   # 3: passes the total of 1000.00
        "201932050000999,2019-02-01,1.00\n",     # 4: unknown contract
        "201932050000001,2019-02-30,1.00\n",     # 5: no such day
        "201932050000001,2019-02-01,1.001\n",    # 6: three decimals
        "201932050000001,2019-02-01,-1\n",       # 7
        "201932050000001,2019-02-01,abc\n",      # 8
        "201932050000001,2018-12-01,1.00\n",     # 9: before signing
        "x,2999-01-01,0\n",                      # 10
    )
    assert _errors(import_payments, bad) == {
        (3, "amount"), (4, "contract_no"), (5, "paid_on"), (6, "amount"), (7, "amount"),
        (8, "amount"), (9, "paid_on"), (10, "contract_no"), (10, "paid_on"), (10, "amount")}
    over = _pay("201932050000001,2019-02-01,300.00\n", "201932050000001,2019-02-02,100.01\n")
    assert _errors(import_payments, over) == {(3, "amount")}
    assert _count(Payment) == 1


def test_grants_are_checked_against_the_parties(app, parties) -> None:
    p = parties
    import_contracts(ACTOR, _csv(_row(p, "201932050000001")))
    head = "contract_no,role,uscc,amount,programme\n"
    good = (f"201932050000001,seller,{p['s'].uscc},100.00,省技术转移奖补\n"
            f"201932050000001,Buyer ,{p['b'].uscc.lower()},0,园区奖励\n")
    assert import_grants(ACTOR, io.StringIO(head + good)).inserted == 2
    again = import_grants(ACTOR, io.StringIO(head + good.replace("100.00", "150.00")))
    assert (again.inserted, again.updated, again.unchanged) == (0, 1, 1)
    bad = (f"201932050000001,buyer,{p['s'].uscc},1.00,x\n"          # 2: not the buyer
           f"201932050000009,seller,{p['s'].uscc},1.00,x\n"         # 3: no such contract
           f"201932050000001,broker,{p['i'].uscc},1.00,x\n"         # 4: unknown role
           f"201932050000001,seller,{p['s'].uscc},1.001,\n"         # 5: amount, programme
           f"201932050000001,seller,{p['s'].uscc},1.00,y\n"
           f"201932050000001,seller,{p['s'].uscc},2.00,y\n")        # 7: the same grant again
    assert _errors(import_grants, io.StringIO(head + bad)) == {
        (2, "uscc"), (3, "contract_no"), (4, "role"), (5, "amount"), (5, "programme"),
        (7, "programme")}
    assert db.session.scalar(select(func.sum(ExternalGrant.amount))) == Decimal("150.00")


def test_the_cli_fails_with_one_line_and_the_rows(app, parties, tmp_path: Path) -> None:
    path = tmp_path / "contracts.csv"
    path.write_text(HEADER + _row(parties) + _row(parties, "201932050000002",
                                                  total_amount="-1"), encoding="utf-8")
    result = app.test_cli_runner().invoke(cli, ["import", "contracts", str(path)])
    assert result.exit_code != 0
    assert "line 3, column total_amount" in result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: contracts: ")
    assert _count(Contract) == 0


def test_generated_markets_import_cleanly(app) -> None:
    # A short folder: the audit trail keeps an import's source in 64 characters.
    out = Path(tempfile.mkdtemp(prefix="market-"))
    try:
        runner = app.test_cli_runner()
        result = runner.invoke(cli, ["generate", "--contracts", "300", "--seed", "7",
                                     "--out", str(out), "--years", "2"])
        assert result.exit_code == 0, result.output
        assert "300 contracts" in result.output
        for kind in ("organisations", "contracts", "payments"):
            result = runner.invoke(cli, ["import", kind, str(out / f"{kind}.csv")])
            assert result.exit_code == 0, result.output
        assert _count(Contract) == 300
        bad = runner.invoke(cli, ["generate", "--contracts", "-1", "--out", str(out)])
        assert bad.exit_code != 0
    finally:
        shutil.rmtree(out)


def test_a_bulk_load_rebuilds_what_it_dropped(app, backend, monkeypatch) -> None:
    if backend != "postgresql":
        pytest.skip("the bulk path is PostgreSQL's")

    def schema() -> set[tuple[str, ...]]:  # with the foreign keys of the tables that name it
        return set(db.session.execute(text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'contracts' "
            "UNION ALL SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'contracts'::regclass OR confrelid = 'contracts'::regclass"
        )).tuples())

    before = schema()
    assert {"pk_contracts", "fk_payments_contract_id_contracts"} <= {n for n, _ in before}
    monkeypatch.setattr(importer, "BULK_MIN_ROWS", 1)
    runner = app.test_cli_runner()
    runner.invoke(cli, ["import", "organisations", str(EXAMPLE / "organisations.csv")])
    bad = runner.invoke(cli, ["import", "contracts", str(EXAMPLE / "payments.csv")])
    assert bad.exit_code != 0 and schema() == before
    def oids() -> dict[str, int]:
        return dict(db.session.execute(text(
            "SELECT indexrelid::regclass::text, indexrelid::bigint FROM pg_index "
            "WHERE indrelid = 'contracts'::regclass")).tuples().all())

    built = oids()
    result = runner.invoke(cli, ["import", "contracts", str(EXAMPLE / "contracts.csv")])
    assert result.exit_code == 0, result.output
    assert schema() == before
    assert _count(Contract) == 3000
    # Rebuilt, but for the partial indexes of columns an import leaves empty, kept as they were.
    kept = {name for name, oid in oids().items() if built[name] == oid}
    assert kept == {"ix_contracts_achievement_id", "ix_contracts_created_by",
                    "ix_contracts_registered_by"}
    # The planner knows the table grew (statistics taken in the import's transaction), and the
    # load into the empty table was written frozen: every page of it all-visible.
    tuples, pages, visible = db.session.execute(text(
        "SELECT reltuples, relpages, relallvisible FROM pg_class WHERE relname = 'contracts'"
    )).one()
    assert tuples == 3000 and pages > 0 and visible == pages


def test_a_bulk_load_checks_what_the_dropped_constraints_would_have(app, backend, monkeypatch,
                                                                  tmp_path) -> None:
    """During a bulk load the unique constraint on contract_no and every foreign key are gone;
    the import itself refuses a number twice in the file, takes a stored one as known, and
    leaves the constraints as they were either way."""
    if backend != "postgresql":
        pytest.skip("the bulk path is PostgreSQL's")

    def constraints() -> set[tuple[str, str]]:
        return set(db.session.execute(text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'contracts'::regclass")).tuples())

    before = constraints()
    assert {d.split(" (")[0] for _, d in before} >= {"UNIQUE", "FOREIGN KEY"}
    monkeypatch.setattr(importer, "BULK_MIN_ROWS", 1)
    runner = app.test_cli_runner()
    runner.invoke(cli, ["import", "organisations", str(EXAMPLE / "organisations.csv")])
    lines = (EXAMPLE / "contracts.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    twice = tmp_path / "twice.csv"
    twice.write_text("".join([*lines, lines[5]]), encoding="utf-8")
    refused = runner.invoke(cli, ["import", "contracts", str(twice)])
    assert refused.exit_code != 0
    assert f"line {len(lines) + 1}" in refused.output and "appears again" in refused.output
    assert constraints() == before and _count(Contract) == 0

    first = tmp_path / "first.csv"
    first.write_text("".join(lines[:101]), encoding="utf-8")  # the header and 100 contracts
    assert runner.invoke(cli, ["import", "contracts", str(first)]).exit_code == 0
    # Bulk again (3,000 rows against 100 stored): the 100 are known, the rest new.
    result = runner.invoke(cli, ["import", "contracts", str(EXAMPLE / "contracts.csv")])
    assert result.exit_code == 0, result.output
    assert "2900 new, 0 updated, 100 unchanged" in result.output
    assert constraints() == before and _count(Contract) == 3000
    # The first 100 went into an empty table, frozen; the 2,900 beside them, not frozen.
    pages, visible = db.session.execute(text(
        "SELECT relpages, relallvisible FROM pg_class WHERE relname = 'contracts'")).one()
    assert 0 < visible < pages


def test_a_later_export_of_the_whole_history_is_no_bulk_load(app, backend, monkeypatch,
                                                            tmp_path) -> None:
    """The registration system exports its whole history again with a few new contracts: the
    import adds them without dropping and rebuilding the table's indexes (which would also
    lock readers out)."""
    if backend != "postgresql":
        pytest.skip("the bulk path is PostgreSQL's")

    def index_oids() -> set[int]:
        return set(db.session.scalars(text(
            "SELECT indexrelid::bigint FROM pg_index WHERE indrelid = 'contracts'::regclass")))

    monkeypatch.setattr(importer, "BULK_MIN_ROWS", 1)
    runner = app.test_cli_runner()
    runner.invoke(cli, ["import", "organisations", str(EXAMPLE / "organisations.csv")])
    loaded = runner.invoke(cli, ["import", "contracts", str(EXAMPLE / "contracts.csv")])
    assert loaded.exit_code == 0, loaded.output
    built = index_oids()
    lines = (EXAMPLE / "contracts.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    later = tmp_path / "later.csv"
    later.write_text("".join(lines + ["9" + line for line in lines[1:11]]), encoding="utf-8")
    result = runner.invoke(cli, ["import", "contracts", str(later)])
    assert result.exit_code == 0, result.output
    assert "10 new, 0 updated, 3000 unchanged" in result.output
    assert index_oids() == built  # not one of them built again
    # A first load into an empty table is a bulk load: its indexes are built anew.
    db.session.execute(text("TRUNCATE contracts CASCADE"))
    db.session.commit()
    again = runner.invoke(cli, ["import", "contracts", str(EXAMPLE / "contracts.csv")])
    assert again.exit_code == 0, again.output
    assert index_oids() != built
