"""The contracts import on PostgreSQL, read and checked a block of rows at a time.

Apache Arrow's CSV reader splits the file into columns and Arrow's compute functions check
each column of a block at once, in compiled code: the import's side of a million rows takes
about 5 s of CPU, where `importer._copy_contracts` takes about eleven, row by row in Python.
The database's side of the load then sets the pace.

What a row becomes is decided by the same rules as `importer._ContractChecker.check`, and
where a rule needs Python's own answer (a code, a date, a category) it is asked once per
distinct cell text and remembered. A row that any of these checks leaves in doubt is handed to
`check` itself. Nothing here reports a problem:
- the first row that `check` refuses, a contract number twice in the file, or a file this
  reader might not split exactly as Python's csv module does, raise `Irregular`;
- the caller then rolls back and reads the file row by row, and that reading names every
  problem, as it always has.

The file is split as Python's csv module splits it only if each record is one line: no
line break, NUL or bare carriage return inside a cell, and quotes only around whole cells
(`plain_lines`). Line numbers are then the row's position plus two, as `csv.reader` counts
them (Arrow reads a blank line as a row of empty cells, which is skipped as csv.reader's empty
row is).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from marketplace.contracts.services import term_problems
from marketplace.imports import ImportReport

BLOCK_SIZE = 4 << 20  # bytes of CSV to a block: about 20,000 contracts
SCAN_CHUNK = 8 << 20
NULL = "\\N"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECONDS = 1_000_000
# From 1992 on Shanghai keeps UTC+8 all year (its last summer time ended in September 1991),
# so a Shanghai date is the UTC instant plus eight hours, cut to the day.
FIXED_OFFSET_FROM = int((datetime(1992, 1, 1, tzinfo=UTC) - EPOCH).total_seconds()) * MICROSECONDS
SHANGHAI_OFFSET = 8 * 3600 * MICROSECONDS
DAY = 86_400 * MICROSECONDS

# A quoted cell holds no line break (`plain_lines` has already refused those lines).
_QUOTED_LINE = re.compile(rb'(?:[^",\r\n]*|"(?:[^"]|"")*")(?:,(?:[^",\r\n]*|"(?:[^"]|"")*"))*')
# Python and PostgreSQL read this form of an instant alike (PostgreSQL takes offsets up to
# 15:59), and its parts are checked here digit by digit: the date through Python.
OFFSET_INSTANT = (r"^[0-9]{4}-[0-9][0-9]-[0-9][0-9]T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
                  r"[+-](?:0[0-9]|1[0-5]):[0-5][0-9]$")
# "digits.dd" without a leading zero: above 0, under 10^16, two decimals, as parse_amount
# would store it.
AMOUNT = r"^[1-9][0-9]{0,15}\.[0-9][0-9]$"
NUMBER = r"^[0-9]{8,32}$"


_NO_TEXT = pa.scalar(None, type=pa.string())
_NO_INSTANT = pa.scalar(None, type=pa.int64())
_INSTANT = pa.struct([("us", pa.int64()), ("text", pa.string())])  # and its COPY text


class Irregular(Exception):
    """This reading cannot decide the file alone: read it row by row. `refused`: because of a
    row the checker refused or a number twice, so that the file will be rejected."""

    def __init__(self, reason: str, *, refused: bool = False) -> None:
        super().__init__(reason)
        self.refused = refused


def readable(source: Path | IO[str] | str) -> Callable[[], IO[bytes]] | None:
    """How to open the source as bytes, if this reader can take it: a file, or text already in
    memory; None for any other stream."""
    if isinstance(source, io.StringIO):
        data = source.getvalue().encode("utf-8")
        return lambda: io.BytesIO(data)
    if isinstance(source, Path | str) and not isinstance(source, io.IOBase):
        return lambda: open(source, "rb")
    return None


def plain_lines(raw: IO[bytes]) -> bool:
    """Whether every line of the file is one record that Arrow and Python's csv module read
    alike: no NUL, no carriage return but before a line feed, and quotes only around whole
    cells (quoted cells can then hold no line break). Reads the file once, in chunks that end
    at a line's end."""
    while chunk := raw.read(SCAN_CHUNK):
        chunk += raw.readline()
        if b"\x00" in chunk:
            return False
        if b"\r" in chunk and chunk.count(b"\r") != chunk.count(b"\r\n"):
            return False
        quote = chunk.find(b'"')
        while quote >= 0:
            start = chunk.rfind(b"\n", 0, quote) + 1
            end = chunk.find(b"\n", quote)
            end = len(chunk) if end < 0 else end
            if not _QUOTED_LINE.fullmatch(chunk[start:end].removesuffix(b"\r")):
                return False
            quote = chunk.find(b'"', end)
    return True


