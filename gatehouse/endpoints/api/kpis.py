"""/api/v1/endpoints/kpis and /api/v1/endpoints/exceptions (part C).

KPIs read snapshots only (endpoints.view_kpisnapshot: security engineers, admins, auditors). Exceptions: the ones
you may see (all for security engineers, admins and auditors; your own devices' and your reports' otherwise);
security engineers and admins grant and revoke.
"""

import datetime
from enum import StrEnum

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from gatehouse.core.api.pagination import LimitOffsetPagination
from gatehouse.core.permissions import require
from gatehouse.endpoints import exceptions, kpis
from gatehouse.endpoints.models import Device, KpiSnapshot

kpis_router = Router(tags=["endpoint KPIs"])
exceptions_router = Router(tags=["endpoint exceptions"])
MAX_ID = 2**63 - 1


class DimensionEnum(StrEnum):
    company = "company"
    department = "department"
    manager = "manager"
    platform = "platform"


class SliceOut(Schema):
    dimension: str
    key: str
    active_devices: int
    security_tools_passing: int
    patch_passing: int
    security_tools: float | None = Field(None, description="Percent; null without counted devices.")
    patch: float | None = None
    security_tools_met: bool | None = None
    patch_met: bool | None = None


class CurrentOut(Schema):
    day: datetime.date | None
    target: float
    slices: list[SliceOut]


class SnapshotOut(SliceOut):
    day: datetime.date

    # Resolved from the KpiSnapshot row, so the list paginates in the database.
    @staticmethod
    def resolve_security_tools(obj):
        return kpis.figures_of(obj).security_tools if isinstance(obj, KpiSnapshot) else obj["security_tools"]

    @staticmethod
    def resolve_patch(obj):
        return kpis.figures_of(obj).patch if isinstance(obj, KpiSnapshot) else obj["patch"]

    @staticmethod
    def resolve_security_tools_met(obj):
        return (
            kpis.figures_of(obj).security_tools_met
            if isinstance(obj, KpiSnapshot)
            else obj["security_tools_met"]
        )

    @staticmethod
    def resolve_patch_met(obj):
        return kpis.figures_of(obj).patch_met if isinstance(obj, KpiSnapshot) else obj["patch_met"]


class SnapshotQuery(Schema):
    dimension: DimensionEnum | None = None
    key: str | None = Field(None, max_length=200)
    start: datetime.date | None = None
    end: datetime.date | None = None


def _slice(figures: kpis.Figures, **extra) -> dict:
    return {
        "dimension": figures.dimension,
        "key": figures.key,
        "active_devices": figures.active_devices,
        "security_tools_passing": figures.security_tools_passing,
        "patch_passing": figures.patch_passing,
        "security_tools": figures.security_tools,
        "patch": figures.patch,
        "security_tools_met": figures.security_tools_met,
        "patch_met": figures.patch_met,
        **extra,
    }


@kpis_router.get("", response=CurrentOut, summary="Current KPIs per slice")
def current_kpis(request: HttpRequest, dimension: DimensionEnum | None = None):
    """The newest snapshot's figures for every slice (or one dimension's), against the 95% target."""
    require(request.user, "endpoints.view_kpisnapshot")
    day, figures = kpis.current(dimension.value if dimension else None)
    return {"day": day, "target": kpis.TARGET, "slices": [_slice(f) for f in figures]}


class AdoptionOut(Schema):
    release: int
    platform: str
    line: str
    version: str
    released_on: datetime.date
    devices_on_line: int = Field(..., description="Counted devices on the release's line, newest snapshot.")
    devices_updated: int = Field(..., description="Of those, running this release or newer.")
    updated: float | None = Field(None, description="Percent updated on the newest snapshot day.")
    within_day: datetime.date = Field(..., description="The release date plus `within` days.")
    within_pending: bool = Field(..., description="That day is still to come.")
    patched_within: float | None = Field(
        None, description="Percent updated on within_day; null when pending or no snapshot of that day."
    )
    patched_within_met: bool | None = None


class AdoptionReportOut(Schema):
    day: datetime.date | None
    within: int
    target: float
    releases: list[AdoptionOut]


