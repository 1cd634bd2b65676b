"""Bulk imports from the registration system: contracts, payments and external grants.

Each file is one transaction (a savepoint in the caller's) and streams: rows are read, checked
and written as they come, never all held in memory; a bad row anywhere leaves the report with
(line, column, reason) and the savepoint rolled back, so a file imports completely or not at
all. On PostgreSQL new contracts go through one `COPY … FROM STDIN`, so the database stores
(and indexes) while Python still reads and checks the file; payments go through a temporary
table and set-based SQL.

Idempotency:
- contracts, on `contract_no`: a row equal to the stored contract is unchanged; a row that
  differs only in `status`/`cancelled_at` is an update from the registration system (a later
  export marks it cancelled, or corrects the cancellation date) and is audited per contract;
  a cancelled contract is not made registered again, and a row whose terms differ from the
  stored ones is refused, column by column (terms change through an amendment, 变更).
- payments, on (contract, paid_on, amount, ordinal): the nth identical row of a contract in the
  file is the nth identical payment; the sum per contract never exceeds its total_amount.
- grants, on (contract, role, organisation, programme): a changed amount is an update.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    cast,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement

from marketplace import db
from marketplace.audit.services import record
from marketplace.auth.identity import Identity
from marketplace.contracts.models import Contract, ExternalGrant, Payment
from marketplace.contracts.services import shanghai_midnight, term_problems
from marketplace.imports import (
    SHANGHAI,
    ImportRejected,
    ImportReport,
    open_csv,
    parse_amount,
    parse_date,
    parse_flag,
    parse_instant,
    read_rows,
)
from marketplace.organisations.models import Organisation
from marketplace.reference import (
    CONTRACT_TYPES,
    FIELDS,
    ROLES,
    check_uscc,
    normalise_code,
    unsafe_characters,
)

Progress = Callable[[int], None]  # called with the bytes read so far

CONTRACT_COLUMNS = (
    "contract_no", "type", "subtype", "title", "field", "seller_uscc", "buyer_uscc",
    "intermediary_uscc", "total_amount", "technical_amount", "signed_on", "registered_at",
    "related_party", "status", "cancelled_at",
)
PAYMENT_COLUMNS = ("contract_no", "paid_on", "amount")
GRANT_COLUMNS = ("contract_no", "role", "uscc", "amount", "programme")
IMPORTED_STATUSES = ("registered", "cancelled")
BATCH = 5000
# A PostgreSQL load this large, and over twice the table, drops the contracts' foreign keys,
# unique constraints and plain indexes, and adds them back at the end (the PostgreSQL manual's
# "Populating a Database"). Into an empty table, the load is also written frozen (COPY FREEZE).
# Meanwhile contracts are locked (ACCESS EXCLUSIVE), and the tables their foreign keys name
# (organisations, users, achievements) take no writes, until the import commits: an initial
# load of the registration system's history, for a quiet hour.
BULK_MIN_ROWS = 100_000
BYTES_PER_CONTRACT_ROW = 190


def _all_or_nothing(importer: Callable[..., ImportReport]) -> Callable[..., ImportReport]:
    """Run an import in a savepoint of the caller's transaction: a rejected file (or any error)
    leaves that transaction exactly as it was, whatever was already streamed in."""

    @functools.wraps(importer)
    def run(*args: Any, **kwargs: Any) -> ImportReport:
        with db.session.begin_nested():
            return importer(*args, **kwargs)

    return run


# --- cells -----------------------------------------------------------------------------------


def contract_number(cell: str) -> str:
    """A registration number, normalised (NFKC, spaces removed): 8 to 32 digits."""
    code = cell if cell.isdigit() and cell.isascii() else normalise_code(cell)
    if not (code.isdigit() and code.isascii() and 8 <= len(code) <= 32):
        raise ValueError(f"{cell!r} is not a registration number (8 to 32 digits)")
    return code


def _lower_code(cell: str) -> str:
    return normalise_code(cell).lower()


class _Memo:
    """Normalise-and-check of a cell, remembered by the raw text: exports repeat a few thousand
    codes millions of times. Returns the value or raises ValueError with the (same) reason;
    `valid` maps every raw text accepted so far to its value."""

    def __init__(self, check: Callable[[str], Any]) -> None:
        self.check = check
        self.valid: dict[str, Any] = {}
        self.refused: dict[str, str] = {}

    def __call__(self, cell: str) -> Any:
        try:
            return self.valid[cell]
        except KeyError:
            pass
        if cell not in self.refused:
            try:
                self.valid[cell] = self.check(cell)
                return self.valid[cell]
            except ValueError as exc:
                self.refused[cell] = str(exc)
        raise ValueError(self.refused[cell])


def _optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An empty cell is None; anything else must parse."""
    return lambda cell: parse(cell) if cell.strip() else None


def _parse_cells(row: dict[str, str], cells: Sequence[tuple[str, Callable[[str], Any]]]
                 ) -> tuple[list[Any], list[tuple[str, str]]]:
    """Each cell through its parser: the values (None where refused) and the problems."""
    values: list[Any] = []
    problems: list[tuple[str, str]] = []
    for column, parse in cells:
        try:
            values.append(parse(row[column]))
        except ValueError as exc:
            values.append(None)
            problems.append((column, str(exc)))
    return values, problems


def _past_day(today: Any) -> Callable[[str], Any]:
    def parse(cell: str) -> Any:
        day = parse_date(cell)
        if day > today:
            raise ValueError(f"{day} is in the future")
        return day

    return parse


_AMOUNT = re.compile(r"\d{1,16}(?:\.\d{1,2})?")


def _amount(cell: str) -> Decimal:
    """`parse_amount`, with a fast path for the plain "12345.67" almost every row has."""
    if _AMOUNT.fullmatch(cell):
        value = Decimal(cell)
        if value > 0:
            return value
    return parse_amount(cell)


def _one_of(allowed: Sequence[str], what: str) -> Callable[[str], str]:
    def check(cell: str) -> str:
        code = _lower_code(cell)
        if code not in allowed:
            raise ValueError(f"{cell!r} is not a known {what}: one of {', '.join(allowed)}")
        return code

    return check


def _rows_of(statement: Any) -> list[Any]:
    """Every row of a statement through the driver's own cursor: SQLAlchemy's rows cost about
    5 µs each, which is 0.2 s for the organisations a large import reads first (and seconds
    for the numbers of a million stored contracts)."""
    compiled = statement.compile(db.session.get_bind(), compile_kwargs={"literal_binds": True})
    cursor = db.driver_connection().cursor()
    try:
        cursor.execute(str(compiled))
        return cursor.fetchall()
    finally:
        cursor.close()


def _organisations() -> _Memo:
    ids = dict(_rows_of(select(Organisation.uscc, Organisation.id)))

    def org_id(cell: str) -> int:
        if cell in ids:  # stored codes are valid: no need to check the characters again
            return ids[cell]
        code = check_uscc(cell)
        if code not in ids:
            raise ValueError(f"no organisation is registered with the code {code}")
        return ids[code]

    memo = _Memo(org_id)
    memo.valid.update(ids)  # what org_id answers for them: the fast path reads `valid`
    return memo


