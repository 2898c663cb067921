"""/api/v1/endpoints/devices, /mismatches, /os-releases, /policies: thin endpoints over the endpoints selectors
and services.

Devices: team members see their own, managers their reports', security engineers, admins and auditors all
(the selectors apply it). The mismatch report needs view_device. The OS release catalog: everyone signed in
reads it; security engineers and admins change it (audited); auditors read only. Platform policies: those who
may view them (security engineers, admins, auditors) read, security engineers and admins change them (audited;
the platform's devices are checked again after the change).
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
from gatehouse.endpoints.catalog import change_policy
from gatehouse.endpoints.checks import parse_version, unknown_requirements
from gatehouse.endpoints.filtersets import DeviceFilterSet
from gatehouse.endpoints.models import OsRelease, Platform, PlatformPolicy

devices_router = Router(tags=["endpoint devices"])
mismatches_router = Router(tags=["endpoint devices"])
os_releases_router = Router(tags=["endpoint OS releases"])
policies_router = Router(tags=["endpoint platform policies"])

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

    @staticmethod
    def resolve_kind_label(obj):
        return selectors.MISMATCH_KINDS[obj.kind]


class MismatchQuery(Schema):
    kind: str | None = Field(None, description="One of: " + ", ".join(selectors.MISMATCH_KINDS))


@mismatches_router.get("", response=list[MismatchOut], summary="The mismatch report")
@paginate(LimitOffsetPagination)
def list_mismatches(request: HttpRequest, filters: Query[MismatchQuery]):
    """Devices missing from a required feed, without owner, leavers' devices still reporting, serials claimed
    by two owners, one kind after the other. Needs view_device (security engineers, admins, auditors)."""
    require(request.user, selectors.VIEW_ALL)
    if filters.kind is not None and filters.kind not in selectors.MISMATCH_KINDS:
        raise ValidationError({"kind": f"One of: {', '.join(selectors.MISMATCH_KINDS)}."})
    return selectors.mismatch_report(request.user, kind=filters.kind)


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


# ---------------------------------------------------------------------------------------------- platform policies


class PolicyOut(Schema):
    id: int
    platform: str
    platform_label: str = Field(..., alias="get_platform_display")
    required_sources: list[str]
    max_agent_age_days: int
    minimum_os_version: str
    patch_window_days: int
    require_disk_encryption: bool


class PolicyPatch(InputSchema):
    required_sources: (
        list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]] | None
    ) = Field(
        None, max_length=10, description="Feeds (jamf...), kinds (mdm, edr, anti_theft) or a|b alternatives."
    )
    max_agent_age_days: int | None = Field(None, ge=1, le=365)
    minimum_os_version: str | None = Field(None, max_length=50)
    patch_window_days: int | None = Field(None, ge=0, le=365)
    require_disk_encryption: bool | None = None


def _policy(platform: str) -> PlatformPolicy:
    policy = PlatformPolicy.objects.filter(platform=platform).first() if platform in Platform.values else None
    if policy is None:
        raise Http404("No policy for that platform.")
    return policy


@policies_router.get("", response=list[PolicyOut], summary="The platform policies")
def list_policies(request: HttpRequest):
    require(request.user, "endpoints.view_platformpolicy")
    return list(PlatformPolicy.objects.order_by("platform"))


@policies_router.get("/{platform}", response=PolicyOut, summary="A platform's policy")
def get_policy(request: HttpRequest, platform: str):
    require(request.user, "endpoints.view_platformpolicy")
    return _policy(platform)


@policies_router.patch("/{platform}", response=PolicyOut, summary="Change a platform's policy")
def update_policy(request: HttpRequest, platform: str, payload: PolicyPatch):
    """Only the fields sent change. The platform's devices are checked again by the worker afterwards."""
    require(request.user, "endpoints.change_platformpolicy")
    policy = _policy(platform)
    data = sent_fields(payload)
    errors = {k: "Must not be null." for k, v in data.items() if v is None}
    if "required_sources" in data and data["required_sources"] is not None:
        data["required_sources"] = [e.lower() for e in data["required_sources"]]
        unknown = unknown_requirements(data["required_sources"])
        if unknown:
            errors["required_sources"] = f"Unknown feed or kind: {', '.join(unknown)}."
    version = data.get("minimum_os_version")
    if version and not parse_version(version):
        errors["minimum_os_version"] = f"{version!r} is not a version (e.g. 14.0, 10.0.19045, 22.04)."
    if errors:
        raise ValidationError(errors)
    change_policy(policy, actor=request.user, fields=data)
    return policy
