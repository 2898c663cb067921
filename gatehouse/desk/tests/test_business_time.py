"""Business-time arithmetic: hand-checked examples and hypothesis properties (weekends, custom hours, holidays,
DST transitions in America/New_York and Europe/Berlin, pauses, add/elapsed round trip, monotonicity)."""

from __future__ import annotations

import contextlib
import copy
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gatehouse.desk.business_time import BusinessClock, validate_calendar_spec
from gatehouse.desk.models import default_weekly_hours

H = 3600
ALL_WEEK = {str(d): [["00:00", "24:00"]] for d in range(1, 8)}
NINE_TO_FIVE = {str(d): [["09:00", "17:00"]] for d in range(1, 6)}
SPLIT = {str(d): [["08:30", "12:00"], ["13:00", "17:30"]] for d in range(1, 6)}
ZONES = ["UTC", "America/New_York", "Europe/Berlin"]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


# -- hand-checked examples -------------------------------------------------------------------------------------


def test_default_calendar_is_monday_to_friday_around_the_clock():
    clock = BusinessClock("UTC", default_weekly_hours())
    friday_evening = utc(2026, 11, 27, 20)  # Friday
    assert clock.add(friday_evening, 4 * H) == utc(2026, 11, 28)  # ends exactly at Friday 24:00
    assert clock.add(friday_evening, 5 * H) == utc(2026, 11, 30, 1)  # Monday 01:00
    assert clock.elapsed(friday_evening, utc(2026, 11, 30, 1)) == 5 * H
    assert not clock.is_open(utc(2026, 11, 28, 12))  # Saturday
    assert clock.is_open(utc(2026, 11, 30, 0))  # Monday 00:00
    assert not clock.is_open(utc(2026, 11, 28, 0))  # Friday 24:00 is closed (end is exclusive)
    assert clock.next_open(utc(2026, 11, 29, 10)) == utc(2026, 11, 30)
    assert clock.elapsed(utc(2026, 11, 23), utc(2026, 11, 30)) == 5 * 24 * H  # one whole week


def test_nine_to_five_in_new_york():
    zone = "America/New_York"
    clock = BusinessClock(zone, NINE_TO_FIVE)
    start = local(zone, 2026, 12, 4, 16, 0)  # Friday 16:00
    assert clock.add(start, 2 * H) == local(zone, 2026, 12, 7, 10, 0).astimezone(UTC)  # Monday 10:00
    assert clock.add(start, 1 * H) == local(zone, 2026, 12, 4, 17, 0).astimezone(UTC)
    assert clock.next_open(local(zone, 2026, 12, 4, 17, 0)) == local(zone, 2026, 12, 7, 9, 0).astimezone(UTC)
    # 8 business hours from Wednesday 09:00 end at 17:00 the same day (14:00 UTC in winter is 09:00 local).
    assert clock.add(utc(2026, 12, 2, 14), 8 * H) == utc(2026, 12, 2, 22)


def test_split_days_skip_lunch():
    clock = BusinessClock("Europe/Berlin", SPLIT)
    start = local("Europe/Berlin", 2026, 12, 1, 11, 0)  # Tuesday
    assert clock.add(start, 2 * H) == local("Europe/Berlin", 2026, 12, 1, 14, 0).astimezone(UTC)
    assert clock.elapsed(start, local("Europe/Berlin", 2026, 12, 1, 18, 0)) == 1 * H + 4.5 * H


def test_holidays_close_the_whole_local_day():
    zone = "America/New_York"
    clock = BusinessClock(zone, NINE_TO_FIVE, holidays=[date(2026, 11, 26)])  # Thanksgiving, a Thursday
    start = local(zone, 2026, 11, 25, 16, 0)
    assert clock.add(start, 2 * H) == local(zone, 2026, 11, 27, 10, 0).astimezone(UTC)
    assert not clock.is_open(local(zone, 2026, 11, 26, 12, 0))
    assert clock.elapsed(local(zone, 2026, 11, 23, 0, 0), local(zone, 2026, 11, 30, 0, 0)) == 4 * 8 * H


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("America/New_York", date(2026, 3, 8), 23),
        ("America/New_York", date(2026, 11, 1), 25),
        ("Europe/Berlin", date(2026, 3, 29), 23),
        ("Europe/Berlin", date(2026, 10, 25), 25),
        ("Europe/Berlin", date(2026, 10, 26), 24),
    ],
)
def test_a_whole_local_day_lasts_23_or_25_hours_across_dst(zone, day, hours):
    clock = BusinessClock(zone, ALL_WEEK)
    start = datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(zone))
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=ZoneInfo(zone))
    assert clock.elapsed(start, end) == hours * H
    assert clock.add(start, hours * H) == end.astimezone(UTC)