def _title(cell: str) -> str:
    return _text(cell, 300)


def _text(cell: str, limit: int) -> str:
    value = cell.strip()
    if not value or len(value) > limit:
        raise ValueError(f"1 to {limit} characters")
    if not value.isprintable() and unsafe_characters(value):  # isprintable: the fast, C test
        raise ValueError("invisible control characters are not allowed")
    return value


def _audit(actor: Identity, action: str, report: ImportReport) -> None:
    """One entry per file that changed something; a file that changed nothing leaves none."""
    if report.inserted or report.updated:
        record(actor, action, "import", Path(report.source).name[:64],
               after={"source": report.source, "rows": report.rows,
                      "inserted": report.inserted, "updated": report.updated,
                      "unchanged": report.unchanged})


def _progress(stream: IO[str], progress: Progress | None) -> Callable[[], None]:
    raw = getattr(stream, "buffer", None)
    if progress is None or raw is None:
        return lambda: None
    return lambda: progress(raw.tell())


# --- writing -------------------------------------------------------------------------------


NULL = "\\N"  # COPY's text format for a missing value
COPY_ROWS = 500  # rows to a block of COPY data: about 100 kB, under psycopg's MAX_BUFFER_SIZE


def _copy_escape(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                 .replace("\r", "\\r"))
    return value


class RowWriter:
    """New rows into a table in the running transaction.

    PostgreSQL: one `COPY … FROM STDIN` (text format, lines made by `line`, or given whole to
    `add_line`) for the whole file; SQLite: multi-row inserts of `BATCH` rows (`as_dict`). Rows
    stop being written once `stop()` is called (the import will be rolled back anyway).

    The COPY data goes to the server from a thread of psycopg's (`QueuedLibpqWriter`): the
    server stores and indexes one block while Python reads and checks the next, instead of
    Python waiting whenever the connection's buffers are full. The queue holds at most
    QUEUE_SIZE (1024) blocks of at most 128 kB (MAX_BUFFER_SIZE): 128 MB at worst.
    """

    def __init__(self, table: Table, columns: Sequence[str], line: Callable[[Any], str],
                 as_dict: Callable[[Any], dict[str, Any]], *, freeze: bool = False) -> None:
        self.table, self.columns, self.line, self.as_dict = table, columns, line, as_dict
        self.freeze = freeze  # COPY … WITH (FREEZE): the table was emptied in this savepoint
        self.postgres = db.is_postgres()
        self.buffer: list[Any] = []
        self.count = 0
        self.stopped = False
        self._copy: Any = None
        self._copying: Any = None

    def __enter__(self) -> RowWriter:
        return self

    def add(self, row: Any) -> None:
        if self.stopped:
            return
        self.buffer.append(self.line(row) if self.postgres else self.as_dict(row))
        self.count += 1
        if len(self.buffer) >= (COPY_ROWS if self.postgres else BATCH):
            self._flush()

    def add_line(self, line: str) -> None:
        """A row already made into its COPY line (PostgreSQL only)."""
        if self.stopped:
            return
        self.buffer.append(line)
        self.count += 1
        if len(self.buffer) >= COPY_ROWS:
            self._flush()

    def add_block(self, data: bytes, rows: int) -> None:
        """Rows already made into COPY text, one after another (PostgreSQL only)."""
        if self.stopped or not rows:
            return
        self._flush()  # the lines given before, first
        self._start()
        self._copy.write(data)
        self.count += rows

    def stop(self) -> None:
        self.stopped = True
        self.buffer.clear()

    def _flush(self) -> None:
        if not self.buffer:
            return
        if self.postgres:
            self._start()
            self._copy.write("".join(self.buffer))
        else:
            db.session.execute(insert(self.table), self.buffer)
        self.buffer.clear()

    def _start(self) -> None:
        if self._copy is None:
            raw = db.driver_connection()
            statement = f"COPY {self.table.name} ({', '.join(self.columns)}) FROM STDIN"
            if self.freeze:
                statement += " WITH (FREEZE)"
            from psycopg.copy import QueuedLibpqWriter

            cursor = raw.cursor()
            self._copying = cursor.copy(statement, writer=QueuedLibpqWriter(cursor))
            self._copy = self._copying.__enter__()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self._flush()
        if self._copy is not None:
            self._copy = None
            self._copying.__exit__(exc_type, exc, tb)


class _BulkLoad:
    """Drop a table's foreign keys for a large load and add them back at the end (PostgreSQL
    only). Checking them row by row costs more than the rest of the load, even on columns the
    load leaves empty (the check is queued for every row); adding them back checks every row at
    once.

    With `indexes`, the table's other indexes go too (the plain ones, the unique constraints and
    the primary key, with the foreign keys of other tables that name it) and are built again at
    the end: a sorted build costs a fraction of keeping them up to date row by row, each entry
    logged on its own (measured on a million contracts: the COPY took 11.2 s with the plain and
    unique ones and 6.1 s without; without the primary key too, 4.3-5.0 s against 5.8-7.4 s,
    and building it again takes 0.3-0.4 s). The import itself sees to what the unique
    constraints would have refused (a number twice in the file, or one already stored), and the
    ids come from the table's sequence, so building them again cannot fail. All of it is DDL in
    the import's transaction: a failed or rejected file rolls back to the savepoint, and the
    constraints and indexes are back as they were; nobody else sees the table meanwhile (ACCESS
    EXCLUSIVE), nor the tables whose foreign keys name it (payments, versions, grants, awards).

    With `indexes`, a table found empty is also truncated (`emptied`), which lets the load be
    written with COPY FREEZE: its rows stored frozen and its pages marked all-visible, so the
    index builds, ANALYZE and the foreign-key checks that follow in the same transaction do not
    look up every row's inserting transaction (measured on a million contracts: the six
    foreign keys checked in 0.26-0.30 s instead of 0.84-0.95 s, ANALYZE 0.3 s instead of
    0.35-0.47 s). As PostgreSQL documents for COPY FREEZE, the rows are then visible at once
    to a repeatable-read transaction that began before the load; the table was empty, and
    locked against writers meanwhile."""

    # The sorts of the index builds, in memory rather than in temporary files (for this
    # transaction only).
    MAINTENANCE_WORK_MEM = "512MB"

    def __init__(self, table: str, *, indexes: bool = False, writes: Sequence[str] = ()) -> None:
        self.table, self.with_indexes, self.writes = table, indexes, set(writes)
        self.constraints: list[tuple[str, str]] = []
        self.indexes: list[tuple[str, str]] = []
        self.referencing: list[tuple[str, str, str]] = []  # (table, name, definition)
        self.emptied = False

    def __enter__(self) -> _BulkLoad:
        s = db.session()
        kinds = "'f', 'u', 'p'" if self.with_indexes else "'f'"
        self.constraints = [(name, definition) for name, definition in s.execute(text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            f"WHERE conrelid = CAST(:t AS regclass) AND contype IN ({kinds}) "
            "ORDER BY contype DESC, conname"  # unique, primary key, foreign keys when added back
        ), {"t": self.table})]
        if self.with_indexes:
            self.referencing = [tuple(row) for row in s.execute(text(
                "SELECT CAST(CAST(conrelid AS regclass) AS text), conname, "
                "pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f' "
                "AND confrelid = CAST(:t AS regclass) AND conrelid <> confrelid ORDER BY 1, 2"
            ), {"t": self.table})]
            for table, name, _definition in self.referencing:  # they need the primary key
                s.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
        if self.constraints:
            s.execute(text(f"ALTER TABLE {self.table} " + ", ".join(
                f'DROP CONSTRAINT "{name}"' for name, _ in self.constraints)))
        if self.with_indexes:
            self.indexes = [(name, definition) for name, definition, where in s.execute(text(
                "SELECT CAST(CAST(i.indexrelid AS regclass) AS text), "
                "pg_get_indexdef(i.indexrelid), pg_get_expr(i.indpred, i.indrelid) "
                "FROM pg_index i "
                "WHERE i.indrelid = CAST(:t AS regclass) AND NOT i.indisunique "
                "AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
                "ORDER BY 1"
            ), {"t": self.table}) if not self._untouched(where)]
            if self.indexes:
                s.execute(text("DROP INDEX " + ", ".join(name for name, _ in self.indexes)))
            # The foreign keys naming the table are gone, so an empty one can be truncated.
            if not s.scalar(text(f"SELECT EXISTS (SELECT FROM {self.table})")):
                s.execute(text(f"TRUNCATE {self.table}"))
                self.emptied = True
        return self

    def _untouched(self, where: str | None) -> bool:
        """A partial index of the rows where a column the load does not write has a value:
        the load adds nothing to it, so it stays (and the foreign key checks can read it)."""
        match = re.fullmatch(r"\(?(\w+) IS NOT NULL\)?", where or "")
        return bool(self.writes) and match is not None and match[1] not in self.writes

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            return  # the savepoint rolls back, and what was dropped comes back with it
        s = db.session()
        if self.indexes or any(d.startswith(("UNIQUE", "PRIMARY KEY"))
                               for _, d in self.constraints):
            s.execute(text(f"SET LOCAL maintenance_work_mem = '{self.MAINTENANCE_WORK_MEM}'"))
        for _name, definition in self.indexes:
            s.execute(text(definition))
        # Fresh statistics: the planner would otherwise take the grown table for the small one
        # it was (seen: the first index publication after a million-row import ran 70 s). Taken
        # before the keys come back, so that checking a foreign key on a column the load left
        # empty reads its partial index, not every row (0.13-0.27 s each on a million).
        s.execute(text(f"ANALYZE {self.table}"))
        if self.constraints:
            s.execute(text(f"ALTER TABLE {self.table} " + ", ".join(
                f'ADD CONSTRAINT "{name}" {definition}' for name, definition in self.constraints)))
        for table, name, definition in self.referencing:
            s.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))


