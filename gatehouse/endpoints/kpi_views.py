"""The KPI dashboard (part C): reads KpiSnapshot rows only, never the devices.

Current figures per slice come from the newest snapshot day; the trend charts (security tools and patch
compliance, with the 95% target line) are one slice's snapshots over the chosen range, drawn by the desk's chart
geometry and template (gatehouse.desk.charts, desk/_line_chart.html). The range parameters are the desk
dashboard's: range=7|30|90 or from= and to=.
"""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import render
from django.views import View

from gatehouse.core.views import check_permission
from gatehouse.desk import charts, metrics
from gatehouse.endpoints import kpis
from gatehouse.endpoints.models import KpiSnapshot

Dimension = KpiSnapshot.Dimension
WITHIN_CHOICES = (7, 14, 30, 60, 90)


class KpiDashboardView(LoginRequiredMixin, View):
    permission = "endpoints.view_kpisnapshot"

    def get(self, request):
        check_permission(request, self.permission)
        period, errors = metrics.parse_range(request.GET)
        dimension = request.GET.get("dimension") or Dimension.COMPANY
        if dimension not in Dimension.values:
            errors["dimension"] = f"Choose one of: {', '.join(Dimension.values)}."
            dimension = Dimension.COMPANY
        within = request.GET.get("within") or str(kpis.WITHIN_DEFAULT)
        if not within.isdigit() or int(within) not in WITHIN_CHOICES:
            errors["within"] = f"Choose one of: {', '.join(map(str, WITHIN_CHOICES))} days."
            within = str(kpis.WITHIN_DEFAULT)
        _, adoption = kpis.release_adoption(int(within))
        key = "" if dimension == Dimension.COMPANY else (request.GET.get("key") or "")[:200]
        day, figures = kpis.current()
        points = kpis.trend(period.first_day, period.last_day, dimension, key)
        by_dimension: dict[str, list[kpis.Figures]] = {d: [] for d in Dimension.values}
        for f in figures:
            by_dimension[f.dimension].append(f)
        company = by_dimension[Dimension.COMPANY][0] if by_dimension[Dimension.COMPANY] else None
        label = dict(Dimension.choices)[dimension] + (
            f": {key or '(none)'}" if dimension != Dimension.COMPANY else ""
        )
        context = {
            "title": "Endpoint KPIs",
            "period": period,
            "errors": errors,
            "range_choices": metrics.RANGE_CHOICES,
            "from_value": request.GET.get("from", ""),
            "to_value": request.GET.get("to", ""),
            "day": day,
            "target": kpis.TARGET,
            "company": company,
            "sections": [
                (dict(Dimension.choices)[d], d, by_dimension[d])
                for d in Dimension.values
                if d != Dimension.COMPANY
            ],
            "slice_label": label,
            "within": int(within),
            "within_choices": WITHIN_CHOICES,
            "adoption": adoption,
            "dimension": dimension,
            "key": key,
            "security_chart": charts.line_chart(
                kpis.series(points, "security_tools"), top=100, target=kpis.TARGET
            ),
            "patch_chart": charts.line_chart(kpis.series(points, "patch"), top=100, target=kpis.TARGET),
        }
        return render(request, "endpoints/kpis.html", context)