def test_nine_to_five_is_eight_hours_on_dst_days_too():
    zone = "America/New_York"
    hours = {str(d): [["09:00", "17:00"]] for d in range(1, 8)}
    clock = BusinessClock(zone, hours)
    for day in (date(2026, 3, 8), date(2026, 11, 1)):
        start = datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(zone))
        assert clock.elapsed(start, start + timedelta(days=1, hours=3)) == 8 * H
        assert clock.add(start, 0) == datetime.combine(
            day, datetime.min.time().replace(hour=9), ZoneInfo(zone)
        )


def test_hours_inside_the_spring_forward_gap():
    zone = "America/New_York"
    # 02:00-03:00 does not exist on 2026-03-08: the span 01:00-03:30 is open 1.5 real hours.
    clock = BusinessClock(zone, {"7": [["01:00", "03:30"]]})
    assert clock.intervals(date(2026, 3, 8)) == [(utc(2026, 3, 8, 6), utc(2026, 3, 8, 7, 30))]
    # A span wholly inside the gap is never open.
    empty = BusinessClock(zone, {"7": [["02:10", "02:50"], ["09:00", "10:00"]]})
    assert empty.intervals(date(2026, 3, 8)) == [(utc(2026, 3, 8, 13), utc(2026, 3, 8, 14))]


def test_the_repeated_hour_counts_twice_in_autumn():
    zone = "Europe/Berlin"
    clock = BusinessClock(zone, {"7": [["01:00", "04:00"]]})
    assert clock.elapsed(utc(2026, 10, 24), utc(2026, 10, 26)) == 4 * H


def test_a_pause_extends_the_due_time_by_its_business_time():
    clock = BusinessClock("UTC", NINE_TO_FIVE)
    start = utc(2026, 11, 30, 9)  # Monday
    due = clock.add(start, 8 * H)
    assert due == utc(2026, 11, 30, 17)
    paused, resumed = utc(2026, 11, 30, 15), utc(2026, 12, 1, 11)  # 2h on Monday + 2h on Tuesday
    pause = clock.elapsed(paused, resumed)
    assert pause == 4 * H
    assert clock.add(start, 8 * H + pause) == utc(2026, 12, 1, 13)


def test_an_always_closed_calendar_is_refused_and_all_holidays_give_a_clear_error():
    with pytest.raises(ValidationError) as caught:
        BusinessClock("UTC", {"1": []})
    assert "weekly_hours" in caught.value.message_dict
    holidays = [date(2026, 1, 1) + timedelta(days=i) for i in range(4 * 366)]
    clock = BusinessClock("UTC", ALL_WEEK, holidays)
    with pytest.raises(ValueError, match="no open time"):
        clock.add(utc(2026, 1, 1), 60)


def test_naive_datetimes_are_refused():
    clock = BusinessClock("UTC", ALL_WEEK)
    with pytest.raises(ValueError, match="aware"):
        clock.add(datetime(2026, 1, 1), 60)


@pytest.mark.parametrize(
    ("time_zone", "hours", "field", "message"),
    [
        ("Mars/Olympus", default_weekly_hours(), "time_zone", "not a known IANA time zone"),
        ("", default_weekly_hours(), "time_zone", "not a known"),
        ("UTC", {"1": [["09:00", "12:00"], ["11:00", "13:00"]]}, "weekly_hours", "overlap"),
        ("UTC", {"1": [["17:00", "09:00"]]}, "weekly_hours", "ends before it starts"),
        ("UTC", {"1": [["9am", "5pm"]]}, "weekly_hours", "HH:MM"),
        ("UTC", {"1": [["09:00", "24:30"]]}, "weekly_hours", "past 24:00"),
        ("UTC", {"8": [["09:00", "17:00"]]}, "weekly_hours", "ISO weekday"),
        ("UTC", {"1": "09:00-17:00"}, "weekly_hours", "list"),
        ("UTC", {"1": [["09:00"]]}, "weekly_hours", "span"),
        ("UTC", [], "weekly_hours", "object"),
    ],
)
def test_validate_calendar_spec_names_the_field(time_zone, hours, field, message):
    with pytest.raises(ValidationError) as caught:
        validate_calendar_spec(time_zone, hours)
    assert field in caught.value.message_dict
    assert message in " ".join(caught.value.message_dict[field])


def test_touching_spans_are_fine():
    validate_calendar_spec(
        "Europe/Berlin", {"1": [["09:00", "12:00"], ["12:00", "24:00"]], "2": [["00:00", "01:00"]]}
    )


# -- properties ------------------------------------------------------------------------------------------------

minutes = st.integers(min_value=0, max_value=24 * 60)