def _is_bulk(model: Any, rows: int) -> bool:
    """Whether loading `rows` into the model's table is a bulk load (see BULK_MIN_ROWS): more
    than twice the rows stored, so that most of the file must be new. A later export of the
    whole history (the stored rows again, and a month more) is no bulk load: it would lock
    the table against readers and rebuild every index to add a few thousand rows."""
    if rows < BULK_MIN_ROWS or not db.is_postgres():
        return False
    return rows > 2 * (db.session.scalar(select(func.count()).select_from(model)) or 0)


def _in(column: Any, values: list[Any]) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL as `= ANY(array)`: one parameter, not thousands."""
    if db.is_postgres():
        return column == func.any(bindparam("values", values, type_=ARRAY(column.type)))
    return column.in_(values)


# --- contracts -----------------------------------------------------------------------------


class ContractRow(NamedTuple):
    line: int
    contract_no: str
    type: str
    subtype: str | None
    title: str
    field: str
    seller_id: int
    buyer_id: int
    intermediary_id: int | None
    total_amount: Decimal
    technical_amount: Decimal
    signed_on: Any
    registered_at: datetime
    related_party: bool
    status: str
    cancelled_at: datetime | None


TERMS = ("type", "subtype", "title", "field", "seller_id", "buyer_id", "intermediary_id",
         "total_amount", "technical_amount", "signed_on", "registered_at", "related_party")
TERM_COLUMNS = {"seller_id": "seller_uscc", "buyer_id": "buyer_uscc",
                "intermediary_id": "intermediary_uscc"}
STORED_COLUMNS = (
    "contract_no", "type", "subtype", "title", "field", "seller_id", "buyer_id",
    "intermediary_id", "total_amount", "technical_amount", "signed_on", "registered_at",
    "related_party", "status", "cancelled_at", "version", "source", "created_at", "updated_at",
)


class _ContractChecker:
    """Every cell of a contract row parsed and checked, then the rules between cells."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        self.now = datetime.now(UTC)
        self.today = self.now.astimezone(SHANGHAI).date()
        self.day_starts: dict[Any, datetime] = {}
        self.orgs = org = _organisations()
        subtypes = tuple(dict.fromkeys(s for v in CONTRACT_TYPES.values() for s in v))
        self.days = days = _Memo(self._instant)  # date-only instants: few, and repeated
        self.memo = {
            "type": _Memo(_one_of(tuple(CONTRACT_TYPES), "contract type")),
            "subtype": _Memo(_optional(_one_of(subtypes, "subtype"))),
            "field": _Memo(_one_of(tuple(FIELDS), "technology field")),
            "intermediary_uscc": _Memo(_optional(org)),
            "signed_on": _Memo(parse_date),
            "related_party": _Memo(parse_flag),
            "status": _Memo(_one_of(IMPORTED_STATUSES, "status of an imported contract")),
        }

        def instant(cell: str) -> datetime:
            return days(cell) if len(cell) == 10 else self._instant(cell)

        self.cells: tuple[tuple[str, Callable[[str], Any]], ...] = (
            ("contract_no", contract_number), ("type", self.memo["type"]),
            ("subtype", self.memo["subtype"]), ("title", _title),
            ("field", self.memo["field"]), ("seller_uscc", org), ("buyer_uscc", org),
            ("intermediary_uscc", self.memo["intermediary_uscc"]),
            ("total_amount", _amount), ("technical_amount", _amount),
            ("signed_on", self.memo["signed_on"]), ("registered_at", instant),
            ("related_party", self.memo["related_party"]), ("status", self.memo["status"]),
            ("cancelled_at", _optional(instant)),
        )

    def check(self, line: int, row: dict[str, str]) -> ContractRow | None:
        try:
            values, problems = self._known_cells(row), []
        except (KeyError, ValueError):
            values, problems = _parse_cells(row, self.cells)
        (_, kind, subtype, _, _, seller, buyer, intermediary, total, technical, signed_on,
         registered_at, _, status, cancelled_at) = values
        problems += term_problems(kind, subtype, seller, buyer, intermediary, total, technical,
                                  signed_on, subtype_given=subtype is not None
                                  or not row["subtype"].strip(), as_of=self.today)
        if registered_at is not None and signed_on is not None and (
            registered_at < self._day_start(signed_on)
        ):
            problems.append(("registered_at", "registered "
                             f"({registered_at.astimezone(SHANGHAI).date()}) before it was "
                             f"signed ({signed_on})"))
        if status == "cancelled" and cancelled_at is None and not row["cancelled_at"].strip():
            problems.append(("cancelled_at", "a cancelled contract needs the date it was "
                             "cancelled"))
        elif status == "registered" and cancelled_at is not None:
            problems.append(("cancelled_at", "a registered contract has no cancellation date; "
                             "say status cancelled"))
        elif cancelled_at is not None and registered_at is not None and (
            cancelled_at.astimezone(SHANGHAI).date() < registered_at.astimezone(SHANGHAI).date()
        ):
            problems.append(("cancelled_at", "cancelled before it was registered "
                             f"({registered_at.astimezone(SHANGHAI).date()})"))
        if problems:
            for column, reason in problems:
                self.report.add(line, column, reason)
            return None
        return ContractRow(line, *values)

    def _known_cells(self, row: dict[str, str]) -> list[Any]:
        """The same parsing as `self.cells` for a row made only of codes seen before, with the
        memos read directly: the fast path of nearly every row. Anything else raises, and
        `_parse_cells` takes the row (and names its problems)."""
        number = row["contract_no"]
        if not (number.isdigit() and number.isascii() and 8 <= len(number) <= 32):
            raise KeyError(number)
        registered, cancelled = row["registered_at"], row["cancelled_at"]
        days = self.days.valid
        return [
            number, self.memo["type"].valid[row["type"]],
            self.memo["subtype"].valid[row["subtype"]], _title(row["title"]),
            self.memo["field"].valid[row["field"]], self.orgs.valid[row["seller_uscc"]],
            self.orgs.valid[row["buyer_uscc"]],
            self.memo["intermediary_uscc"].valid[row["intermediary_uscc"]],
            _amount(row["total_amount"]), _amount(row["technical_amount"]),
            self.memo["signed_on"].valid[row["signed_on"]],
            days[registered] if len(registered) == 10 else self._instant(registered),
            self.memo["related_party"].valid[row["related_party"]],
            self.memo["status"].valid[row["status"]],
            None if not cancelled else days[cancelled] if len(cancelled) == 10
            else self._instant(cancelled),
        ]

    def _day_start(self, day: Any) -> datetime:
        start = self.day_starts.get(day)
        if start is None:
            # In UTC, like the instants it is compared with: comparing across zones is slow.
            start = shanghai_midnight(day).astimezone(UTC)
            self.day_starts[day] = start
        return start

    def _instant(self, cell: str) -> datetime:
        if not cell.strip():
            raise ValueError("required")
        instant = parse_instant(cell)
        if instant > self.now:
            raise ValueError(f"{cell.strip()!r} is in the future")
        return instant