@cache
def _title_pattern() -> str:
    """A title that `importer._title` keeps exactly as it is: 1 to 300 characters (the length
    is checked apart), nothing to strip at either end, every character printable to Python
    (so no tab or line break), and no backslash (nothing for COPY to escape). Built from
    Python's own character tables, over the Basic Multilingual Plane; a title with any other
    character goes to `check`."""
    printable = [c for c in range(0x20, 0x10000)
                 if chr(c).isprintable() and not chr(c).isspace() and chr(c) != "\\"]
    ranges: list[tuple[int, int]] = []
    for c in printable:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1] = (ranges[-1][0], c)
        else:
            ranges.append((c, c))
    inner = "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}"
                    for a, b in ranges)
    return f"^[{inner}](?:[{inner} ]*[{inner}])?$"


def _microseconds(instant: datetime) -> int:
    return (instant - EPOCH) // timedelta(microseconds=1)


def _mapped(column: pa.Array, cache: dict[str, Any], decide: Callable[[str], Any],
            type_: pa.DataType) -> pa.Array:
    """`decide` of every cell of the column (None where it refuses), asked once per distinct
    text over the whole file."""
    distinct = pc.unique(column)
    texts = distinct.to_pylist()
    for text in texts:
        if text not in cache:
            cache[text] = decide(text)
    return pc.take(pa.array([cache[t] for t in texts], type=type_),
                   pc.index_in(column, value_set=distinct))