@st.composite
def weekly_hours(draw):
    hours = {}
    for day in range(1, 8):
        cuts = sorted(draw(st.lists(minutes, max_size=6, unique=True)))
        spans = [
            [f"{a // 60:02d}:{a % 60:02d}", f"{b // 60:02d}:{b % 60:02d}"]
            for a, b in zip(cuts[::2], cuts[1::2], strict=False)
        ]
        if spans:
            hours[str(day)] = spans
    # At least 8 open hours a week, as any real desk has: the longest target drawn (30 days of open time) then
    # ends within the clock's search horizon of three years.
    open_minutes = sum(b - a for day_cuts in hours.values() for a, b in (_minutes(s) for s in day_cuts))
    assume(open_minutes >= 8 * 60)
    return hours


def _minutes(span: list[str]) -> tuple[int, int]:
    (ah, am), (bh, bm) = (map(int, t.split(":")) for t in span)
    return ah * 60 + am, bh * 60 + bm


# Instants from late 2025 to early 2028: several DST transitions on both continents.
instants = st.datetimes(
    min_value=datetime(2025, 10, 1), max_value=datetime(2028, 4, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))
holiday_sets = st.lists(st.dates(min_value=date(2025, 10, 1), max_value=date(2028, 4, 1)), max_size=20)
durations = st.integers(min_value=0, max_value=30 * 24 * H)


@st.composite
def clocks(draw):
    zone = draw(st.sampled_from(ZONES))
    hours = draw(
        st.one_of(st.just(default_weekly_hours()), st.just(NINE_TO_FIVE), st.just(SPLIT), weekly_hours())
    )
    return BusinessClock(zone, hours, draw(holiday_sets))


@settings(max_examples=150, deadline=None)
@given(clock=clocks(), start=instants, seconds=durations)
def test_add_then_elapsed_round_trips(clock, start, seconds):
    end = clock.add(start, seconds)
    assert end >= start
    assert end.tzinfo == UTC
    assert clock.elapsed(start, end) == seconds


@settings(max_examples=150, deadline=None)
@given(clock=clocks(), start=instants, a=durations, b=durations)
def test_add_is_monotonic(clock, start, a, b):
    low, high = sorted((a, b))
    assert clock.add(start, low) <= clock.add(start, high)


@settings(max_examples=150, deadline=None)
@given(clock=clocks(), a=instants, b=instants, c=instants)
def test_elapsed_adds_up_and_never_exceeds_wall_time(clock, a, b, c):
    a, b, c = sorted((a, b, c))
    assert clock.elapsed(a, c) == clock.elapsed(a, b) + clock.elapsed(b, c)
    assert 0 <= clock.elapsed(a, c) <= (c - a).total_seconds()
    assert clock.elapsed(c, a) == 0


@settings(max_examples=150, deadline=None)
@given(clock=clocks(), start=instants, seconds=st.integers(min_value=1, max_value=30 * 24 * H))
def test_a_positive_add_ends_in_or_at_the_end_of_open_time(clock, start, seconds):
    end = clock.add(start, seconds)
    # The last second before the end was open.
    assert clock.is_open(end - timedelta(seconds=1))


@settings(max_examples=150, deadline=None)
@given(clock=clocks(), instant=instants)
def test_next_open_is_open_and_nothing_is_open_before_it(clock, instant):
    first = clock.next_open(instant)
    assert first >= instant
    assert clock.is_open(first)
    assert clock.elapsed(instant, first) == 0
    assert clock.is_open(instant) == (first == instant)


@settings(max_examples=100, deadline=None)
@given(clock=clocks(), start=instants, target=durations, pause_at=durations, pause_len=durations)
def test_a_pause_moves_the_due_time_by_exactly_the_pause(clock, start, target, pause_at, pause_len):
    """Paused between two instants, the clock's business time used at the new due time is the target."""
    paused = clock.add(start, min(pause_at, target))
    resumed = paused + timedelta(seconds=pause_len)
    pause = clock.elapsed(paused, resumed)
    due = clock.add(start, target + pause)
    assert due >= clock.add(start, target)
    used = clock.elapsed(start, due) - clock.elapsed(paused, min(resumed, due))
    if resumed <= due:
        assert used == target


@settings(max_examples=100, deadline=None)
@given(zone=st.sampled_from(ZONES), start=instants, seconds=durations)
def test_around_the_clock_is_wall_time(zone, start, seconds):
    clock = BusinessClock(zone, ALL_WEEK)
    assert clock.add(start, seconds) == start + timedelta(seconds=seconds)


@settings(max_examples=100, deadline=None)
@given(clock=clocks(), start=instants, seconds=durations)
def test_a_holiday_never_makes_things_sooner(clock, start, seconds):
    try:
        due = clock.add(start, seconds)
    except ValueError:  # the target lies beyond the clock's horizon (a few open hours a week, a long target)
        assume(False)
    extra = due.astimezone(clock.zone).date()
    with_holiday = copy.copy(clock)
    with_holiday.holidays = clock.holidays | {extra}
    with_holiday._days = {}
    with contextlib.suppress(ValueError):  # ValueError: the holiday left no open time at all
        assert with_holiday.add(start, seconds) >= due
