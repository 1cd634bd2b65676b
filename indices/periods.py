"""Calendar months (periods) and the Asia/Shanghai month of a registration instant.

An index month is a calendar month in Asia/Shanghai time (methodology v1, *Data*). A
:class:`Period` is an ordered, hashable ``(year, month)`` pair; it prints as ``"YYYY-MM"``.

>>> p = Period(2019, 12)
>>> str(p), str(p.shift(1)), str(p.shift(-12))
('2019-12', '2020-01', '2018-12')
>>> Period.parse("2021-03") > p
True
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

__all__ = ["SHANGHAI", "Period", "month_range", "period_of"]

#: Asia/Shanghai. China has kept UTC+8 without daylight saving since 1991, so a fixed offset
#: is exact for every registration the market can hold and needs no tz database.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

_PERIOD_RE = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True, slots=True)
class Period:
    """A calendar month ``(year, month)``; ordered chronologically.

    >>> Period(2020, 2) < Period(2020, 10) < Period(2021, 1)
    True
    >>> Period(2020, 13)
    Traceback (most recent call last):
    ...
    ValueError: month must be 1..12, got 13
    """

    year: int
    month: int

    def __post_init__(self) -> None:
        if isinstance(self.year, bool) or not isinstance(self.year, int):
            raise TypeError(f"year must be an int, got {self.year!r}")
        if isinstance(self.month, bool) or not isinstance(self.month, int):
            raise TypeError(f"month must be an int, got {self.month!r}")
        if not 1 <= self.month <= 12:
            raise ValueError(f"month must be 1..12, got {self.month}")
        if not 1 <= self.year <= 9999:
            raise ValueError(f"year must be 1..9999, got {self.year}")

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse ``"YYYY-MM"``.

        >>> Period.parse("2019-01")
        Period(year=2019, month=1)
        """
        match = _PERIOD_RE.match(text.strip())
        if match is None:
            raise ValueError(f"a period is written YYYY-MM, got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, value: Period | tuple[int, int] | str) -> Period:
        """Coerce a :class:`Period`, a ``(year, month)`` tuple or ``"YYYY-MM"``.

        >>> Period.of((2019, 5)) == Period.of("2019-05") == Period(2019, 5)
        True
        """
        if isinstance(value, Period):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, tuple) and len(value) == 2:
            return cls(value[0], value[1])
        raise TypeError(f"not a period: {value!r}")

    @property
    def ordinal(self) -> int:
        """Months since January of year 0: ``12·year + month − 1`` (consecutive months differ by 1).

        >>> Period(2020, 1).ordinal - Period(2019, 12).ordinal
        1
        """
        return self.year * 12 + self.month - 1

    @classmethod
    def from_ordinal(cls, ordinal: int) -> Period:
        """Inverse of :attr:`ordinal`.

        >>> Period.from_ordinal(Period(2019, 7).ordinal)
        Period(year=2019, month=7)
        """
        year, month0 = divmod(ordinal, 12)
        return cls(year, month0 + 1)

    def shift(self, months: int) -> Period:
        """The period ``months`` later (earlier when negative).

        >>> Period(2021, 1).shift(-1)
        Period(year=2020, month=12)
        """
        return Period.from_ordinal(self.ordinal + months)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def month_range(first: Period, last: Period) -> Iterator[Period]:
    """Every period from ``first`` through ``last``, both included (empty if ``last < first``).

    >>> [str(p) for p in month_range(Period(2019, 11), Period(2020, 2))]
    ['2019-11', '2019-12', '2020-01', '2020-02']
    """
    for ordinal in range(first.ordinal, last.ordinal + 1):
        yield Period.from_ordinal(ordinal)


def period_of(registered: date | datetime) -> Period:
    """The Asia/Shanghai calendar month of a registration instant (methodology v1, *Data*).

    A ``date`` is taken as a Shanghai calendar day; a naive ``datetime`` as Shanghai wall time;
    an aware ``datetime`` is converted to Shanghai first, so a UTC evening on the last day of a
    month falls in the next month.

    >>> period_of(date(2019, 2, 28))
    Period(year=2019, month=2)
    >>> period_of(datetime(2019, 2, 28, 23, 24, tzinfo=timezone.utc))
    Period(year=2019, month=3)
    >>> period_of(datetime(2019, 2, 28, 23, 24))
    Period(year=2019, month=2)
    """
    if isinstance(registered, datetime):
        if registered.tzinfo is not None and registered.utcoffset() is not None:
            registered = registered.astimezone(SHANGHAI)
        return Period(registered.year, registered.month)
    if isinstance(registered, date):
        return Period(registered.year, registered.month)
    raise TypeError(f"registered_at must be a date or datetime, got {registered!r}")