class ColumnarContracts:
    """The new contracts of a file as COPY text, a block at a time, with what `import_contracts`
    needs to know of the rest (rows already stored, and the counts)."""

    def __init__(self, checker: Any, header: Sequence[str], columns: Sequence[str],
                 existing: set[str], category_text: Callable[..., str]) -> None:
        self.checker = checker
        self.header = list(header)
        self.existing = existing
        self.category_text = category_text
        position = {column: i for i, column in enumerate(header)}  # the last of a repeated one
        self.order = [position[c] for c in columns]
        orgs = checker.orgs.valid  # the stored codes, exactly as stored, and their ids
        self.org_codes = pa.array(list(orgs), type=pa.string())
        self.org_ids = pa.array(list(orgs.values()), type=pa.int64())
        self.now = _microseconds(checker.now)
        self.categories: dict[str, tuple[str, bool] | None] = {}
        self.signed: dict[str, tuple[int, str] | None] = {}
        self.days: dict[str, tuple[int, str] | None] = {}
        self.dates: dict[str, int | None] = {}
        self.title = _title_pattern()
        self.numbers: list[pa.Array] = []
        self.rows = 0

    # --- per distinct cell -----------------------------------------------------------------

    def _category(self, key: str) -> tuple[str, bool] | None:
        """(COPY text, cancelled?) of a (type, subtype, field, related_party, status) that
        `check` accepts on its own cells and whose subtype fits the type."""
        cells = key.split("\x1f")
        if len(cells) != 5:
            return None
        memo = self.checker.memo
        try:
            kind, subtype, field = memo["type"](cells[0]), memo["subtype"](cells[1]), \
                memo["field"](cells[2])
            related, status = memo["related_party"](cells[3]), memo["status"](cells[4])
        except ValueError:
            return None
        if term_problems(kind, subtype, None, None, None, None, None, None):
            return None
        return self.category_text(kind, subtype, field, related, status), status == "cancelled"

    def _signed(self, cell: str) -> tuple[int, str] | None:
        """(the signing day's first instant in Shanghai, its text) of a signing date `check`
        accepts: a date, not after today."""
        try:
            day = self.checker.memo["signed_on"](cell)
        except ValueError:
            return None
        if day > self.checker.today:
            return None
        return _microseconds(self.checker._day_start(day)), day.isoformat()

    def _day(self, cell: str) -> tuple[int, str] | None:
        """A date-only instant (the day's start in Shanghai), as `check` reads it."""
        try:
            instant = self.checker.days(cell)
        except ValueError:
            return None
        return _microseconds(instant), instant.isoformat()

    def _date(self, cell: str) -> int | None:
        """The days from 1970-01-01 to the date part of an instant with an offset."""
        try:
            return (date.fromisoformat(cell) - date(1970, 1, 1)).days
        except ValueError:
            return None

    # --- per block -------------------------------------------------------------------------

    def _instants(self, column: pa.Array) -> tuple[pa.Array, pa.Array]:
        """(microseconds since 1970 in UTC, COPY text) of each instant `check` would accept
        and store alike; null elsewhere (and for empty cells)."""
        day_only = pc.equal(pc.utf8_length(column), 10)
        days = _mapped(pc.if_else(day_only, column, ""), self.days, self._day, _INSTANT)
        with_offset = pc.match_substring_regex(column, OFFSET_INSTANT)
        date_part = pc.utf8_slice_codeunits(column, 0, 10)
        day_number = _mapped(pc.if_else(with_offset, date_part, ""), self.dates, self._date,
                             pa.int64())

        def number(start: int, stop: int) -> pa.Array:
            digits = pc.if_else(with_offset, pc.utf8_slice_codeunits(column, start, stop), "0")
            return pc.cast(digits, pa.int64())

        sign = pc.if_else(pc.equal(pc.utf8_slice_codeunits(column, 19, 20), "-"), -1, 1)
        seconds = pc.add(pc.add(pc.multiply(day_number, 86_400),
                                pc.multiply(number(11, 13), 3600)),
                         pc.add(pc.multiply(number(14, 16), 60), number(17, 19)))
        offset = pc.multiply(sign, pc.add(pc.multiply(number(20, 22), 3600),
                                          pc.multiply(number(23, 25), 60)))
        offset_us = pc.multiply(pc.subtract(seconds, offset), MICROSECONDS)
        offset_us = pc.if_else(pc.and_(with_offset, pc.less_equal(offset_us, self.now)),
                               offset_us, _NO_INSTANT)
        us = pc.if_else(day_only, pc.struct_field(days, "us"), offset_us)
        text = pc.if_else(day_only, pc.struct_field(days, "text"),
                          pc.if_else(pc.is_valid(offset_us), column, _NO_TEXT))
        return us, text

    def block(self, batch: pa.RecordBatch, first_line: int
              ) -> tuple[list[tuple[int, Any]], pa.Array, pa.Array]:
        """The block's rows: the slow ones as (line, checked row) for the caller to write in
        their place, and the COPY lines of the others with whether each is already stored
        (null where the row is slow)."""
        cells = [batch.column(i) for i in self.order]
        (number, kind, subtype, title, field, seller, buyer, intermediary, total, technical,
         signed_on, registered_at, related, status, cancelled_at) = cells
        n = len(batch)

        key = pc.binary_join_element_wise(kind, subtype, field, related, status, "\x1f")
        category = _mapped(key, self.categories, self._category,
                           pa.struct([("text", pa.string()), ("cancelled", pa.bool_())]))
        cancelled = pc.struct_field(category, "cancelled")

        parties = pc.take(self.org_ids, pc.index_in(
            pa.concat_arrays([seller, buyer, intermediary]), value_set=self.org_codes))
        seller_id, buyer_id, intermediary_id = (parties.slice(0, n), parties.slice(n, n),
                                                parties.slice(2 * n, n))
        no_intermediary = pc.equal(intermediary, "")

        signed = _mapped(signed_on, self.signed, self._signed, _INSTANT)
        registered_us, registered_text = self._instants(registered_at)
        cancelled_us, cancelled_text = self._instants(cancelled_at)

        safe_amounts = pc.and_(pc.match_substring_regex(total, AMOUNT),
                               pc.match_substring_regex(technical, AMOUNT))
        amount = pa.decimal128(18, 2)
        within_total = pc.less_equal(pc.cast(pc.if_else(safe_amounts, technical, "1.00"), amount),
                                     pc.cast(pc.if_else(safe_amounts, total, "1.00"), amount))

        def shanghai_day(us: pa.Array) -> pa.Array:
            return pc.divide(pc.add(us, SHANGHAI_OFFSET), DAY)

        cancellation = pc.if_else(
            cancelled,
            pc.and_(pc.and_(pc.greater_equal(registered_us, FIXED_OFFSET_FROM),
                            pc.greater_equal(cancelled_us, FIXED_OFFSET_FROM)),
                    pc.greater_equal(shanghai_day(cancelled_us), shanghai_day(registered_us))),
            pc.equal(cancelled_at, ""))

        checks = [
            pc.match_substring_regex(number, NUMBER),
            pc.is_valid(category),
            pc.match_substring_regex(title, self.title),
            pc.less_equal(pc.utf8_length(title), 300),
            pc.is_valid(seller_id), pc.is_valid(buyer_id),
            pc.not_equal(seller_id, buyer_id),
            pc.if_else(no_intermediary, True,
                       pc.and_(pc.and_(pc.is_valid(intermediary_id),
                                       pc.not_equal(intermediary_id, seller_id)),
                               pc.not_equal(intermediary_id, buyer_id))),
            safe_amounts, within_total,
            pc.is_valid(signed), pc.is_valid(registered_us),
            pc.greater_equal(registered_us, pc.struct_field(signed, "us")),
            cancellation,
        ]
        fast = checks[0]
        for check in checks[1:]:
            fast = pc.and_kleene(fast, check)
        fast = pc.fill_null(fast, False)

        lines = pc.binary_join_element_wise(
            number, title, pc.cast(seller_id, pa.string()), pc.cast(buyer_id, pa.string()),
            pc.fill_null(pc.cast(intermediary_id, pa.string()), NULL), total, technical,
            pc.struct_field(signed, "text"), registered_text,
            pc.if_else(cancelled, cancelled_text, NULL), pc.struct_field(category, "text"),
            "\t")
        lines = pc.if_else(fast, lines, _NO_TEXT)
        # Arrow would build its lookup table again for every block: a Python set is built once.
        stored = (pa.array([n in self.existing for n in number.to_pylist()], type=pa.bool_())
                  if self.existing else pa.repeat(False, n))

        slow: list[tuple[int, Any]] = []
        numbers = number
        if not pc.all(fast).as_py():
            numbers = pc.if_else(fast, number, _NO_TEXT)
            for i in pc.indices_nonzero(pc.invert(fast)).to_pylist():
                line = first_line + i
                values = [column[i].as_py() for column in batch.columns]
                if not values[0].strip() and all(not v.strip() for v in values):
                    slow.append((line, None))  # a blank row: not a row at all
                    continue
                parsed = self.checker.check(line, dict(zip(self.header, values, strict=True)))
                if parsed is None:
                    raise Irregular(f"line {line} is refused", refused=True)
                slow.append((line, parsed))
            self.numbers.append(pa.array([p.contract_no for _, p in slow if p is not None],
                                         type=pa.string()))
        self.numbers.append(pc.drop_null(numbers))
        self.rows += n - sum(1 for _, p in slow if p is None)
        return slow, lines, stored

    def numbers_unique(self) -> bool:
        numbers = pa.chunked_array(self.numbers, type=pa.string())
        return len(pc.unique(numbers)) == len(numbers)


def blob(lines: pa.Array) -> bytes:
    """The strings of an array (no nulls) one after another: the array's own data, cut out."""
    if len(lines) == 0:
        return b""
    offsets = memoryview(lines.buffers()[1]).cast("i")  # a string array's int32 offsets
    start, end = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return memoryview(lines.buffers()[2])[start:end].tobytes()


def header(first: bytes, report: ImportReport, expected: Sequence[str],
           read_header: Callable[..., list[str] | None]) -> list[str] | None:
    """The first line, read by Python's csv module as `importer._header` reads it."""
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return read_header(csv.reader([text]), expected, report)


def batches(raw: IO[bytes], width: int) -> Any:
    """The rows after the header, as blocks of string columns, exactly as written."""
    return pacsv.open_csv(
        raw,
        read_options=pacsv.ReadOptions(block_size=BLOCK_SIZE, skip_rows=1,
                                       column_names=[f"c{i}" for i in range(width)]),
        parse_options=pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={f"c{i}": pa.string() for i in range(width)},
            strings_can_be_null=False, quoted_strings_can_be_null=False))

