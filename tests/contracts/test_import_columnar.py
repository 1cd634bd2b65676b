"""The PostgreSQL contracts import read by blocks of columns (`columnar`) ends exactly as the
row-by-row reading does: the same contracts stored, or the same problems named. A file it
cannot decide alone is read row by row instead; these tests say which files those are."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from marketplace import db
from marketplace.contracts import columnar, importer
from marketplace.contracts.importer import TERMS, import_contracts
from marketplace.contracts.models import Contract
from marketplace.imports import SHANGHAI, ImportRejected
from tests.contracts.test_import import ACTOR, HEADER, row_cells

COLUMNS = HEADER.strip().split(",")
STORED = ("contract_no", *TERMS, "status", "cancelled_at", "version", "source")


# The columnar reading is PostgreSQL's: SQLite reads row by row, so these run on PostgreSQL only.
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def route(monkeypatch) -> list[str]:
    """Which reading decided each import: "columns", or "rows" after the columns gave up."""
    taken: list[str] = []
    copy_columns = importer._copy_columns

    def spy(*args: Any, **kwargs: Any) -> int:
        try:
            known = copy_columns(*args, **kwargs)
        except columnar.Irregular:
            taken.append("rows")
            raise
        taken.append("columns")
        return known

    monkeypatch.setattr(importer, "_copy_columns", spy)
    return taken


def _outcome(source: Any) -> tuple[Any, ...]:
    """What an import of the source did, then undone: the report's counts and the contracts
    stored, or the problems named."""
    savepoint = db.session.begin_nested()
    try:
        report = import_contracts(ACTOR, source, name="file")
        stored = sorted(tuple(str(getattr(c, column)) for column in STORED)
                        for c in db.session.scalars(select(Contract)))
        return "imported", report.rows, report.inserted, report.updated, report.unchanged, stored
    except ImportRejected as rejected:
        return ("rejected", rejected.report.rows, sorted(str(e) for e in rejected.report.errors))
    finally:
        savepoint.rollback()


def _by_rows(monkeypatch, source: Any) -> tuple[Any, ...]:
    with monkeypatch.context() as m:
        m.setattr(columnar, "readable", lambda source: None)
        return _outcome(source)


def _rows(p, n: int = 6) -> list[dict[str, str]]:
    rows = [row_cells(p, f"2019320500{k:05d}") for k in range(n)]
    rows[1].update(registered_at="2019-01-10T10:00:00+08:00", intermediary_uscc="")
    rows[2].update(status="cancelled", cancelled_at="2019-03-01T09:30:00+08:00")
    rows[3].update(title="带逗号, 和\"引号\"的标题", total_amount="25000.50")
    rows[4].update(type="consulting", subtype="", related_party="1")
    return rows


def _text(rows: list[dict[str, str]], order: list[str] = COLUMNS, end: str = "\n",
          quoting: int = csv.QUOTE_MINIMAL) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=end, quoting=quoting)
    writer.writerow(order)
    for row in rows:
        writer.writerow([row[c] for c in order])
    return out.getvalue()


def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "contracts.csv"
    path.write_bytes(data)
    return path


def _regular(p) -> dict[str, bytes]:
    rows = _rows(p)
    plain = _text(rows)
    return {
        "plain": plain.encode(),
        "CRLF line ends": _text(rows, end="\r\n").encode(),
        "a byte order mark": b"\xef\xbb\xbf" + plain.encode(),
        "columns in another order": _text(rows, COLUMNS[::-1]).encode(),
        "no line end after the last row": plain.rstrip("\n").encode(),
        "every cell quoted": _text(rows, quoting=csv.QUOTE_ALL).encode(),
    }


def _irregular(p) -> dict[str, bytes]:
    rows = _rows(p)
    plain = _text(rows)
    lines = plain.splitlines(keepends=True)
    title = rows[0]["title"]
    return {
        "a line break in a quoted title": _text(
            [*rows[:5], {**rows[5], "title": "第一行\n第二行"}]).encode(),
        "a blank line": "".join([*lines[:3], "\n", *lines[3:]]).encode(),
        "a carriage return alone in a title": _text(
            [*rows[:5], {**rows[5], "title": "一\r二"}]).encode(),
        "a NUL in a title": plain.replace(title, "一种\x00电池", 1).encode(),
        "a quote inside an unquoted cell": plain.replace(title, '一种"电池"专利', 1).encode(),
        "text after a closing quote": plain.replace(title, '"一种"电池专利', 1).encode(),
        "a row a cell short": "".join([*lines[:3], lines[3].rsplit(",", 1)[0] + "\n",
                                       *lines[4:]]).encode(),
        "a byte that is not UTF-8": plain.encode().replace(title.encode(), b"\xff\xfe", 1),
        "a refused amount": plain.replace("800.00", "800.001", 1).encode(),
        "a contract number twice": plain.replace("201932050000001", "201932050000000").encode(),
        "a row of empty cells": "".join([*lines[:3], "," * 14 + "\n", *lines[3:]]).encode(),
    }


@pytest.mark.parametrize("case", ["plain", "CRLF line ends", "a byte order mark",
                                  "columns in another order", "no line end after the last row",
                                  "every cell quoted"])
def test_regular_files_are_decided_by_columns(app, parties, monkeypatch, route, tmp_path,
                                             case) -> None:
    path = _file(tmp_path, _regular(parties)[case])
    outcome = _outcome(path)
    assert route == ["columns"]
    assert outcome[0] == "imported" and outcome[2] == 6
    assert outcome == _by_rows(monkeypatch, path)


@pytest.mark.parametrize("case", ["a line break in a quoted title", "a blank line",
                                  "a carriage return alone in a title", "a NUL in a title",
                                  "a quote inside an unquoted cell", "text after a closing quote",
                                  "a row a cell short", "a byte that is not UTF-8",
                                  "a refused amount", "a contract number twice",
                                  "a row of empty cells"])
def test_other_files_are_read_row_by_row_to_the_same_end(app, parties, monkeypatch, route,
                                                        tmp_path, case) -> None:
    path = _file(tmp_path, _irregular(parties)[case])
    outcome = _outcome(path)
    assert outcome == _by_rows(monkeypatch, path)
    if case in ("a blank line", "a row of empty cells"):  # skipped alike, and counted as lines
        assert route == ["columns"] and outcome[:3] == ("imported", 6, 6)
    else:
        assert route == ["rows"]


@pytest.mark.parametrize("case", ["a line break in a quoted title", "a refused amount"])
def test_a_bulk_load_handed_over_to_the_rows_ends_the_same(app, parties, monkeypatch, route,
                                                           tmp_path, case) -> None:
    """A bulk load into the empty table truncates it and writes with COPY FREEZE, which
    PostgreSQL allows only in the savepoint that truncated it. When the columns hand the file
    over, the row-by-row reading loads it the same way, frozen, or refuses it as ever."""
    monkeypatch.setattr(importer, "BULK_MIN_ROWS", 1)
    path = _file(tmp_path, _irregular(parties)[case])
    by_rows = _by_rows(monkeypatch, path)
    route.clear()
    savepoint = db.session.begin_nested()
    try:
        outcome = _outcome(path)
        assert route == ["rows"] and outcome == by_rows
        if case == "a refused amount":
            assert outcome[0] == "rejected"
            return
        assert outcome[:3] == ("imported", 6, 6)
        import_contracts(ACTOR, path, name="file")
        pages, visible = db.session.execute(text(
            "SELECT relpages, relallvisible FROM pg_class WHERE relname = 'contracts'")).one()
        assert pages > 0 and visible == pages
    finally:
        savepoint.rollback()


def test_text_in_memory_is_read_by_columns_and_left_open(app, parties, route) -> None:
    source = io.StringIO(_text(_rows(parties)))
    assert _outcome(source)[:3] == ("imported", 6, 6)
    assert route == ["columns"]
    assert not source.closed


def test_a_later_export_updates_and_counts_the_same(app, parties, monkeypatch, route,
                                                   tmp_path) -> None:
    """Rows already stored go through the database's comparison in both readings."""
    rows = _rows(parties)
    later = [{**r} for r in rows] + [row_cells(parties, "201932050000099")]
    later[0].update(status="cancelled", cancelled_at="2019-05-01")
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(_text(rows))
    second.write_text(_text(later))

    def both(path: Path) -> tuple[Any, ...]:
        savepoint = db.session.begin_nested()
        try:
            import_contracts(ACTOR, first, name="first")
            return _outcome(path)
        finally:
            savepoint.rollback()

    outcome = both(second)
    assert outcome[:5] == ("imported", 7, 1, 1, 5)
    assert route == ["columns", "columns"]
    with monkeypatch.context() as m:
        m.setattr(columnar, "readable", lambda source: None)
        assert both(second) == outcome
    changed = [{**r} for r in rows]
    changed[3].update(total_amount="25000.51")  # a term differs: refused, and named alike
    second.write_text(_text(changed))
    refused = both(second)
    assert refused[0] == "rejected" and "total_amount" in refused[2][0]
    with monkeypatch.context() as m:
        m.setattr(columnar, "readable", lambda source: None)
        assert both(second) == refused


