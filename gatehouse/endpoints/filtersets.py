"""Filters of the device list (page, API and CSV export share them)."""

import django_filters
from django.db.models import Exists, OuterRef, Q

from gatehouse.endpoints.models import CheckResult, Device, OsRelease, Platform, Source, SourceRecord

FAILING_CHOICES = [
    ("any", "Any check"),
    ("security_tools", "Security tools (agents or EDR health)"),
    *CheckResult.Check.choices,
]
SECURITY_TOOLS_CHECKS = (CheckResult.Check.AGENTS, CheckResult.Check.EDR_HEALTH)  # the KPI's checks


def filter_devices(
    qs, *, failing=None, platform=None, department=None, source=None, active=None, owner=None, q=None
):
    """The filters as plain arguments (the API calls this; the filterset below maps the page's query to it)."""
    if failing == "any":
        qs = qs.filter(passing=False)
    elif failing == "security_tools":
        failed = CheckResult.objects.filter(
            device=OuterRef("pk"), name__in=SECURITY_TOOLS_CHECKS, passed=False
        )
        qs = qs.filter(Exists(failed))
    elif failing:
        qs = qs.filter(Exists(CheckResult.objects.filter(device=OuterRef("pk"), name=failing, passed=False)))
    if platform:
        qs = qs.filter(platform__in=platform if isinstance(platform, list | tuple) else [platform])
    if department:
        qs = qs.filter(owner__department__iexact=department)
    if source:
        qs = qs.filter(Exists(SourceRecord.objects.filter(device=OuterRef("pk"), source=source)))
    if active is not None:
        qs = qs.filter(is_active=active)
    if owner:
        owner = owner.strip()
        if owner.isascii() and owner.isdigit():
            qs = qs.filter(owner_id=int(owner)) if int(owner) < 2**63 else qs.none()
        else:
            qs = qs.filter(owner__email__iexact=owner)
    if q:
        q = q.strip()
        qs = qs.filter(
            Q(hostname__icontains=q)
            | Q(serial__icontains=q.replace(" ", "").replace("-", ""))
            | Q(owner__name__icontains=q)
            | Q(owner__email__icontains=q)
        )
    return qs


class DeviceFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="_q", label="Search (hostname, serial, owner)")
    failing = django_filters.ChoiceFilter(choices=FAILING_CHOICES, method="_failing", label="Failing check")
    platform = django_filters.MultipleChoiceFilter(choices=Platform.choices)
    department = django_filters.CharFilter(method="_department", label="Owner's department")
    source = django_filters.ChoiceFilter(choices=Source.choices, method="_source", label="Reported by")
    active = django_filters.BooleanFilter(field_name="is_active", label="Active (seen within 30 days)")
    owner = django_filters.CharFilter(method="_owner", label="Owner (email)")

    class Meta:
        model = Device
        fields = ["q", "failing", "platform", "department", "source", "active", "owner"]

    def _q(self, qs, name, value):
        return filter_devices(qs, q=value)

    def _failing(self, qs, name, value):
        return filter_devices(qs, failing=value)

    def _department(self, qs, name, value):
        return filter_devices(qs, department=value)

    def _source(self, qs, name, value):
        return filter_devices(qs, source=value)

    def _owner(self, qs, name, value):
        return filter_devices(qs, owner=value)


class OsReleaseFilterSet(django_filters.FilterSet):
    platform = django_filters.ChoiceFilter(choices=Platform.choices)
    line = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = OsRelease
        fields = ["platform", "line"]
