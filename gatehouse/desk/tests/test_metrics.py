"""The dashboard's numbers: ranges (bad input), percentiles, volume, times, SLA adherence, deflection rate."""

import datetime
import statistics

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from gatehouse.catalog.tests.factories import SystemFactory
from gatehouse.desk import charts, metrics
from gatehouse.desk.models import Deflection, Request, SlaState, Status
from gatehouse.desk.tests.factories import GuideFactory, RequestFactory, RequestTypeFactory

TODAY = datetime.date(2026, 11, 30)


class TestParseRange:
    def test_default_is_thirty_days(self):
        period, errors = metrics.parse_range({}, today=TODAY)
        assert errors == {} and period.days == 30 and period.last_day == TODAY
        assert period.first_day == datetime.date(2026, 11, 1) and period.day_count == 30

    @pytest.mark.parametrize("days", [7, 30, 90])
    def test_presets(self, days):
        period, errors = metrics.parse_range({"range": str(days)}, today=TODAY)
        assert errors == {} and period.day_count == days

    @pytest.mark.parametrize("value", ["8", "abc", "-7", "7.5", "9" * 40])
    def test_unknown_preset_is_an_error_and_the_default(self, value):
        period, errors = metrics.parse_range({"range": value}, today=TODAY)
        assert "range" in errors and period.days == 30

    def test_custom_range(self):
        period, errors = metrics.parse_range({"from": "2026-01-01", "to": "2026-01-31"}, today=TODAY)
        assert errors == {} and period.days is None and period.day_count == 31
        assert period.start == timezone.make_aware(datetime.datetime(2026, 1, 1))
        assert period.end == timezone.make_aware(datetime.datetime(2026, 2, 1))

    def test_from_alone_runs_to_today(self):
        period, errors = metrics.parse_range({"from": "2026-11-20"}, today=TODAY)
        assert errors == {} and period.last_day == TODAY and period.day_count == 11

    @pytest.mark.parametrize(
        "params, field",
        [
            ({"from": "2026-13-01", "to": "2026-12-31"}, "from"),
            ({"from": "yesterday"}, "from"),
            ({"from": "2026-01-01", "to": "31/01/2026"}, "to"),
            ({"to": "2026-01-01"}, "from"),
            ({"from": "2026-02-01", "to": "2026-01-01"}, "to"),
            ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),
            ({"from": "\x00<script>"}, "from"),
        ],
    )
    def test_bad_dates_are_named_and_fall_back(self, params, field):
        period, errors = metrics.parse_range(params, today=TODAY)
        assert field in errors and period.days == 30
        assert "<script>" not in errors[field] or "'" in errors[field]  # echoed as text, escaped by templates


class TestPercentile:
    def test_known_values(self):
        assert metrics.percentile([], 50) is None
        assert metrics.percentile([5], 90) == 5
        assert metrics.percentile([1, 2, 3, 4], 50) == 2.5
        assert metrics.percentile(list(range(1, 11)), 90) == pytest.approx(9.1)
        with pytest.raises(ValueError):
            metrics.percentile([1], 101)

    @given(st.lists(st.floats(min_value=0, max_value=1e7, allow_nan=False), min_size=1, max_size=200))
    def test_median_matches_statistics_and_percentiles_are_ordered(self, values):
        assert metrics.percentile(values, 50) == pytest.approx(statistics.median(values), rel=1e-9, abs=1e-6)
        p50, p90 = metrics.percentile(values, 50), metrics.percentile(values, 90)
        assert min(values) <= p50 <= p90 <= max(values) + 1e-6

    def test_formatting(self):
        assert metrics.format_duration(None) == "—"
        assert metrics.format_duration(42) == "42 s"
        assert metrics.format_duration(12 * 60) == "12 min"
        assert metrics.format_duration(3 * 3600 + 20 * 60) == "3 h 20 min"
        assert metrics.format_duration(2 * 86400 + 4 * 3600) == "2 d 4 h"
        assert metrics.format_percent(None) == "—" and metrics.format_percent(0.875) == "88%"


def at(days_ago: float, hour: int = 12) -> datetime.datetime:
    base = timezone.make_aware(datetime.datetime.combine(timezone.localdate(), datetime.time(hour)))
    return base - datetime.timedelta(days=days_ago)


def make(created, **fields):
    """A request row with its times set (created is auto_now_add: set it after)."""
    request = RequestFactory(**fields)
    Request.objects.filter(pk=request.pk).update(created=created)
    return request


