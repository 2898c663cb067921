"""Pages of the devices: the list (filters, search, CSV export of failing devices), one device with every
source's record and its checks, "My devices", and the mismatch report."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from gatehouse.core.services import create_object, delete_object, update_object
from gatehouse.core.views import (
    ObjectDeleteView,
    ObjectDetailView,
    ObjectEditView,
    ObjectListView,
    check_permission,
    wants_partial,
)
from gatehouse.endpoints import selectors
from gatehouse.endpoints.catalog import change_policy
from gatehouse.endpoints.filtersets import DeviceFilterSet, OsReleaseFilterSet
from gatehouse.endpoints.forms import OsReleaseForm, PlatformPolicyForm
from gatehouse.endpoints.models import CheckResult, OsRelease, PlatformPolicy
from gatehouse.endpoints.tables import DeviceTable, OsReleaseTable

CSV_COLUMNS = (
    "serial",
    "hostname",
    "platform",
    "os_version",
    "owner_email",
    "owner_name",
    "department",
    "manager_email",
    "last_seen_at",
    "failing_checks",
    "reasons",
)


def shows_device_list(user) -> bool:
    """The Devices menu item: for those who see every device, and for managers (their reports' devices); by
    permission and role, no query."""
    return selectors.sees_all(user) or user.has_role("manager")


class DeviceListView(ObjectListView):
    title = "Devices"
    template_name = "endpoints/device_list.html"
    filterset_class = DeviceFilterSet
    table_class = DeviceTable
    filter_fields = ("q", "failing", "platform", "department", "source", "active")
    empty_message = "No device matches these filters."

    def get_queryset(self, request):
        return selectors.device_list(request.user)

    def extra_context(self, request):
        query = request.GET.copy()
        query.pop("page", None)
        return {"export_query": query.urlencode()}


class MyDevicesView(ObjectListView):
    title = "My devices"
    template_name = "endpoints/my_devices.html"
    filterset_class = DeviceFilterSet
    table_class = DeviceTable
    filter_fields = ("q",)
    empty_message = "No device is registered to you. If you use one, the IT security team can link it."

    def get_queryset(self, request):
        return selectors.my_devices(request.user)


class DeviceView(ObjectDetailView):
    template_name = "endpoints/device_detail.html"

    def get_object(self, request, pk):
        return selectors.get_device(request.user, pk)

    def extra_context(self, request, device):
        labels = dict(CheckResult.Check.choices)
        checks = [{"label": labels.get(c.name, c.name), "result": c} for c in device.checks.all()]
        return {
            "checks": checks,
            "records": list(device.records.all()),
            "remediations": selectors.remediations_of(request.user, device),
        }


MISMATCH_PREVIEW = 25  # rows of each kind on the all-kinds page; a kind's own page has them all, paged


@login_required
def mismatch_report(request):
    check_permission(request, selectors.VIEW_ALL)
    kind = request.GET.get("kind") or None
    if kind not in selectors.MISMATCH_KINDS:
        kind = None
    report = selectors.mismatch_report(request.user, kind=kind)
    counts = report.counts()
    page = None
    if kind:
        page = Paginator(report, 50).get_page(request.GET.get("page"))
        groups = [
            {"kind": kind, "label": report.kinds[0].label, "count": counts[kind], "rows": page.object_list}
        ]
    else:
        groups = [
            {"kind": k.kind, "label": k.label, "count": counts[k.kind], "rows": k.rows(0, MISMATCH_PREVIEW)}
            for k in report.kinds
        ]
    context = {
        "groups": groups,
        "kind": kind,
        "kinds": selectors.MISMATCH_KINDS,
        "page": page,
        "query": f"kind={kind}" if kind else "",
        "preview": MISMATCH_PREVIEW,
    }
    template = "endpoints/_mismatch_results.html" if wants_partial(request) else "endpoints/mismatches.html"
    return render(request, template, context)


class _Echo:
    def write(self, value):
        return value


def failing_rows(devices) -> Iterator[list[str]]:
    for device in devices:
        yield [
            device.serial,
            device.hostname,
            device.get_platform_display(),
            device.os_version,
            device.owner.email if device.owner else "",
            device.owner.name if device.owner else "",
            device.owner.department if device.owner else "",
            device.owner.manager.email if device.owner and device.owner.manager else "",
            device.last_seen_at.isoformat() if device.last_seen_at else "",
            " ".join(device.failing_checks),
            "; ".join(c.reason for c in device.checks.all() if not c.passed),
        ]


def failing_devices(user, params):
    """The visible failing devices under the list's filters, with their failing checks."""
    from django.db.models import Prefetch

    filterset = DeviceFilterSet(params or None, queryset=selectors.device_list(user))
    qs = filterset.qs if filterset.is_bound and filterset.is_valid() else selectors.device_list(user)
    if filterset.is_bound and not filterset.is_valid():
        qs = qs.none()
    return (
        qs.filter(passing=False)
        .prefetch_related(
            Prefetch("checks", queryset=CheckResult.objects.filter(passed=False).order_by("name"))
        )
        .order_by("hostname", "serial")
    )


@login_required
def export_failing(request):
    """CSV of the failing devices the user sees, under the list's filters; streamed in chunks."""
    devices = failing_devices(request.user, request.GET)
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(CSV_COLUMNS)
        for row in failing_rows(devices.iterator(chunk_size=1000)):
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="failing-devices-{stamp}.csv"'
    return response


# ---------------------------------------------------------------------------------------------------------------
# The OS release catalog and the platform policies (security engineers and admins edit; auditors read)


class OsReleaseListView(ObjectListView):
    title = "OS release catalog"
    template_name = "endpoints/os_release_list.html"
    permission = "endpoints.view_osrelease"
    filterset_class = OsReleaseFilterSet
    table_class = OsReleaseTable
    add_url_name = "endpoints:os_release_add"
    add_permission = "endpoints.add_osrelease"
    per_page = 100

    def get_queryset(self, request):
        return OsRelease.objects.all()


class OsReleaseEditView(ObjectEditView):
    form_class = OsReleaseForm
    title = "Add an OS release"
    cancel_url_name = "endpoints:os_release_list"

    def get_object(self, request, pk=None):
        self.permission = "endpoints.change_osrelease" if pk else "endpoints.add_osrelease"
        return OsRelease.objects.get(pk=pk) if pk else None

    def save(self, request, form, obj):
        fields = form.service_fields()
        if obj is None:
            return create_object(OsRelease, fields=fields)
        return update_object(obj, fields=fields)[0]


class OsReleaseDeleteView(ObjectDeleteView):
    permission = "endpoints.delete_osrelease"
    success_url = "/endpoints/os-releases/"

    def get_object(self, request, pk):
        return OsRelease.objects.get(pk=pk)

    def delete(self, request, obj):
        delete_object(obj)


@login_required
def policy_list(request):
    check_permission(request, "endpoints.view_platformpolicy")
    return render(
        request,
        "endpoints/policy_list.html",
        {
            "policies": PlatformPolicy.objects.order_by("platform"),
            "can_edit": request.user.has_perm("endpoints.change_platformpolicy"),
        },
    )


class PolicyEditView(ObjectEditView):
    form_class = PlatformPolicyForm
    permission = "endpoints.change_platformpolicy"

    def get_object(self, request, pk):
        return PlatformPolicy.objects.get(pk=pk)

    def save(self, request, form, obj):
        change_policy(obj, actor=request.user, fields=form.service_fields())
        return obj