# The COPY's columns: the cells of a row in the file's order where it can, then the few
# categorical cells, whose text (with the constant columns after them) is made once per
# combination and kept.
COPY_COLUMNS = (
    "contract_no", "title", "seller_id", "buyer_id", "intermediary_id", "total_amount",
    "technical_amount", "signed_on", "registered_at", "cancelled_at", "type", "subtype",
    "field", "related_party", "status", "version", "source",
)  # created_at and updated_at: the server's default, now() (migration 20261201_0015)
# The start of a COPY line made by the fast path, up to registered_at, every cell by its exact
# form (none can hold a tab, so no cell can pass for its neighbour): the contract number in ASCII
# digits, a title without a backslash (printable already), the three parties' ids, two plain
# amounts ("digits.dd" without a leading zero: what nearly every row has), the signing date and
# registered_at in the form Python and PostgreSQL read alike (PostgreSQL takes offsets up to
# 15:59).
_FAST_LINE = re.compile(
    r"[0-9]{8,32}\t[^\t\\]+\t[0-9]+\t[0-9]+\t(?:[0-9]+|\\N)\t"
    r"[1-9][0-9]{0,15}\.[0-9][0-9]\t[1-9][0-9]{0,15}\.[0-9][0-9]\t[0-9]{4}-[0-9][0-9]-[0-9][0-9]\t"
    r"[0-9]{4}-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9][+-](?:0[0-9]|1[0-5]):[0-5][0-9]"
    r"\t")
# Python and PostgreSQL read this form alike (PostgreSQL takes offsets up to 15:59).
_OFFSET_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-](?:0\d|1[0-5]):[0-5]\d")


CONSTANT_TAIL = "\t1\timport\n"  # version, source


def category_text(kind: str, subtype: str | None, field: str, related_party: bool,
                  status: str) -> str:
    """The end of a COPY line: the categorical cells, then the constant ones."""
    return (f"{kind}\t{subtype or NULL}\t{field}\t{'t' if related_party else 'f'}\t"
            f"{status}{CONSTANT_TAIL}")


def _categories(r: ContractRow) -> str:
    return category_text(r.type, r.subtype, r.field, r.related_party, r.status)


def contract_line() -> Callable[[ContractRow], str]:
    """The COPY line (COPY_COLUMNS) of a checked row."""

    def line(r: ContractRow) -> str:
        return "\t".join((
            r.contract_no, _copy_escape(r.title), str(r.seller_id), str(r.buyer_id),
            NULL if r.intermediary_id is None else str(r.intermediary_id), str(r.total_amount),
            str(r.technical_amount), r.signed_on.isoformat(), r.registered_at.isoformat(),
            NULL if r.cancelled_at is None else r.cancelled_at.isoformat(),
            _categories(r),
        ))

    return line


