"""/api/v1/endpoints/devices, /mismatches, /os-releases: thin endpoints over the endpoints selectors.

Devices: team members see their own, managers their reports', security engineers, admins and auditors all
(the selectors apply it). The mismatch report needs view_device. The OS release catalog: everyone signed in
reads it; security engineers and admins change it (audited); auditors read only.
"""

import datetime
from typing import Annotated

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import StringConstraints

from gatehouse.core.api.filtering import apply_filters, query_schema
from gatehouse.core.api.pagination import LimitOffsetPagination
from gatehouse.core.api.schemas import InputSchema, label, patch_schema, sent_fields, web_url
from gatehouse.core.permissions import require
from gatehouse.core.services import create_object, delete_object, update_object
from gatehouse.endpoints import selectors
from gatehouse.endpoints.filtersets import DeviceFilterSet
from gatehouse.endpoints.models import OsRelease, Platform

devices_router = Router(tags=["endpoint devices"])
mismatches_router = Router(tags=["endpoint devices"])
os_releases_router = Router(tags=["endpoint OS releases"])

DeviceQuery = query_schema(DeviceFilterSet)
MAX_ID = 2**63 - 1


class OwnerOut(Schema):
    id: int
    email: str
    name: str
    department: str


class CheckOut(Schema):
    name: str
    passed: bool
    reason: str
    checked_at: datetime.datetime


class RecordOut(Schema):
    source: str
    external_id: str
    serial: str
    hostname: str
    owner_email: str
    owner_username: str
    platform: str
    os_version: str
    disk_encrypted: bool | None
    infected: bool | None
    decommissioned: bool | None
    agent_up_to_date: bool | None
    agent_version: str
    last_seen_at: datetime.datetime | None
    imported_at: datetime.datetime


class DeviceOut(Schema):
    id: int
    serial: str
    hostname: str
    platform: str
    platform_label: str
    os_version: str
    model: str
    owner: OwnerOut | None
    owner_match: str
    disk_encrypted: bool | None
    last_seen_at: datetime.datetime | None
    is_active: bool
    passing: bool | None
    failing_checks: list[str]
    checked_at: datetime.datetime | None
    web_url: str | None

    @staticmethod
    def resolve_platform_label(obj) -> str:
        return label(obj, "platform")

    @staticmethod
    def resolve_failing_checks(obj) -> list[str]:
        return list(obj.failing_checks or [])

    @staticmethod
    def resolve_web_url(obj) -> str | None:
        return web_url(obj)


class DeviceDetailOut(DeviceOut):
    checks: list[CheckOut]
    records: list[RecordOut]

    @staticmethod
    def resolve_checks(obj) -> list:
        return list(obj.checks.all())

    @staticmethod
    def resolve_records(obj) -> list:
        return list(obj.records.all())


def _get(user, device_id: int):
    if not 0 < device_id <= MAX_ID:
        raise Http404("No such device.")
    return selectors.get_device(user, device_id)


# ---------------------------------------------------------------------------------------------- devices


@devices_router.get("", response=list[DeviceOut], summary="List devices")
@paginate(LimitOffsetPagination)
def list_devices(request: HttpRequest, filters: Query[DeviceQuery]):
    """The devices you may see. Filters: q (hostname, serial, owner), failing (a check name or `any`), platform,
    department (the owner's), source (a feed that reports the device), active, owner (email or person id)."""
    qs = apply_filters(DeviceFilterSet, request.GET, selectors.device_list(request.user), request)
    return qs.order_by("hostname", "serial", "pk")


@devices_router.get("/{device_id}", response=DeviceDetailOut, summary="A device, its records and checks")
def get_device(request: HttpRequest, device_id: int):
    return _get(request.user, device_id)


@devices_router.get("/{device_id}/checks", response=list[CheckOut], summary="A device's checks")
def get_device_checks(request: HttpRequest, device_id: int):
    return list(_get(request.user, device_id).checks.all())


# ---------------------------------------------------------------------------------------------- mismatches


class MismatchOut(Schema):
    kind: str
    kind_label: str
    device: DeviceOut
    detail: str


