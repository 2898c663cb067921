"""Columns of the device list."""

from django.utils.safestring import mark_safe

from gatehouse.core.tables import Column, Table
from gatehouse.endpoints.models import CheckResult

CHECK_LABELS = dict(CheckResult.Check.choices)


def _failing(device):
    if device.passing is None:
        return "Not checked"
    if device.passing:
        return mark_safe('<span class="badge yes">Passing</span>')
    return ", ".join(CHECK_LABELS.get(name, name) for name in device.failing_checks)


class DeviceTable(Table):
    columns = (
        Column("hostname", "Device", accessor=lambda d: str(d), link=True, order_by="hostname,serial"),
        Column("serial", "Serial", order_by="serial"),
        Column("platform", "Platform", accessor="get_platform_display", order_by="platform"),
        Column("os_version", "OS", order_by="os_version"),
        Column("owner", "Owner", accessor="owner", order_by="owner__name"),
        Column("department", "Department", accessor="owner.department", order_by="owner__department"),
        Column(
            "last_seen",
            "Last seen (UTC)",
            accessor=lambda d: d.last_seen_at.strftime("%Y-%m-%d %H:%M") if d.last_seen_at else "—",
            order_by="last_seen_at",
        ),
        Column("checks", "Failing checks", accessor=_failing, order_by="passing"),
    )
    default_order = "hostname"


class OsReleaseTable(Table):
    columns = (
        Column("platform", "Platform", accessor="get_platform_display", order_by="platform"),
        Column("line", "Line", order_by="line"),
        Column("version", "Version", link=True, order_by="version"),
        Column("released_on", "Released", order_by="released_on"),
    )
    default_order = "-released_on"
