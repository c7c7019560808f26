"""ISO weeks (Monday 00:00 UTC to the next Monday): the period a digest covers and its key."""

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

_PATTERN = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True, order=True)
class Week:
    """One ISO week; ``str(week)`` ("2026-W48") is how deliveries and ``--week`` name it."""

    year: int
    number: int

    @classmethod
    def parse(cls, text):
        """``Week`` for "YYYY-Www", or ValueError saying what is expected."""
        match = _PATTERN.match(str(text).strip())
        if not match:
            raise ValueError(f"{text!r} is not an ISO week like 2026-W48")
        year, number = int(match.group(1)), int(match.group(2))
        try:
            date.fromisocalendar(year, number, 1)
        except ValueError:
            raise ValueError(f"{year} has no ISO week {number}") from None
        return cls(year, number)

    @classmethod
    def containing(cls, moment):
        """The week ``moment`` (a date or aware datetime) falls in."""
        day = moment.astimezone(timezone.utc).date() if isinstance(moment, datetime) else moment
        year, number, _ = day.isocalendar()
        return cls(year, number)

    @classmethod
    def last_complete(cls, now=None):
        """The most recent week that has ended: what a Monday-morning run reports on."""
        return cls.containing(now or datetime.now(timezone.utc)).previous()

    @property
    def start(self):
        """Monday 00:00 UTC (included)."""
        return datetime.combine(date.fromisocalendar(self.year, self.number, 1), datetime.min.time(), timezone.utc)

    @property
    def end(self):
        """The next Monday 00:00 UTC (excluded)."""
        return self.start + timedelta(days=7)

    def previous(self, weeks=1):
        """The week ``weeks`` before this one."""
        return Week.containing(self.start - timedelta(days=7 * weeks))

    def __str__(self):
        return f"{self.year}-W{self.number:02d}"
