"""The desk dashboard's numbers, computed with aggregate queries over a date range.

Every figure is over the requests the user can see (`selectors.visible_requests`), except the deflection rate,
which is desk-wide: a deflection belongs to no queue, so it is set against every request filed in the range.

Times are wall-clock durations (filed -> first public reply, filed -> resolved); the SLA states say how they
compare with the business-time targets. Percentiles are computed in Python over one column of durations for
the range, the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from gatehouse.desk.models import Deflection, Request, SlaState, Status

RANGE_CHOICES = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_DAYS = 731  # two years; longer ranges are for a report, not a page
TOP_ROWS = 10  # bars shown per chart; the rest are summed into "Other"


@dataclass(frozen=True)
class DateRange:
    """Whole days in the current time zone: [start, end) as aware datetimes."""

    first_day: datetime.date
    last_day: datetime.date
    days: int | None = None  # 7, 30 or 90 for a preset range; None for a custom one

    @property
    def start(self) -> datetime.datetime:
        return timezone.make_aware(datetime.datetime.combine(self.first_day, datetime.time.min))

    @property
    def end(self) -> datetime.datetime:
        next_day = self.last_day + datetime.timedelta(days=1)
        return timezone.make_aware(datetime.datetime.combine(next_day, datetime.time.min))

    @property
    def day_count(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def dates(self) -> list[datetime.date]:
        return [self.first_day + datetime.timedelta(days=i) for i in range(self.day_count)]

    def __str__(self) -> str:
        if self.days:
            return f"last {self.days} days"
        return f"{self.first_day:%Y-%m-%d} to {self.last_day:%Y-%m-%d}"


def preset_range(days: int, today: datetime.date | None = None) -> DateRange:
    today = today or timezone.localdate()
    return DateRange(today - datetime.timedelta(days=days - 1), today, days)


def _parse_date(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text.strip())


def parse_range(
    params: Mapping[str, str], today: datetime.date | None = None
) -> tuple[DateRange, dict[str, str]]:
    """The range asked for in query parameters (range=7|30|90, or from= and to= as YYYY-MM-DD).

    Returns the range and errors by parameter name; with errors, the range is the default (last 30 days), so a
    page can show the errors inline next to real numbers.
    """
    today = today or timezone.localdate()
    errors: dict[str, str] = {}
    start_text, end_text = (params.get("from") or "").strip(), (params.get("to") or "").strip()
    if start_text or end_text:
        start = end = None
        if start_text:
            try:
                start = _parse_date(start_text)
            except ValueError:
                errors["from"] = f"'{start_text[:40]}' is not a date (YYYY-MM-DD)."
        else:
            errors["from"] = "Give a start date as well as an end date."
        if end_text:
            try:
                end = _parse_date(end_text)
            except ValueError:
                errors["to"] = f"'{end_text[:40]}' is not a date (YYYY-MM-DD)."
        else:
            end = today
        if start and end and not errors:
            if start > end:
                errors["to"] = "The end date is before the start date."
            elif (end - start).days + 1 > MAX_DAYS:
                errors["to"] = f"A range can cover at most {MAX_DAYS} days."
            else:
                return DateRange(start, end), {}
        return preset_range(DEFAULT_DAYS, today), errors
    raw = (params.get("range") or "").strip()
    if not raw:
        return preset_range(DEFAULT_DAYS, today), {}
    if raw.isdigit() and int(raw) in RANGE_CHOICES:
        return preset_range(int(raw), today), {}
    choices = ", ".join(str(d) for d in RANGE_CHOICES)
    return preset_range(DEFAULT_DAYS, today), {"range": f"Choose {choices} days, or a from and to date."}


# --- Arithmetic ---------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0..100) with linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    if not 0 <= p <= 100:
        raise ValueError("p must be between 0 and 100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Durations:
    count: int
    median: float | None  # seconds
    p90: float | None

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Durations:
        return cls(len(seconds), percentile(seconds, 50), percentile(seconds, 90))


def _seconds_between(pairs) -> list[float]:
    return [max((end - start).total_seconds(), 0.0) for start, end in pairs if start and end]


# --- Selectors ----------------------------------------------------------------------------------------------


def filed_in(requests: QuerySet[Request], period: DateRange) -> QuerySet[Request]:
    return requests.filter(created__gte=period.start, created__lt=period.end)


def volume_by(
    requests: QuerySet[Request], period: DateRange, key: str, empty_label: str
) -> list[tuple[str, int]]:
    """(label, count) per value of `key`, largest first; past TOP_ROWS, the rest summed as "Other"."""
    rows = filed_in(requests, period).order_by().values(key).annotate(n=Count("id")).order_by("-n", key)
    counts = [(row[key] or empty_label, row["n"]) for row in rows]
    if len(counts) > TOP_ROWS:
        rest = sum(n for _, n in counts[TOP_ROWS - 1 :])
        counts = [*counts[: TOP_ROWS - 1], ("Other", rest)]
    return counts


def volume_by_day(requests: QuerySet[Request], period: DateRange) -> list[tuple[datetime.date, int]]:
    rows = (
        filed_in(requests, period)
        .order_by()
        .annotate(day=TruncDate("created", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(n=Count("id"))
    )
    counts = {row["day"]: row["n"] for row in rows}
    return [(day, counts.get(day, 0)) for day in period.dates()]


def first_response_times(requests: QuerySet[Request], period: DateRange) -> Durations:
    """Filed -> first public reply by an agent, for first replies made in the range."""
    pairs = (
        requests.filter(first_responded_at__gte=period.start, first_responded_at__lt=period.end)
        .order_by()
        .values_list("created", "first_responded_at")
    )
    return Durations.of(_seconds_between(pairs))


def resolution_times(requests: QuerySet[Request], period: DateRange) -> Durations:
    """Filed -> resolved, for requests resolved in the range."""
    pairs = (
        requests.filter(resolved_at__gte=period.start, resolved_at__lt=period.end)
        .order_by()
        .values_list("created", "resolved_at")
    )
    return Durations.of(_seconds_between(pairs))


@dataclass(frozen=True)
class Adherence:
    """Of the requests filed in the range whose SLA outcome is known, the share that met every target.

    Known: resolved or closed with a target, or any target already breached (an open request that is still
    on track is not counted yet). Per target: met / (met + breached).
    """

    decided: int
    met: int
    first_response_met: int
    first_response_breached: int
    resolution_met: int
    resolution_breached: int

    @property
    def rate(self) -> float | None:
        return ratio(self.met, self.decided)

    @property
    def first_response_rate(self) -> float | None:
        return ratio(self.first_response_met, self.first_response_met + self.first_response_breached)

    @property
    def resolution_rate(self) -> float | None:
        return ratio(self.resolution_met, self.resolution_met + self.resolution_breached)


def sla_adherence(requests: QuerySet[Request], period: DateRange) -> Adherence:
    breached = Q(first_response_state=SlaState.BREACHED) | Q(resolution_state=SlaState.BREACHED)
    has_target = ~Q(first_response_state=SlaState.NONE) | ~Q(resolution_state=SlaState.NONE)
    finished = Q(status__in=(Status.RESOLVED, Status.CLOSED))
    decided = breached | (finished & has_target)
    totals = filed_in(requests, period).aggregate(
        decided=Count("id", filter=decided),
        met=Count("id", filter=decided & ~breached),
        fr_met=Count("id", filter=Q(first_response_state=SlaState.MET)),
        fr_breached=Count("id", filter=Q(first_response_state=SlaState.BREACHED)),
        res_met=Count("id", filter=Q(resolution_state=SlaState.MET)),
        res_breached=Count("id", filter=Q(resolution_state=SlaState.BREACHED)),
    )
    return Adherence(
        decided=totals["decided"],
        met=totals["met"],
        first_response_met=totals["fr_met"],
        first_response_breached=totals["fr_breached"],
        resolution_met=totals["res_met"],
        resolution_breached=totals["res_breached"],
    )


@dataclass(frozen=True)
class DeflectionRate:
    deflections: int
    requests: int

    @property
    def rate(self) -> float | None:
        return ratio(self.deflections, self.deflections + self.requests)


def deflection_rate(period: DateRange) -> DeflectionRate:
    """Desk-wide: deflections / (deflections + requests filed) in the range."""
    deflections = Deflection.objects.filter(created__gte=period.start, created__lt=period.end).count()
    requests = filed_in(Request.objects.all(), period).count()
    return DeflectionRate(deflections, requests)


@dataclass
class Dashboard:
    period: DateRange
    total: int
    by_type: list[tuple[str, int]] = field(default_factory=list)
    by_system: list[tuple[str, int]] = field(default_factory=list)
    by_day: list[tuple[datetime.date, int]] = field(default_factory=list)
    first_response: Durations | None = None
    resolution: Durations | None = None
    adherence: Adherence | None = None
    deflection: DeflectionRate | None = None


def dashboard(requests: QuerySet[Request], period: DateRange) -> Dashboard:
    """Every figure of the dashboard over `requests` (already limited to what the user may see)."""
    by_day = volume_by_day(requests, period)
    return Dashboard(
        period=period,
        total=sum(n for _, n in by_day),
        by_type=volume_by(requests, period, "request_type__name", "Unknown type"),
        by_system=volume_by(requests, period, "system__name", "No system"),
        by_day=by_day,
        first_response=first_response_times(requests, period),
        resolution=resolution_times(requests, period),
        adherence=sla_adherence(requests, period),
        deflection=deflection_rate(period),
    )


def format_duration(seconds: float | None) -> str:
    """'—' for none, else the two largest units: '45 s', '12 min', '3 h 20 min', '2 d 4 h'."""
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def format_percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"