# Cells each row may take instead of its valid one: forms both readings take, forms only the
# row-by-row checker takes (and the columns hand over), and forms both refuse.
VARIANTS: dict[str, list[str]] = {
    "contract_no": ["２０１９３２０５００９９９９９", "20193205 0099998", "1234567", "x",
                    "9" * 32, "9" * 33],
    "type": [" transfer", "TRANSFER", "sale"],
    "subtype": ["", "patent_application_right", "know_how", "PATENT_RIGHT"],
    "title": ["  一种电池  ", "a\\b", "一种\u200b电池", "x" * 300, "x" * 301, "𠀋电池",
              "\u3000标题", "标题 ", "tab\there", "一种 电池"],
    "field": ["biomedicine", "NEW_ENERGY", "none"],
    "seller_uscc": ["911111111111111111", "", "<buyer>", "<seller, lower case>"],
    "buyer_uscc": [" ", "<seller>", "<intermediary>"],
    "intermediary_uscc": ["", " ", "911111111111111111", "<seller>", "<buyer>"],
    "total_amount": ["1000", "1,000.00", "01000.00", "1000.001", "-5", "1e3", "１０００.００",
                     "800.00", "799.99", "9999999999999999.99", "10000000000000000.00", "0.00"],
    "technical_amount": ["1000.00", "1000.01", "0.01", "999.9", "0.00"],
    "signed_on": ["2019-01-10", "20190105", "2019-02-30", "2030-01-01", " 2019-01-05",
                  "1990-06-01"],
    "registered_at": ["2019-01-10T10:00:00+08:00", "2019-01-10T02:00:00Z",
                      "2019-01-10T10:00:00", "2019-01-04T23:59:59+08:00",
                      "2019-01-05T00:00:00+08:00", "2019-01-04T16:00:00+00:00",
                      "2019-01-04T15:59:59+00:00", "2019-01-10T24:00:00+08:00",
                      "2019-01-10T10:00:60+08:00", "2019-02-29T10:00:00+08:00",
                      "2019-01-10T10:00:00+16:00", "2019-01-10T10:00:00+15:59",
                      "2019-01-10T10:00:00-11:30", "2019-01-04T20:00:00-05:00",
                      "2019-01-05T06:59:59+07:00", "2019-01-05T02:00:00+11:00",
                      "2019-01-04T16:30:00+00:45", "2999-01-01", "2999-01-10T10:00:00+08:00",
                      "1991-07-01T10:00:00+08:00", " 2019-01-10", "2019-1-10",
                      "2019-01-10T10:00:00.5+08:00", "0000-01-10T10:00:00+08:00"],
    "related_party": ["1", "", "2"],
    "status": ["cancelled", "CANCELLED", "draft"],
    "cancelled_at": ["2019-02-01", " "],
}
CANCELLATIONS = ["2019-02-01", "2019-01-09T23:00:00+08:00", "2019-01-10T00:00:00+08:00",
                 "2019-01-09T16:00:00+00:00", "2019-01-09T15:59:59+00:00",
                 "2019-02-01T09:00:00-05:00", "2019-01-09T20:00:00-05:00",
                 "2999-02-01T09:00:00+08:00", " ", "",
                 "1991-12-31T23:00:00+08:00", "2019-02-30"]