class _FastLines:
    """The COPY line of a row straight from its cells, for the rows nearly every file is made
    of; None for any other row, which `_ContractChecker.check` then takes (and which names its
    problems, or is good and teaches this one its cells).

    A row is taken here only if `check` would accept it and store the same values: every code,
    date and category cell must be one `check` accepted before on another row (`learn`), with
    the same raw text; the cells that differ from row to row (number, title, amounts, instants
    with an offset) are checked here by the same rules, and whatever is in doubt (spaces,
    escapes, an instant without an offset, …) goes to `check`.
    """

    def __init__(self, checker: _ContractChecker) -> None:
        self.checker = checker
        self.orgs = {code: str(id_) for code, id_ in checker.orgs.valid.items()}
        self.intermediaries = {"": NULL, **self.orgs}
        self.categories: dict[tuple[str, ...], tuple[str, str]] = {}  # → (status, COPY text)
        self.signed: dict[str, tuple[datetime, str]] = {}  # → (its Shanghai midnight, text)
        self.days: dict[str, tuple[datetime, str]] = {}  # date-only instants → (value, text)
        self.line = self._line_function()

    def learn(self, cells: Sequence[str], r: ContractRow) -> None:
        """What `check` made of the cells of a row it accepted."""
        (_, kind, subtype, _, field, seller, buyer, intermediary, _, _, signed_on, registered_at,
         related, status, cancelled_at) = cells
        self.categories[kind, subtype, field, related, status] = (r.status, _categories(r))
        self.orgs[seller], self.orgs[buyer] = str(r.seller_id), str(r.buyer_id)
        self.intermediaries[intermediary] = (NULL if r.intermediary_id is None
                                             else str(r.intermediary_id))
        self.signed[signed_on] = (self.checker._day_start(r.signed_on), r.signed_on.isoformat())
        if len(registered_at) == 10:
            self.days[registered_at] = (r.registered_at, r.registered_at.isoformat())
        if len(cancelled_at) == 10 and r.cancelled_at is not None:
            self.days[cancelled_at] = (r.cancelled_at, r.cancelled_at.isoformat())

    def _line_function(self) -> Callable[[Sequence[str]], str | None]:
        categories, signed_days, days = self.categories, self.signed, self.days
        orgs, intermediaries = self.orgs, self.intermediaries
        offset_instant = _OFFSET_INSTANT.fullmatch
        from_iso, now = datetime.fromisoformat, self.checker.now
        line_format = _FAST_LINE.match

        def instant(cell: str) -> tuple[datetime, str] | None:
            if len(cell) == 10:
                return days.get(cell)
            if not offset_instant(cell):  # the form PostgreSQL reads as Python does
                return None
            try:
                value = from_iso(cell)
            except ValueError:
                return None
            return None if value > now else (value, cell)

        def line(cells: Sequence[str]) -> str | None:
            (number, kind, subtype, title, field, seller, buyer, intermediary, total, technical,
             signed_on, registered_at, related, status, cancelled_at) = cells
            category = categories.get((kind, subtype, field, related, status))
            signed = signed_days.get(signed_on)
            seller_id, buyer_id = orgs.get(seller), orgs.get(buyer)
            intermediary_id = intermediaries.get(intermediary)
            if (category is None or signed is None or seller_id is None or buyer_id is None
                    or intermediary_id is None or seller_id == buyer_id
                    or intermediary_id in (seller_id, buyer_id)):
                return None
            title = title.strip()
            if not title or len(title) > 300 or not title.isprintable():
                return None  # isprintable: no tab or line break to escape either
            registered_on: datetime | None = None
            if len(registered_at) == 10:
                registered = days.get(registered_at)
                if registered is None:
                    return None
                registered_at, registered_on = registered[1], registered[0]
            cancelled: tuple[datetime, str] | None = None
            if not cancelled_at:
                if category[0] != "registered":
                    return None
                cancelled_at = NULL
            else:
                cancelled = instant(cancelled_at)
                if category[0] != "cancelled" or cancelled is None:
                    return None
                cancelled_at = cancelled[1]
            copy_line = (f"{number}\t{title}\t{seller_id}\t{buyer_id}\t{intermediary_id}\t"
                         f"{total}\t{technical}\t{signed[1]}\t{registered_at}\t{cancelled_at}\t"
                         f"{category[1]}")
            if not line_format(copy_line):
                return None
            if registered_on is None:
                try:
                    registered_on = from_iso(registered_at)
                except ValueError:
                    return None
                if registered_on > now:
                    return None
            if registered_on < signed[0]:
                return None
            # Both are "digits.dd" without a leading zero (so above 0): the longer is the larger,
            # and at equal lengths the text compares as the amount does.
            if len(technical) > len(total) or (len(technical) == len(total)
                                               and technical > total):
                return None
            if cancelled is not None and (cancelled[0].astimezone(SHANGHAI).date()
                                          < registered_on.astimezone(SHANGHAI).date()):
                return None
            return copy_line

        return line


def _contract_dict(now: datetime) -> Callable[[ContractRow], dict[str, Any]]:
    def as_dict(r: ContractRow) -> dict[str, Any]:
        values = dict(zip(STORED_COLUMNS[:15], (r.contract_no, *r[2:]), strict=True))
        values.update(version=1, source="import", created_at=now, updated_at=now)
        return values

    return as_dict


@_all_or_nothing
def import_contracts(actor: Identity, source: Path | IO[str] | str, name: str = "",
                     progress: Progress | None = None) -> ImportReport:
    """The registration system's contracts export (see the module docstring).

    On PostgreSQL a file or text in memory is first read by blocks of columns
    (`columnar`); if that reading cannot decide it alone (a refused row, say), it is rolled
    back and the file is read row by row, which names every problem. When the columns found a
    refused row, that reading only checks (it writes nothing and rebuilds nothing), unless it
    finds no problem after all, when it is done again in full."""
    if db.is_postgres():
        from marketplace.contracts import columnar

        opener = columnar.readable(source)
        if opener is not None:
            try:
                with db.session.begin_nested():
                    return _import_contracts(actor, source, name, progress, opener)
            except columnar.Irregular as irregular:
                if irregular.refused:
                    with db.session.begin_nested():
                        _import_contracts(actor, source, name, progress, None, check_only=True)
    return _import_contracts(actor, source, name, progress, None)