@kpis_router.get("/releases", response=AdoptionReportOut, summary="Patched within N days of each release")
def release_adoption(
    request: HttpRequest, within: int = Query(kpis.WITHIN_DEFAULT, ge=1, le=kpis.TRACK_DAYS)
):
    """Each OS release out within the last 180 days (of the newest snapshot): the share of counted devices on
    its line running it or newer, now and `within` days after it came out. Read from the daily snapshots."""
    require(request.user, "endpoints.view_kpisnapshot")
    day, rows = kpis.release_adoption(within)
    return {
        "day": day,
        "within": within,
        "target": kpis.TARGET,
        "releases": [
            {
                "release": a.release.pk,
                "platform": a.release.platform,
                "line": a.release.line,
                "version": a.release.version,
                "released_on": a.release.released_on,
                "devices_on_line": a.devices_on_line,
                "devices_updated": a.devices_updated,
                "updated": a.updated,
                "within_day": a.within_day,
                "within_pending": a.within_pending,
                "patched_within": a.patched_within,
                "patched_within_met": a.patched_within_met,
            }
            for a in rows
        ],
    }


@kpis_router.get("/snapshots", response=list[SnapshotOut], summary="KPI snapshots")
@paginate(LimitOffsetPagination)
def list_snapshots(request: HttpRequest, filters: Query[SnapshotQuery]):
    """Daily snapshots, oldest first; filter by dimension, key and a day range (start, end inclusive)."""
    require(request.user, "endpoints.view_kpisnapshot")
    qs = KpiSnapshot.objects.order_by("day", "dimension", "key")
    if filters.dimension:
        qs = qs.filter(dimension=filters.dimension.value)
    if filters.key is not None:
        qs = qs.filter(key=filters.key)
    if filters.start:
        qs = qs.filter(day__gte=filters.start)
    if filters.end:
        qs = qs.filter(day__lte=filters.end)
    return qs


# ---------------------------------------------------------------------------------------------- exceptions


class ExceptionOut(Schema):
    id: int
    device: int
    device_name: str
    serial: str
    reason: str
    expires_on: datetime.date
    in_force: bool
    granted_by: str | None

    # Resolved from the DeviceException row (device and granted_by selected with it).
    @staticmethod
    def resolve_device(obj):
        return obj.device_id

    @staticmethod
    def resolve_device_name(obj):
        return str(obj.device)

    @staticmethod
    def resolve_serial(obj):
        return obj.device.serial

    @staticmethod
    def resolve_in_force(obj):
        return obj.expires_on >= timezone.localdate()

    @staticmethod
    def resolve_granted_by(obj):
        return obj.granted_by.username if obj.granted_by else None


class ExceptionIn(Schema):
    device: int = Field(..., ge=1, le=MAX_ID)
    reason: str = Field(..., max_length=2000)
    expires_on: datetime.date


class RevokeIn(Schema):
    reason: str = Field(..., max_length=2000)


def _get_exception(user, exception_id: int):
    if not 1 <= exception_id <= MAX_ID:
        raise Http404
    exc = exceptions.visible_exceptions(user).filter(pk=exception_id).first()
    if exc is None:
        raise Http404
    return exc


@exceptions_router.get("", response=list[ExceptionOut], summary="List device exceptions")
@paginate(LimitOffsetPagination)
def list_exceptions(request: HttpRequest, in_force: bool | None = None):
    """The exceptions you may see, newest expiry first; `in_force=true` for those still in force."""
    qs = exceptions.visible_exceptions(request.user)
    if in_force is not None:
        today = timezone.localdate()
        qs = qs.filter(expires_on__gte=today) if in_force else qs.filter(expires_on__lt=today)
    return qs


@exceptions_router.post("", response={201: ExceptionOut}, summary="Grant a device exception")
def grant(request: HttpRequest, payload: ExceptionIn):
    require(request.user, "endpoints.add_deviceexception")
    device = Device.objects.filter(pk=payload.device).first()
    if device is None:
        raise ValidationError({"device": f"No device with id {payload.device}."})
    exc = exceptions.grant_exception(
        device, actor=request.user, reason=payload.reason, expires_on=payload.expires_on
    )
    return Status(201, _get_exception(request.user, exc.pk))


@exceptions_router.get("/{exception_id}", response=ExceptionOut, summary="A device exception")
def get_exception(request: HttpRequest, exception_id: int):
    return _get_exception(request.user, exception_id)


@exceptions_router.post("/{exception_id}/revoke", response=ExceptionOut, summary="Revoke a device exception")
def revoke(request: HttpRequest, exception_id: int, payload: RevokeIn):
    exc = _get_exception(request.user, exception_id)
    exceptions.revoke_exception(exc, actor=request.user, reason=payload.reason)
    return _get_exception(request.user, exception_id)