def _cases() -> list[dict[str, str]]:
    cases = [{column: value} for column, values in VARIANTS.items() for value in values]
    cases += [{"status": "cancelled", "cancelled_at": value} for value in CANCELLATIONS]
    cases += [{"registered_at": "2019-01-10T20:00:00-05:00", "status": "cancelled",
               "cancelled_at": "2019-01-10"}]  # cancelled the day before it was registered
    cases += [{"signed_on": "1991-07-01", "registered_at": "1991-07-01T10:00:00+08:00",
               "status": "cancelled", "cancelled_at": "1991-07-02"}]
    return cases


@pytest.mark.parametrize("changes", _cases(), ids=lambda c: repr(c)[:60])
def test_each_form_of_each_cell_ends_as_row_by_row(app, parties, monkeypatch, changes) -> None:
    codes = {f"<{name}>": parties[key].uscc for key, name in
             (("s", "seller"), ("b", "buyer"), ("i", "intermediary"))}
    codes["<seller, lower case>"] = parties["s"].uscc.lower()
    rows = _rows(parties)
    rows.append(row_cells(parties, "201932050100000",
                          **{column: codes.get(value, value) for column, value in changes.items()}))
    text = _text(rows)
    assert _outcome(io.StringIO(text)) == _by_rows(monkeypatch, io.StringIO(text))


