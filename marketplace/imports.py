"""Shared machinery of the bulk imports: read a CSV, collect every bad row, all or nothing.

An importer reads the whole file, validating every row and collecting each problem as
(line, column, reason). If any row is bad nothing is written and the report lists them all;
otherwise the rows are written in the caller's single transaction.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_REPORTED = 1000


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.reason}"


@dataclass
class ImportReport:
    kind: str
    source: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0

    def add(self, line: int, column: str, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append(RowError(line, column, reason))

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def summary(self) -> str:
        if not self.ok:
            return (f"{self.kind}: {self.source}: {self.error_count} problem(s) in "
                    f"{self.rows} row(s); nothing was imported")
        return (f"{self.kind}: {self.rows} row(s): {self.inserted} new, {self.updated} updated, "
                f"{self.unchanged} unchanged")


class ImportRejected(Exception):
    def __init__(self, report: ImportReport) -> None:
        super().__init__(report.summary())
        self.report = report


def open_csv(source: Path | IO[str] | str) -> IO[str]:
    if isinstance(source, Path | str) and not isinstance(source, io.IOBase):
        return open(source, encoding="utf-8-sig", newline="")
    return source  # type: ignore[return-value]


def read_rows(
    stream: IO[str], expected: Sequence[str], report: ImportReport, optional: Sequence[str] = ()
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) after checking the header; bad structure goes to the report."""
    reader = csv.reader(stream)
    try:
        header = [h.strip().lstrip("\ufeff") for h in next(reader)]
    except StopIteration:
        report.add(1, "header", "the file is empty")
        return
    except (csv.Error, UnicodeDecodeError) as exc:
        report.add(1, "header", f"unreadable: {exc}")
        return
    missing = [c for c in expected if c not in header and c not in optional]
    unknown = [c for c in header if c not in expected]
    for c in missing:
        report.add(1, c, "column missing from the header")
    for c in unknown:
        report.add(1, c, "unknown column")
    if missing or unknown:
        return
    width = len(header)
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            report.rows += 1
            report.add(reader.line_num, "row", f"unreadable: {exc}")
            continue
        if not values or all(not v.strip() for v in values):
            continue
        report.rows += 1
        if len(values) != width:
            report.add(reader.line_num, "row", f"{len(values)} cells where the header has {width}")
            continue
        yield reader.line_num, dict(zip(header, values, strict=True))


def parse_amount(text: str, *, allow_zero: bool = False) -> Decimal:
    """Yuan with at most two decimals; refuses negatives, non-numbers and a third decimal."""
    t = text.strip().replace(",", "") if text.count(",") and "." in text else text.strip()
    try:
        value = Decimal(t)
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not an amount") from exc
    if not value.is_finite():
        raise ValueError(f"{text!r} is not an amount")
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError(f"{text!r} has more than two decimals")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{text!r} must be greater than 0")
    if value >= Decimal("1e16"):
        raise ValueError(f"{text!r} is too large")
    return value.quantize(Decimal("0.01"))


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def parse_instant(text: str) -> datetime:
    """A date or date-time; without an offset it is Asia/Shanghai. Returned in UTC."""
    t = text.strip()
    try:
        if len(t) == 10:
            d = date.fromisoformat(t)
            local = datetime(d.year, d.month, d.day, tzinfo=SHANGHAI)
        else:
            parsed = datetime.fromisoformat(t.replace("Z", "+00:00"))
            local = parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date or date-time (ISO 8601)") from exc
    return local.astimezone(UTC)


def parse_flag(text: str) -> bool:
    t = text.strip()
    if t in ("0", ""):
        return False
    if t == "1":
        return True
    raise ValueError(f"{text!r} must be 0 or 1")
