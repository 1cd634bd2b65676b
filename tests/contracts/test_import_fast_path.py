"""The PostgreSQL import's fast path (`_FastLines`) stores exactly what the row-by-row checker
reads, and refuses exactly what it refuses, whichever path each row takes."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from marketplace import db
from marketplace.contracts import importer
from marketplace.contracts.importer import TERMS, import_contracts
from marketplace.contracts.models import Contract
from marketplace.imports import ImportRejected, ImportReport
from tests.contracts.test_import import ACTOR, HEADER, row_cells

COLUMNS = HEADER.strip().split(",")


def _row(p, no: str, **changes: str) -> dict[str, str]:
    return row_cells(p, no, **changes)


def _variants(p) -> list[dict[str, str]]:
    """Rows that repeat the codes of the first (so the fast path knows them) with the cells
    that vary from row to row in every form the fast path takes or hands over."""
    cells = [
        {},
        {"registered_at": "2019-01-10T10:00:00+08:00"},
        {"registered_at": "2019-01-10T02:00:00Z"},
        {"registered_at": "2019-01-10T10:00:00"},
        {"registered_at": "2019-01-09T22:00:00+05:30"},
        {"registered_at": "2019-01-05T00:00:00+08:00"},  # the first instant of the signing day
        {"total_amount": "1000.5", "technical_amount": "999.99"},
        {"total_amount": "01000.00", "technical_amount": "0800.00"},
        {"total_amount": "1000.00", "technical_amount": "1000.00"},
        {"total_amount": "10000.00", "technical_amount": "9999.99"},
        {"total_amount": "1000", "technical_amount": "1"},
        {"title": "  一种 电池\\专利  "},
        {"title": "带逗号, 和\"引号\"的标题"},
        {"intermediary_uscc": ""},
        {"intermediary_uscc": " "},
        {"subtype": "", "type": "development_commissioned"},
        {"status": "cancelled", "cancelled_at": "2019-02-01"},
        {"status": "cancelled", "cancelled_at": "2019-02-01T09:00:00+08:00"},
        {"status": "cancelled", "cancelled_at": "2019-01-10T16:30:00+00:00"},
        {"signed_on": "2019-01-10", "status": "cancelled", "cancelled_at": "2019-01-10"},
        {"related_party": "1"},
        {"seller_uscc": p["s"].uscc.lower()},
    ]
    rows = [_row(p, "2019320500１00 00")]  # full-width digits and a space: normalised
    for n, changes in enumerate(cells * 2):  # twice: the second time the codes are known
        rows.append(_row(p, f"2019320500{n:05d}", **changes))
    return rows


def _file(rows: list[dict[str, str]], order: list[str] = COLUMNS) -> io.StringIO:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(order)
    for row in rows:
        writer.writerow([row[c] for c in order])
    out.seek(0)
    return out


@pytest.mark.parametrize("order", [COLUMNS, COLUMNS[::-1]], ids=["file order", "reversed"])
def test_every_row_is_stored_as_the_checker_reads_it(app, backend, parties, order,
                                                    monkeypatch) -> None:
    rows = _variants(parties)
    checker = importer._ContractChecker(ImportReport("contracts", "expected"))
    expected = {}
    for line, row in enumerate(rows, start=2):
        parsed = checker.check(line, row)
        assert parsed is not None, checker.report.errors
        expected[parsed.contract_no] = parsed

    checked = []
    check = importer._ContractChecker.check
    monkeypatch.setattr(importer._ContractChecker, "check", lambda self, line, row: (
        checked.append(line), check(self, line, row))[1])
    report = import_contracts(ACTOR, _file(rows, order))
    if backend == "postgresql":  # the rows whose codes are known and forms plain: the fast path
        assert len(checked) <= len(rows) - 20

    assert report.inserted == len(rows)
    stored = {c.contract_no: c for c in db.session.scalars(select(Contract))}
    assert stored.keys() == expected.keys()
    for number, parsed in expected.items():
        c = stored[number]
        for term in (*TERMS, "status", "cancelled_at"):
            assert getattr(c, term) == getattr(parsed, term), (number, term)
        assert (c.version, c.source) == (1, "import")


def test_the_fast_path_refuses_what_the_checker_refuses(app, parties) -> None:
    p = parties
    good = [_row(p, f"20193205001{n:04d}") for n in range(3)]  # the codes become known
    bad = [
        _row(p, "201932050020001", technical_amount="1000.01"),          # same length, larger
        _row(p, "201932050020002", total_amount="999.99", technical_amount="1000.00"),
        _row(p, "201932050020003", registered_at="2019-01-04T23:59:59+08:00"),  # before signing
        _row(p, "201932050020004", registered_at="2019-01-10T25:00:00+08:00"),
        _row(p, "201932050020005", registered_at="2019-02-30T10:00:00+08:00"),
        _row(p, "201932050020006", registered_at="2999-01-10T10:00:00+08:00"),
        _row(p, "201932050020007", status="cancelled"),
        _row(p, "201932050020008", cancelled_at="2019-02-01"),
        _row(p, "201932050020009", status="cancelled", cancelled_at="2019-01-09"),
        _row(p, "201932050020010", status="cancelled",
             cancelled_at="2019-01-09T23:00:00+08:00"),
        _row(p, "201932050020011", buyer_uscc=p["s"].uscc),
        _row(p, "201932050020012", intermediary_uscc=p["b"].uscc),
        _row(p, "201932050020013", title="a\u200bb"),
        _row(p, "201932050020014", title="x" * 301),
        _row(p, "20193205002001X"),
        _row(p, "201932050010000"),                                      # again
        _row(p, "201932050020016", total_amount="0.00", technical_amount="0.00"),
    ]
    checker = importer._ContractChecker(ImportReport("contracts", "expected"))
    expected = set()
    for line, row in enumerate(good + bad, start=2):
        if checker.check(line, row) is None:
            expected.update((e.line, e.column) for e in checker.report.errors)
    expected.add((20, "contract_no"))  # the repeated number, which only the import sees

    with pytest.raises(ImportRejected) as rejected:
        import_contracts(ACTOR, _file(good + bad))

    found = {(e.line, e.column) for e in rejected.value.report.errors}
    assert found == expected
    assert {line for line, _ in found} == set(range(5, 5 + len(bad)))
    assert db.session.scalar(select(Contract.id)) is None
