"""Business-time arithmetic: pure functions, no database.

A calendar is a time zone, weekly hours and holidays. Weekly hours map ISO weekdays as text ("1" Monday ... "7"
Sunday) to lists of ``["HH:MM", "HH:MM"]`` spans in local wall-clock time; ``"24:00"`` ends a day. A holiday
closes its whole local date.

Instants in and out are aware datetimes, returned in UTC. Each local date is turned into its open intervals as
UTC instants, so daylight-saving days come out right: a 00:00-24:00 day lasts 23 hours on the spring-forward
date and 25 on the fall-back date. A wall-clock time that does not exist (inside the spring-forward gap) is
taken as the instant the gap ends (so a span from 02:00 to 03:30 on that night is open for 30 minutes); an
ambiguous one (inside the repeated hour) as its first occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.core.exceptions import ValidationError

_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
# add() gives up after this many days without enough open time (a calendar that is all holidays).
MAX_SEARCH_DAYS = 3 * 366

Interval = tuple[datetime, datetime]


def _minutes(text: str) -> int:
    match = _HHMM.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f'"{text}" is not a time of the form HH:MM.')
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours == 24 and minutes:
        raise ValueError(f'"{text}" is past 24:00.')
    return hours * 60 + minutes


def parse_weekly_hours(weekly_hours: object) -> dict[int, list[tuple[int, int]]]:
    """Weekly hours as {ISO weekday: [(start minute, end minute), ...]}, sorted. Raises ValidationError naming
    the field ("weekly_hours") with a message naming the day."""
    if not isinstance(weekly_hours, Mapping):
        raise ValidationError(
            {"weekly_hours": 'Must be an object of ISO weekdays ("1" Monday ... "7" Sunday).'}
        )
    days: dict[int, list[tuple[int, int]]] = {}
    errors: list[str] = []
    for key, spans in weekly_hours.items():
        if str(key) not in {str(d) for d in range(1, 8)}:
            errors.append(f'"{key}" is not an ISO weekday (1 Monday ... 7 Sunday).')
            continue
        day = int(key)
        if not isinstance(spans, list):
            errors.append(f"Day {day}: must be a list of [start, end] spans.")
            continue
        parsed: list[tuple[int, int]] = []
        for span in spans:
            if not isinstance(span, list | tuple) or len(span) != 2:
                errors.append(f'Day {day}: each span must be ["HH:MM", "HH:MM"].')
                continue
            try:
                start, end = _minutes(span[0]), _minutes(span[1])
            except ValueError as exc:
                errors.append(f"Day {day}: {exc}")
                continue
            if start >= end:
                errors.append(f"Day {day}: {span[0]}-{span[1]} ends before it starts.")
                continue
            parsed.append((start, end))
        parsed.sort()
        for (s1, e1), (s2, e2) in pairwise(parsed):
            if s2 < e1:
                errors.append(f"Day {day}: spans {_fmt(s1)}-{_fmt(e1)} and {_fmt(s2)}-{_fmt(e2)} overlap.")
        days[day] = parsed
    if not errors and not any(days.values()):
        errors.append("The calendar must be open at some time in the week.")
    if errors:
        raise ValidationError({"weekly_hours": errors})
    return days


def _fmt(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_time_zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name or name not in _zone_names():
        raise ValidationError({"time_zone": f'"{name}" is not a known IANA time zone, e.g. "Europe/Berlin".'})
    try:
        return ZoneInfo(name)
    except (
        ZoneInfoNotFoundError,
        ValueError,
    ) as exc:  # pragma: no cover - available_timezones() said it exists
        raise ValidationError({"time_zone": f'"{name}" is not a known IANA time zone.'}) from exc


_ZONES: set[str] | None = None


def _zone_names() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones() | {"UTC"}
    return _ZONES


def validate_calendar_spec(time_zone: object, weekly_hours: object) -> None:
    """Raise ValidationError keyed by field ("time_zone", "weekly_hours") unless both are valid."""
    errors: dict[str, list[str]] = {}
    for check in (lambda: parse_time_zone(time_zone), lambda: parse_weekly_hours(weekly_hours)):
        try:
            check()
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)


def _require_aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime.")
    return value.astimezone(UTC)


class BusinessClock:
    """Open time of one calendar. ``add`` and ``elapsed`` are inverse: ``elapsed(t, add(t, s)) == s``."""

    def __init__(self, time_zone: str, weekly_hours: Mapping, holidays: Iterable[date] = ()) -> None:
        self.zone = parse_time_zone(time_zone)
        self.hours = parse_weekly_hours(weekly_hours)
        self.holidays = frozenset(holidays)
        self._days: dict[date, list[Interval]] = {}

    @classmethod
    def for_calendar(cls, calendar, holidays: Iterable[date] | None = None) -> BusinessClock:
        """A clock for a BusinessCalendar row; its holidays are read unless given."""
        if holidays is None:
            holidays = calendar.holidays.values_list("date", flat=True)
        return cls(calendar.time_zone, calendar.weekly_hours, holidays)

    # -- the open intervals of one local date, as UTC instants ------------------------------------------------

    def _instant(self, day: date, minute: int) -> datetime:
        local = datetime.combine(day, time()) + timedelta(
            minutes=minute
        )  # 24:00 becomes the next day's 00:00
        first = local.replace(tzinfo=self.zone, fold=0)
        utc = first.astimezone(UTC)
        if utc.astimezone(self.zone).replace(tzinfo=None) != local:
            # In a spring-forward gap: fold=1 reads it with the new offset, which lands before the gap; the gap
            # ends at the first instant whose wall clock is at or past `local`.
            before = local.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
            after = utc
            return min(after, max(before, self._gap_end(before, after)))
        return utc

    def _gap_end(self, lo: datetime, hi: datetime) -> datetime:
        """The instant in (lo, hi] where the UTC offset changes (whole minutes suffice for real zones)."""
        offset = lo.astimezone(self.zone).utcoffset()
        while (hi - lo) > timedelta(minutes=1):
            mid = lo + (hi - lo) // 2
            mid = mid.replace(second=0, microsecond=0)
            if mid <= lo:
                break
            if mid.astimezone(self.zone).utcoffset() == offset:
                lo = mid
            else:
                hi = mid
        return hi

    def intervals(self, day: date) -> list[Interval]:
        """The open intervals of a local date, in order, as [start, end) UTC instants."""
        cached = self._days.get(day)
        if cached is not None:
            return cached
        result: list[Interval] = []
        if day not in self.holidays:
            for start_minute, end_minute in self.hours.get(day.isoweekday(), ()):
                start, end = self._instant(day, start_minute), self._instant(day, end_minute)
                if result and start < result[-1][1]:
                    start = result[-1][1]
                if end > start:
                    if result and result[-1][1] == start:
                        result[-1] = (result[-1][0], end)
                    else:
                        result.append((start, end))
        if len(self._days) > 4096:
            self._days.clear()
        self._days[day] = result
        return result

    def _local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    # -- the public arithmetic -------------------------------------------------------------------------------

    def is_open(self, instant: datetime) -> bool:
        instant = _require_aware(instant, "instant")
        return any(start <= instant < end for start, end in self.intervals(self._local_date(instant)))

    def next_open(self, instant: datetime) -> datetime:
        """The first open instant at or after `instant` (itself when open)."""
        return self.add(instant, 0)

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant when `seconds` of open time have passed since `start`. With 0: the next open instant.

        A target that uses up an interval exactly ends at that interval's end (e.g. Friday 17:00), not at the
        next opening."""
        start = _require_aware(start, "start")
        if seconds < 0:
            raise ValueError("seconds must not be negative.")
        remaining = timedelta(seconds=seconds)
        day = self._local_date(start)
        for _ in range(MAX_SEARCH_DAYS):
            for open_at, close_at in self.intervals(day):
                if close_at <= start:
                    continue
                begin = max(open_at, start)
                available = close_at - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
            day += timedelta(days=1)
        raise ValueError(f"The calendar has no open time within {MAX_SEARCH_DAYS} days.")

    def elapsed(self, start: datetime, end: datetime) -> float:
        """Open seconds in [start, end); 0 when end is not after start."""
        start, end = _require_aware(start, "start"), _require_aware(end, "end")
        if end <= start:
            return 0.0
        total = timedelta()
        day, last = self._local_date(start), self._local_date(end)
        while day <= last:
            for open_at, close_at in self.intervals(day):
                lo, hi = max(open_at, start), min(close_at, end)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total.total_seconds()