def _import_contracts(actor: Identity, source: Path | IO[str] | str, name: str,
                      progress: Progress | None, opener: Callable[[], IO[bytes]] | None,
                      *, check_only: bool = False) -> ImportReport:
    report = ImportReport("contracts", name or str(source))
    s = db.session()
    postgres = db.is_postgres()
    bulk = False
    if postgres:
        # Writers of contracts wait for the import (readers do not); two imports queue.
        s.execute(text("LOCK TABLE contracts IN SHARE ROW EXCLUSIVE MODE"))
        if isinstance(source, str | Path) and not check_only:
            bulk = _is_bulk(Contract, os.path.getsize(source) // BYTES_PER_CONTRACT_ROW)
    existing = {number for number, in _rows_of(
        select(Contract.contract_no).where(Contract.contract_no.is_not(None)))}
    checker = _ContractChecker(report)
    now = checker.now
    table = Contract.__table__
    text_source = io.StringIO(source.getvalue()) if isinstance(source, io.StringIO) and (
        opener is not None or check_only) else source  # the caller's, for the reading after
    load = _BulkLoad("contracts", indexes=True, writes=COPY_COLUMNS) if bulk else None
    with open_csv(text_source) as stream, load or nullcontext(), (
        tempfile.TemporaryFile("w+", encoding="utf-8") if postgres else nullcontext()
    ) as known_out:
        tick = _progress(stream, progress)
        with RowWriter(table, COPY_COLUMNS if postgres else STORED_COLUMNS, contract_line(),
                       _contract_dict(now), freeze=load is not None and load.emptied) as writer:
            if check_only:
                writer.stop()
            if opener is not None:
                known = _copy_columns(opener, report, checker, existing, writer, progress,
                                      known_out)
            elif postgres:
                known = _copy_contracts(stream, report, checker, existing, writer, tick, known_out)
            else:
                known = _insert_contracts(stream, report, checker, existing, writer, tick)
            if not report.ok:
                writer.stop()
        tick()
        # Rows already stored: on PostgreSQL the database finds the few that differ from what is
        # stored, and only those are read again and looked at one by one.
        lines = _differing_known_lines(known_out) if known and postgres else None
        updates = (_compare_known(_known_rows(stream, existing, lines), checker, report)
                   if known and lines != set() else [])
        if not report.ok:
            raise ImportRejected(report)
    if check_only:
        return report  # nothing written; the caller reads the file again in full
    report.inserted = writer.count
    report.updated = len(updates)
    report.unchanged = known - len(updates)
    if updates:
        s.execute(update(table).where(table.c.id == bindparam("_id")).values(
            status=bindparam("_status"), cancelled_at=bindparam("_cancelled_at"),
            updated_at=now), updates)
        for u in updates:
            record(actor, "contract.import_update", "contract", u["_id"],
                   before=u["_before"], after={"status": u["_status"],
                                               "cancelled_at": u["_cancelled_at"]},
                   reason=f"registration system export {report.source}")
    _audit(actor, "contract.import", report)
    return report


def _insert_contracts(stream: IO[str], report: ImportReport, checker: _ContractChecker,
                      existing: set[str], writer: RowWriter, tick: Callable[[], None]) -> int:
    """The file's rows checked and the new ones given to `writer`, row by row (SQLite); the
    number of rows already stored."""
    seen: dict[str, int] = {}
    known = 0
    for line, row in read_rows(stream, CONTRACT_COLUMNS, report):
        if report.rows % 10_000 == 0:
            tick()
        parsed = checker.check(line, row)
        if parsed is None:
            writer.stop()
            continue
        first = seen.setdefault(parsed.contract_no, line)
        if first != line:
            report.add(line, "contract_no", f"{parsed.contract_no} appears again "
                       f"(first on line {first})")
            writer.stop()
        elif parsed.contract_no in existing:
            known += 1  # looked at again, against what is stored, below
        else:
            writer.add(parsed)
    return known


def _header(reader: Any, expected: Sequence[str], report: ImportReport) -> list[str] | None:
    """The header, checked as `read_rows` checks it; None (and the problems reported) if it
    is refused."""
    try:
        header = [h.strip().lstrip("\ufeff") for h in next(reader)]
    except StopIteration:
        report.add(1, "header", "the file is empty")
        return None
    except (csv.Error, UnicodeDecodeError) as exc:
        report.add(1, "header", f"unreadable: {exc}")
        return None
    missing = [c for c in expected if c not in header]
    unknown = [c for c in header if c not in expected]
    for c in missing:
        report.add(1, c, "column missing from the header")
    for c in unknown:
        report.add(1, c, "unknown column")
    return None if missing or unknown else header


def _copy_contracts(stream: IO[str], report: ImportReport, checker: _ContractChecker,
                    existing: set[str], writer: RowWriter, tick: Callable[[], None],
                    known_out: IO[str]) -> int:
    """What `_insert_contracts` does, for PostgreSQL's COPY and faster: the rows are read as
    `read_rows` reads them (same lines, same problems) but as lists, and most become their
    COPY line directly (`_FastLines`); `check` takes the others. The rows already stored go
    to `known_out`, as their line number and COPY line, for `_differing_known_lines`."""
    reader = csv.reader(stream)
    header = _header(reader, CONTRACT_COLUMNS, report)
    if header is None:
        return 0
    width = len(header)
    position = {column: i for i, column in enumerate(header)}  # the last of a repeated one
    order = (None if header == list(CONTRACT_COLUMNS)
             else itemgetter(*(position[c] for c in CONTRACT_COLUMNS)))
    fast = _FastLines(checker)
    fast_line, slow_line = fast.line, contract_line()
    seen: dict[str, int] = {}
    known = 0
    rows = report.rows
    add_line = writer.add_line
    try:
        while True:
            try:
                for values in reader:
                    if not values or (not values[0].strip()
                                      and all(not v.strip() for v in values)):
                        continue
                    rows += 1
                    if rows % 10_000 == 0:
                        tick()
                    line = reader.line_num
                    if len(values) != width:
                        report.add(line, "row", f"{len(values)} cells where the header has "
                                   f"{width}")
                        continue
                    cells = order(values) if order else values
                    copy_line = fast_line(cells)
                    if copy_line is not None:
                        number = cells[0]
                    else:
                        parsed = checker.check(line, dict(zip(header, values, strict=True)))
                        if parsed is None:
                            writer.stop()
                            continue
                        fast.learn(cells, parsed)
                        number, copy_line = parsed.contract_no, slow_line(parsed)
                    first = seen.setdefault(number, line)
                    if first != line:
                        report.add(line, "contract_no", f"{number} appears again "
                                   f"(first on line {first})")
                        writer.stop()
                    elif number in existing:
                        known += 1  # looked at again, against what is stored, afterwards
                        known_out.write(f"{line}\t{copy_line}")
                    else:
                        add_line(copy_line)
                return known
            except (csv.Error, UnicodeDecodeError) as exc:  # from the reader: the next row
                rows += 1
                report.add(reader.line_num, "row", f"unreadable: {exc}")
    finally:
        report.rows = rows


class _FastBlock:
    """The rows of a block that `columnar` decided, written in file order around the others:
    the new ones to the COPY, those already stored to `known_out` with their line numbers."""

    def __init__(self, lines: Any, stored: Any, first_line: int, writer: RowWriter,
                 known_out: IO[str]) -> None:
        self.lines, self.stored, self.first_line = lines, stored, first_line
        self.writer, self.known_out = writer, known_out

    def write(self, start: int, stop: int) -> int:
        """Rows start to stop (not included) of the block; the number already stored."""
        from marketplace.contracts.columnar import blob, pa, pc

        lines = self.lines.slice(start, stop - start)
        stored = self.stored.slice(start, stop - start)
        decided = pc.is_valid(lines)
        fresh = pc.filter(lines, pc.and_(decided, pc.invert(stored)))
        self.writer.add_block(blob(fresh), len(fresh))
        again = pc.and_(decided, stored)
        if not pc.any(again).as_py():
            return 0
        first = self.first_line + start
        numbers = pc.cast(pa.array(range(first, first + len(lines))), pa.string())
        known = pc.filter(pc.binary_join_element_wise(numbers, lines, "\t"), again)
        self.known_out.write(blob(known).decode())
        return len(known)


def _copy_columns(opener: Callable[[], IO[bytes]], report: ImportReport,
                  checker: _ContractChecker, existing: set[str], writer: RowWriter,
                  progress: Progress | None, known_out: IO[str]) -> int:
    """What `_copy_contracts` does, a block of rows at a time (`columnar`); raises
    `columnar.Irregular` where that cannot decide the file alone."""
    from marketplace.contracts import columnar
    from marketplace.contracts.columnar import pa

    with opener() as raw:
        header = columnar.header(raw.readline(), report, CONTRACT_COLUMNS, _header)
        if header is None:
            raise columnar.Irregular("the header")
        raw.seek(0)
        reader = columnar.ColumnarContracts(checker, header, CONTRACT_COLUMNS, existing,
                                            category_text)
        slow_line = contract_line()
        known = 0
        first_line = 2
        try:
            for batch in columnar.batches(raw, len(header)):
                slow, lines, stored = reader.block(batch, first_line)
                block = _FastBlock(lines, stored, first_line, writer, known_out)
                start = 0
                for line, parsed in slow:
                    index = line - first_line
                    known += block.write(start, index)
                    start = index + 1
                    if parsed is None:
                        continue
                    if parsed.contract_no in existing:
                        known += 1
                        known_out.write(f"{line}\t{slow_line(parsed)}")
                    else:
                        writer.add_line(slow_line(parsed))
                known += block.write(start, len(batch))
                first_line += len(batch)
                if progress is not None:
                    progress(raw.tell())
        except pa.ArrowException as exc:  # a row Arrow cannot read (the wrong width, say)
            raise columnar.Irregular(str(exc)) from exc
        if not reader.numbers_unique():
            raise columnar.Irregular("a contract number twice", refused=True)
        # Checked last, while the database still stores what was sent: until it passes, the
        # lines and cells above are only provisional, and nothing is committed.
        raw.seek(0)
        if not columnar.plain_lines(raw):
            raise columnar.Irregular("not one record a line")
        report.rows = reader.rows
        return known


KNOWN_ROWS = "import_known_contracts"


def _differing_known_lines(known_out: IO[str]) -> set[int]:
    """The lines of the rows already stored (written by `_copy_contracts`) whose terms, status
    or cancellation differ from what is stored, compared by the database in one query: a
    re-import of an unchanged export reads no row a second time."""
    s = db.session()
    columns = ", ".join(COPY_COLUMNS)
    s.execute(text(f"DROP TABLE IF EXISTS {KNOWN_ROWS}"))
    s.execute(text(f"CREATE TEMPORARY TABLE {KNOWN_ROWS} AS SELECT CAST(0 AS integer) AS line, "
                   f"{columns} FROM contracts WITH NO DATA"))
    known_out.seek(0)
    raw = db.driver_connection(s)
    with raw.cursor() as cursor, cursor.copy(
            f"COPY {KNOWN_ROWS} (line, {columns}) FROM STDIN") as copy:
        while chunk := known_out.read(1 << 20):
            copy.write(chunk)
    compared = (*TERMS, "status", "cancelled_at")
    lines = set(s.scalars(text(
        f"SELECT k.line FROM {KNOWN_ROWS} k JOIN contracts c ON c.contract_no = k.contract_no "
        f"WHERE ({', '.join('c.' + t for t in compared)}) "
        f"IS DISTINCT FROM ({', '.join('k.' + t for t in compared)})")))
    s.execute(text(f"DROP TABLE {KNOWN_ROWS}"))
    return lines


def _known_rows(stream: IO[str], existing: set[str], lines: set[int] | None = None
                ) -> Iterator[list[tuple[int, dict[str, str]]]]:
    """The file read again, in batches of the rows whose contract_no is already stored (only
    those on `lines`, when given)."""
    stream.seek(0)
    batch: list[tuple[int, dict[str, str]]] = []
    for line, row in read_rows(stream, CONTRACT_COLUMNS, ImportReport("again", "")):
        if lines is not None:
            if line not in lines:
                continue
        else:
            try:
                if contract_number(row["contract_no"]) not in existing:
                    continue
            except ValueError:  # pragma: no cover - refused in the first pass already
                continue
        batch.append((line, row))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _compare_known(batches: Iterator[list[tuple[int, dict[str, str]]]],
                   checker: _ContractChecker, report: ImportReport) -> list[dict[str, Any]]:
    """Rows whose contract_no is stored: unchanged, a status update, or a refused change."""
    updates: list[dict[str, Any]] = []
    table = Contract.__table__
    terms = slice(2, 2 + len(TERMS))  # ContractRow's fields from type to related_party
    for batch in batches:
        rows = [checker.check(line, row) for line, row in batch]
        stored = {r.contract_no: r for r in db.session.execute(
            select(table.c.contract_no, *[table.c[t] for t in TERMS], table.c.id,
                   table.c.status, table.c.cancelled_at)
            .where(_in(table.c.contract_no, [r.contract_no for r in rows if r is not None]))
        )}
        for row in rows:
            if row is None:  # pragma: no cover - it passed the same check in the first pass
                continue
            old = stored[row.contract_no]
            if tuple(old[1:1 + len(TERMS)]) != row[terms]:
                for term in TERMS:
                    if getattr(old, term) != getattr(row, term):
                        report.add(row.line, TERM_COLUMNS.get(term, term),
                                   f"contract {row.contract_no} is stored with "
                                   f"{getattr(old, term)!s}, the file says "
                                   f"{getattr(row, term)!s}; terms change only through an "
                                   "amendment (变更)")
                continue
            if (old.status, old.cancelled_at) == (row.status, row.cancelled_at):
                continue
            if old.status == "cancelled" and row.status != "cancelled":
                report.add(row.line, "status", f"contract {row.contract_no} was cancelled on "
                           f"{old.cancelled_at.astimezone(SHANGHAI).date()}; an import does "
                           "not undo a cancellation")
                continue
            if old.status not in IMPORTED_STATUSES:
                report.add(row.line, "status", f"contract {row.contract_no} is {old.status} "
                           "here, not registered")
                continue
            updates.append({"_id": old.id, "_status": row.status,
                            "_cancelled_at": row.cancelled_at,
                            "_before": {"status": old.status, "cancelled_at": old.cancelled_at}})
    return updates


# --- payments ------------------------------------------------------------------------------

_staging = MetaData()
PAYMENT_ROWS = Table(
    "import_payment_rows", _staging,
    Column("line", Integer, nullable=False),
    Column("contract_no", String(32), nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("amount", db.Money, nullable=False),
    Column("cents", BigInteger, nullable=False),
    prefixes=["TEMPORARY"],
)


def _cents(column: Any) -> ColumnElement[Any]:
    """An amount in whole fen, for exact sums: PostgreSQL's NUMERIC is exact already; SQLite
    keeps a NUMERIC column as a binary float, which rounds back to the fen exactly below
    about 9e13 yuan."""
    return cast(func.round(column * 100), BigInteger)


def _payment_line(row: tuple[int, str, Any, Decimal]) -> str:
    line, number, paid_on, amount = row
    return f"{line}\t{number}\t{paid_on.isoformat()}\t{amount}\t{int(amount * 100)}\n"


def _payment_dict(row: tuple[int, str, Any, Decimal]) -> dict[str, Any]:
    line, number, paid_on, amount = row
    return {"line": line, "contract_no": number, "paid_on": paid_on, "amount": amount,
            "cents": int(amount * 100)}


@_all_or_nothing
def import_payments(actor: Identity, source: Path | IO[str] | str, name: str = "",
                    progress: Progress | None = None) -> ImportReport:
    """Payments (到账): the file's rows go to a temporary table, then set-based SQL numbers
    identical instalments, finds unknown contracts and sums, and inserts what is new."""
    report = ImportReport("payments", name or str(source))
    s = db.session()
    if db.is_postgres():
        s.execute(text("LOCK TABLE payments IN SHARE ROW EXCLUSIVE MODE"))
    staging = PAYMENT_ROWS
    s.execute(text(f"DROP TABLE IF EXISTS {staging.name}"))
    staging.create(s.connection())
    cells = (("contract_no", contract_number),
             ("paid_on", _Memo(_past_day(datetime.now(SHANGHAI).date()))),
             ("amount", _amount))
    with open_csv(source) as stream:
        tick = _progress(stream, progress)
        with RowWriter(staging, [c.name for c in staging.columns], _payment_line,
                       _payment_dict) as writer:
            for line, row in read_rows(stream, PAYMENT_COLUMNS, report):
                if report.rows % 10_000 == 0:
                    tick()
                values, problems = _parse_cells(row, cells)
                for column, reason in problems:
                    report.add(line, column, reason)
                if not problems:
                    writer.add((line, *values))
        tick()
    # The checks against the stored contracts run on the good rows even when others are bad,
    # so that one report names every problem.
    inserted, unchanged = _settle_payments(actor, report)
    report.inserted, report.unchanged = inserted, unchanged
    s.execute(text(f"DROP TABLE IF EXISTS {staging.name}"))
    if not report.ok:
        raise ImportRejected(report)
    _audit(actor, "contract.payments_import", report)
    return report


def _settle_payments(actor: Identity, report: ImportReport) -> tuple[int, int]:
    s = db.session()
    rows, c, p = PAYMENT_ROWS.c, Contract.__table__.c, Payment.__table__.c
    for line, number in s.execute(
        select(rows.line, rows.contract_no).outerjoin(Contract.__table__,
                                                      c.contract_no == rows.contract_no)
        .where(c.id.is_(None)).order_by(rows.line)
    ):
        report.add(line, "contract_no", f"no contract {number} is stored")
    for line, paid_on, signed_on in s.execute(
        select(rows.line, rows.paid_on, c.signed_on).join(Contract.__table__,
                                                          c.contract_no == rows.contract_no)
        .where(rows.paid_on < c.signed_on).order_by(rows.line)
    ):
        report.add(line, "paid_on", f"{paid_on} is before the contract was signed "
                   f"({signed_on})")
    numbered = (
        select(rows.line, c.id.label("contract_id"), rows.paid_on, rows.amount, rows.cents,
               func.row_number().over(partition_by=(c.id, rows.paid_on, rows.cents),
                                      order_by=rows.line).label("ordinal"))
        .join(Contract.__table__, c.contract_no == rows.contract_no)
    ).subquery("numbered")
    stored = select(literal(1)).where(
        p.contract_id == numbered.c.contract_id, p.paid_on == numbered.c.paid_on,
        p.amount == numbered.c.amount, p.ordinal == numbered.c.ordinal,
    ).exists()
    new = select(numbered).where(~stored).subquery("new")
    # Running sum per contract in file order, on top of what is stored: the first line that
    # passes the total is named.
    paid = (select(p.contract_id, func.sum(_cents(p.amount)).label("cents"))
            .where(p.contract_id.in_(select(new.c.contract_id)))
            .group_by(p.contract_id).subquery("paid"))
    running = (
        select(new.c.line, new.c.contract_id,
               (func.coalesce(paid.c.cents, 0) + func.sum(new.c.cents).over(
                   partition_by=new.c.contract_id, order_by=new.c.line)).label("total_cents"))
        .outerjoin(paid, paid.c.contract_id == new.c.contract_id)
    ).subquery("running")
    over = (
        select(func.min(running.c.line), c.contract_no, c.total_amount)
        .join(Contract.__table__, c.id == running.c.contract_id)
        .where(running.c.total_cents > _cents(c.total_amount))
        .group_by(c.contract_no, c.total_amount).order_by(func.min(running.c.line))
    )
    for line, number, total in s.execute(over):
        report.add(line, "amount", f"payments of contract {number} would pass its total "
                   f"amount {total} here")
    if not report.ok:
        return 0, 0
    bulk = _is_bulk(Payment, report.rows)
    with _BulkLoad("payments") if bulk else nullcontext():
        result = s.execute(insert(Payment.__table__).from_select(
            ["contract_id", "paid_on", "amount", "ordinal", "recorded_by", "created_at"],
            select(new.c.contract_id, new.c.paid_on, new.c.amount, new.c.ordinal,
                   literal(actor.label, String), literal(db.utcnow(), db.UTCDateTime))
            .order_by(new.c.line),
        ), execution_options={"preserve_rowcount": True})
    inserted = int(result.rowcount or 0)
    return inserted, report.rows - inserted


# --- external grants -----------------------------------------------------------------------


@_all_or_nothing
def import_grants(actor: Identity, source: Path | IO[str] | str, name: str = "",
                  progress: Progress | None = None) -> ImportReport:
    """Grants already given by other programmes (就高不重复), checked against the parties."""
    report = ImportReport("grants", name or str(source))
    s = db.session()
    cells = (("contract_no", contract_number), ("role", _Memo(_one_of(ROLES, "role"))),
             ("uscc", _organisations()),
             ("amount", lambda cell: parse_amount(cell, allow_zero=True)),
             ("programme", lambda cell: _text(cell, 200)))
    seen: dict[tuple[str, str, int, str], int] = {}
    pending: list[tuple[int, str, str, int, Decimal, str]] = []
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []

    def settle() -> None:
        contracts = {r.contract_no: r for r in s.execute(
            select(Contract.id, Contract.contract_no, Contract.seller_id, Contract.buyer_id,
                   Contract.intermediary_id)
            .where(Contract.contract_no.in_({p[1] for p in pending}))
        )}
        stored = {(g.contract_id, g.role, g.organization_id, g.programme): g for g in s.scalars(
            select(ExternalGrant).where(
                ExternalGrant.contract_id.in_([c.id for c in contracts.values()])))}
        for line, contract_no, role, org_id, amount, programme in pending:
            contract = contracts.get(contract_no)
            if contract is None:
                report.add(line, "contract_no", f"no contract {contract_no} is stored")
                continue
            if getattr(contract, f"{role}_id") != org_id:
                report.add(line, "uscc", f"this organisation is not the {role} of contract "
                           f"{contract_no}")
                continue
            old = stored.get((contract.id, role, org_id, programme))
            if old is None:
                new.append({"contract_id": contract.id, "role": role, "organization_id": org_id,
                            "amount": amount, "programme": programme, "created_at": db.utcnow()})
            elif old.amount != amount:
                changed.append({"_id": old.id, "_amount": amount})
            else:
                report.unchanged += 1
        pending.clear()
        if report.ok and len(new) >= BATCH:
            write()

    def write() -> None:
        if new:
            s.execute(insert(ExternalGrant.__table__), new)
            report.inserted += len(new)
            new.clear()

    with open_csv(source) as stream:
        tick = _progress(stream, progress)
        for line, row in read_rows(stream, GRANT_COLUMNS, report):
            values, problems = _parse_cells(row, cells)
            for column, reason in problems:
                report.add(line, column, reason)
            if problems:
                continue
            contract_no, role, org_id, amount, programme = values
            key = (contract_no, role, org_id, programme)
            first = seen.setdefault(key, line)
            if first != line:
                report.add(line, "programme", f"the same grant appears again (first on line "
                           f"{first})")
                continue
            pending.append((line, contract_no, role, org_id, amount, programme))
            if len(pending) >= BATCH:
                settle()
        tick()
    if pending:
        settle()
    if not report.ok:
        raise ImportRejected(report)
    write()
    if changed:
        table = ExternalGrant.__table__
        s.execute(update(table).where(table.c.id == bindparam("_id"))
                  .values(amount=bindparam("_amount")), changed)
        report.updated = len(changed)
    _audit(actor, "contract.grants_import", report)
    return report