class MismatchQuery(Schema):
    kind: str | None = Field(None, description="One of: " + ", ".join(selectors.MISMATCH_KINDS))


@mismatches_router.get("", response=list[MismatchOut], summary="The mismatch report")
@paginate(LimitOffsetPagination)
def list_mismatches(request: HttpRequest, filters: Query[MismatchQuery]):
    """Devices missing from a required feed, without owner, leavers' devices still reporting, serials claimed
    by two owners. Needs view_device (security engineers, admins, auditors)."""
    require(request.user, selectors.VIEW_ALL)
    if filters.kind is not None and filters.kind not in selectors.MISMATCH_KINDS:
        raise ValidationError({"kind": f"One of: {', '.join(selectors.MISMATCH_KINDS)}."})
    return [
        {
            "kind": m.kind,
            "kind_label": selectors.MISMATCH_KINDS[m.kind],
            "device": m.device,
            "detail": m.detail,
        }
        for m in selectors.mismatches(request.user, kind=filters.kind)
    ]


# ---------------------------------------------------------------------------------------------- OS releases

Text50 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class OsReleaseOut(Schema):
    id: int
    platform: str
    line: str
    version: str
    released_on: datetime.date


class OsReleaseIn(InputSchema):
    platform: Platform
    line: Text50
    version: Text50
    released_on: datetime.date


OsReleasePatch = patch_schema(OsReleaseIn)


class OsReleaseQuery(Schema):
    platform: Platform | None = None
    line: str | None = None


def _release(release_id: int) -> OsRelease:
    if not 0 < release_id <= MAX_ID:
        raise Http404("No such OS release.")
    release = OsRelease.objects.filter(pk=release_id).first()
    if release is None:
        raise Http404("No such OS release.")
    return release


def _unique(data: dict, exclude: int | None = None) -> None:
    platform, version = data.get("platform"), data.get("version")
    qs = OsRelease.objects.filter(platform=platform, version=version)
    if exclude:
        qs = qs.exclude(pk=exclude)
    if qs.exists():
        raise ValidationError({"version": f"{version} is already in the catalog for {platform}."})


@os_releases_router.get("", response=list[OsReleaseOut], summary="The OS release catalog")
@paginate(LimitOffsetPagination)
def list_os_releases(request: HttpRequest, filters: Query[OsReleaseQuery]):
    """Everyone signed in reads the catalog. Filters: platform, line."""
    qs = OsRelease.objects.order_by("platform", "line", "-released_on", "pk")
    if filters.platform:
        qs = qs.filter(platform=filters.platform.value)
    if filters.line:
        qs = qs.filter(line=filters.line)
    return qs


@os_releases_router.get("/{release_id}", response=OsReleaseOut, summary="An OS release")
def get_os_release(request: HttpRequest, release_id: int):
    return _release(release_id)


@os_releases_router.post("", response={201: OsReleaseOut}, summary="Add an OS release")
def create_os_release(request: HttpRequest, payload: OsReleaseIn):
    require(request.user, "endpoints.add_osrelease")
    data = sent_fields(payload)
    data["platform"] = Platform(data["platform"]).value
    _unique(data)
    return Status(201, create_object(OsRelease, fields=data))


@os_releases_router.patch("/{release_id}", response=OsReleaseOut, summary="Change an OS release")
def update_os_release(request: HttpRequest, release_id: int, payload: OsReleasePatch):
    require(request.user, "endpoints.change_osrelease")
    release = _release(release_id)
    data = sent_fields(payload)
    if "platform" in data:
        data["platform"] = Platform(data["platform"]).value
    if None in data.values():
        raise ValidationError({k: "Must not be null." for k, v in data.items() if v is None})
    _unique(
        {"platform": data.get("platform", release.platform), "version": data.get("version", release.version)},
        release.pk,
    )
    update_object(release, fields=data)
    return release


@os_releases_router.delete("/{release_id}", response={204: None}, summary="Remove an OS release")
def delete_os_release(request: HttpRequest, release_id: int):
    require(request.user, "endpoints.delete_osrelease")
    delete_object(_release(release_id))
    return Status(204, None)