@pytest.mark.django_db
class TestDashboard:
    @pytest.fixture
    def data(self):
        access = RequestTypeFactory(name="Access (test)")
        lockout = RequestTypeFactory(name="Lockout (test)")
        okta = SystemFactory(name="Okta SSO")
        hour = datetime.timedelta(hours=1)
        # In the last 7 days: three access requests about Okta, one lockout without a system.
        make(
            at(1),
            request_type=access,
            system=okta,
            first_responded_at=at(1) + hour,
            first_response_state=SlaState.MET,
            resolution_state=SlaState.MET,
            status=Status.RESOLVED,
            resolved_at=at(1) + 4 * hour,
        )
        make(
            at(2),
            request_type=access,
            system=okta,
            first_responded_at=at(2) + 3 * hour,
            first_response_state=SlaState.BREACHED,
            resolution_state=SlaState.OK,
            status=Status.IN_PROGRESS,
        )
        make(
            at(3),
            request_type=access,
            system=okta,
            first_response_state=SlaState.OK,
            resolution_state=SlaState.OK,
        )
        make(
            at(4),
            request_type=lockout,
            first_responded_at=at(4) + 2 * hour,
            first_response_state=SlaState.MET,
            resolution_state=SlaState.MET,
            status=Status.CLOSED,
            resolved_at=at(4) + 10 * hour,
        )
        # Outside 7 days, inside 30.
        make(
            at(20),
            request_type=lockout,
            first_responded_at=at(20) + 5 * hour,
            first_response_state=SlaState.MET,
            resolution_state=SlaState.BREACHED,
            status=Status.RESOLVED,
            resolved_at=at(20) + 50 * hour,
        )
        guide = GuideFactory()
        for days in (1, 2, 40):
            deflection = Deflection.objects.create(guide=guide, subject="vpn")
            Deflection.objects.filter(pk=deflection.pk).update(created=at(days))
        return {"access": access, "okta": okta}

    def test_seven_days(self, data):
        board = metrics.dashboard(Request.objects.all(), metrics.preset_range(7))
        assert board.total == 4
        assert board.by_type == [("Access (test)", 3), ("Lockout (test)", 1)]
        assert board.by_system == [("Okta SSO", 3), ("No system", 1)]
        assert sum(n for _, n in board.by_day) == 4 and len(board.by_day) == 7
        assert board.first_response.count == 3
        assert board.first_response.median == 2 * 3600
        assert board.first_response.p90 == pytest.approx(2.8 * 3600)
        assert board.resolution.count == 2 and board.resolution.median == 7 * 3600
        # Decided: the two finished ones (met) and the breached one; the on-track open one is not counted.
        assert (board.adherence.decided, board.adherence.met) == (3, 2)
        assert board.adherence.rate == pytest.approx(2 / 3)
        assert board.adherence.first_response_rate == pytest.approx(2 / 3)
        assert board.adherence.resolution_rate == 1.0
        assert (board.deflection.deflections, board.deflection.requests) == (2, 4)
        assert board.deflection.rate == pytest.approx(2 / 6)

    def test_thirty_days_and_an_empty_range(self, data):
        board = metrics.dashboard(Request.objects.all(), metrics.preset_range(30))
        assert board.total == 5 and board.resolution.count == 3 and board.adherence.decided == 4
        past = metrics.DateRange(datetime.date(2020, 1, 1), datetime.date(2020, 1, 31))
        empty = metrics.dashboard(Request.objects.all(), past)
        assert empty.total == 0 and empty.first_response.median is None
        assert empty.adherence.rate is None and empty.deflection.rate is None

    def test_scoped_to_the_given_requests(self, data):
        board = metrics.dashboard(Request.objects.filter(system=data["okta"]), metrics.preset_range(7))
        assert board.total == 3 and board.by_type == [("Access (test)", 3)]

    def test_long_tails_are_summed_as_other(self):
        for i in range(metrics.TOP_ROWS + 3):
            make(at(1), request_type=RequestTypeFactory(name=f"Type {i:02d}"))
        rows = metrics.volume_by(Request.objects.all(), metrics.preset_range(7), "request_type__name", "?")
        assert len(rows) == metrics.TOP_ROWS and rows[-1] == ("Other", 4)

    def test_query_count(self, data, django_assert_num_queries):
        with django_assert_num_queries(8):  # 3 volumes, 2 times, adherence, 2 deflection counts
            metrics.dashboard(Request.objects.all(), metrics.preset_range(30))


class TestCharts:
    def test_bars_scale_to_the_largest(self):
        chart = charts.bar_chart([("A very long request type name indeed", 10), ("B", 5), ("C", 0)])
        widths = [b.width for b in chart.bars]
        assert widths[0] == charts.BAR_AREA and widths[1] == charts.BAR_AREA // 2 and widths[2] == 0
        assert chart.bars[0].label.endswith("…") and chart.bars[0].full_label.startswith("A very")
        assert charts.bar_chart([]).bars == []

    def test_line_points(self):
        days = [(datetime.date(2026, 11, d), n) for d, n in ((1, 0), (2, 4), (3, 2))]
        chart = charts.line_chart(days)
        assert len(chart.points) == 3 and chart.top == 4
        assert chart.points[0].y == chart.baseline and chart.points[1].y == chart.top_y
        assert chart.first_label == "Nov 01" and chart.last_label == "Nov 03"
        flat = charts.line_chart([(datetime.date(2026, 11, 1), 0)])
        assert flat.points[0].y == flat.baseline