def test_signing_today_is_taken_and_tomorrow_refused(app, parties, monkeypatch, route) -> None:
    today = datetime.now(SHANGHAI).date()
    for day, taken in ((today, True), (today + timedelta(days=1), False)):
        rows = [row_cells(parties, f"20193205010000{k}", signed_on=day.isoformat(),
                          registered_at=day.isoformat()) for k in range(3)]
        text = _text(rows)
        outcome = _outcome(io.StringIO(text))
        assert outcome[0] == ("imported" if taken else "rejected")
        assert outcome == _by_rows(monkeypatch, io.StringIO(text))
    assert route == ["columns", "rows"]


def test_an_instant_minutes_ahead_is_refused(app, parties, monkeypatch, route) -> None:
    """The columns compute each instant with an offset themselves, to the second."""
    soon = (datetime.now(SHANGHAI) + timedelta(minutes=3)).replace(microsecond=0)
    rows = [row_cells(parties, f"20193205010000{k}", signed_on=soon.date().isoformat(),
                      registered_at=soon.isoformat()) for k in range(3)]
    text = _text(rows)
    assert _outcome(io.StringIO(text))[0] == "rejected"
    assert _outcome(io.StringIO(text)) == _by_rows(monkeypatch, io.StringIO(text))
    assert route == ["rows", "rows"]


@st.composite
def _files(draw: Any) -> list[dict[str, str]]:
    count = draw(st.integers(min_value=1, max_value=8))
    rows = []
    for k in range(count):
        changes = draw(st.dictionaries(st.sampled_from(sorted(VARIANTS)),
                                       st.integers(min_value=0, max_value=19), max_size=3))
        rows.append({column: VARIANTS[column][i % len(VARIANTS[column])]
                     for column, i in changes.items()} | {"_k": str(k)})
    return rows


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=_files())
def test_any_file_ends_as_it_does_row_by_row(app, parties, monkeypatch, route, drawn) -> None:
    rows = []
    for changes in drawn:
        number = f"2019320501{int(changes['_k']):05d}"
        cells = {c: v for c, v in changes.items() if c != "_k"}
        rows.append(row_cells(parties, number, **cells))
    text = _text(rows)
    assert _outcome(io.StringIO(text)) == _by_rows(monkeypatch, io.StringIO(text))


def test_a_refusal_the_rows_do_not_confirm_is_imported_in_full(app, parties, monkeypatch) -> None:
    """After the columns find a refused row, the rows are only checked; should that check find
    nothing wrong, the file is read again in full rather than imported empty."""
    def refusing(*args: Any, **kwargs: Any) -> int:
        raise columnar.Irregular("a refusal planted here", refused=True)

    monkeypatch.setattr(importer, "_copy_columns", refusing)
    text = _text(_rows(parties))
    outcome = _outcome(io.StringIO(text))
    assert outcome[:3] == ("imported", 6, 6)
    assert outcome == _by_rows(monkeypatch, io.StringIO(text))
