"""/api/v1/access/entitlements, /grants, /bundles, /lifecycle-events: thin over access.grants and .lifecycle."""

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from gatehouse.access import grants, lifecycle
from gatehouse.access.api.schemas import (
    BundleIn,
    BundleOut,
    BundlePatch,
    EntitlementIn,
    EntitlementOut,
    EntitlementPatch,
    GrantEnd,
    GrantOut,
    LifecycleEventOut,
)
from gatehouse.access.grant_filtersets import (
    BundleFilterSet,
    EntitlementFilterSet,
    GrantFilterSet,
    LifecycleEventFilterSet,
)
from gatehouse.access.models import Entitlement
from gatehouse.catalog.models import System
from gatehouse.core.api.filtering import apply_filters, query_schema
from gatehouse.core.api.pagination import LimitOffsetPagination
from gatehouse.core.api.schemas import sent_fields
from gatehouse.core.permissions import require
from gatehouse.directory.models import Person

entitlements_router = Router(tags=["access: entitlements"])
grants_router = Router(tags=["access: grants"])
bundles_router = Router(tags=["access: bundles"])
events_router = Router(tags=["access: lifecycle"])

EntitlementQuery = query_schema(EntitlementFilterSet)
GrantQuery = query_schema(GrantFilterSet)
BundleQuery = query_schema(BundleFilterSet)
EventQuery = query_schema(LifecycleEventFilterSet)


def _owner(data: dict[str, Any]) -> dict[str, Any]:
    if "owner" in data and data["owner"] is not None:
        person = Person.objects.filter(email=data["owner"]).first()
        if person is None:
            raise ValidationError({"owner": f"No person with email {data['owner']}."})
        data["owner"] = person
    return data


def _read_entitlement(request, pk) -> Entitlement:
    return grants.entitlement_list(request.user).get(pk=grants.get_entitlement(request.user, pk).pk)


# --- entitlements ---------------------------------------------------------------------------------------------


@entitlements_router.get("", response=list[EntitlementOut], summary="List entitlements")
@paginate(LimitOffsetPagination)
def list_entitlements(request: HttpRequest, filters: Query[EntitlementQuery]):
    """Every signed-in member reads the catalogue of entitlements. `system` filters by system slug."""
    qs = grants.entitlement_list(request.user).order_by("system__name", "name", "pk")
    return apply_filters(EntitlementFilterSet, request.GET, qs, request)


@entitlements_router.get("/{int:pk}", response=EntitlementOut, summary="Read an entitlement")
def get_entitlement(request: HttpRequest, pk: int):
    return _read_entitlement(request, pk)


@entitlements_router.post("", response={201: EntitlementOut}, summary="Create an entitlement")
def create_entitlement(request: HttpRequest, payload: EntitlementIn):
    """Admins on any system; a system's owners on theirs."""
    require(request.user, "access.view_entitlement")
    data = _owner(sent_fields(payload))
    data.setdefault("slug", payload.slug)
    slug = data.pop("system")
    system = System.objects.filter(slug=slug).first()
    if system is None:
        raise ValidationError({"system": f"No system with slug {slug}."})
    entitlement = grants.create_entitlement(actor=request.user, system=system, **data)
    return Status(201, _read_entitlement(request, entitlement.pk))


@entitlements_router.patch("/{int:pk}", response=EntitlementOut, summary="Change an entitlement")
def update_entitlement(request: HttpRequest, pk: int, payload: EntitlementPatch):
    entitlement = grants.get_entitlement(request.user, pk)
    require(request.user, "access.change_entitlement", entitlement)
    grants.update_entitlement(entitlement, actor=request.user, **_owner(sent_fields(payload)))
    return _read_entitlement(request, pk)


@entitlements_router.delete("/{int:pk}", response={204: None}, summary="Delete an entitlement")
def delete_entitlement(request: HttpRequest, pk: int):
    """Only one nobody ever held or requested (422 otherwise: make it not requestable instead)."""
    entitlement = grants.get_entitlement(request.user, pk)
    grants.delete_entitlement(entitlement, actor=request.user)
    return Status(204, None)


# --- grants ---------------------------------------------------------------------------------------------------


@grants_router.get("", response=list[GrantOut], summary="List grants")
@paginate(LimitOffsetPagination)
def list_grants(request: HttpRequest, filters: Query[GrantQuery]):
    """Admins and auditors see all; others their own, their reports' and their systems'. `active=true` for live."""
    qs = grants.visible_grants(request.user).order_by("-started_at", "pk")
    return apply_filters(GrantFilterSet, request.GET, qs, request)


@grants_router.get("/{int:pk}", response=GrantOut, summary="Read a grant")
def get_grant(request: HttpRequest, pk: int):
    return grants.get_grant(request.user, pk)


@grants_router.post("/{int:pk}/end", response=GrantOut, summary="End a grant")
def end_grant(request: HttpRequest, pk: int, payload: GrantEnd):
    """Records that the access ended (the grant stays as history). Admins, the system's owners and
    deprovisioners. Ending an ended grant is a 422."""
    grant = grants.get_grant(request.user, pk)
    grants.end_grant(grant, actor=request.user, reason=payload.reason)
    return grants.get_grant(request.user, pk)


# --- bundles --------------------------------------------------------------------------------------------------


def _bundle_entitlements(keys: list[str]) -> list[Entitlement]:
    found, errors = [], {}
    for index, key in enumerate(keys):
        system_slug, _, slug = key.partition("/")
        entitlement = (
            Entitlement.objects.filter(system__slug=system_slug, slug=slug).first() if slug else None
        )
        if entitlement is None:
            errors[f"entitlements.{index}"] = f"No entitlement {key} (give system-slug/entitlement-slug)."
        found.append(entitlement)
    if errors:
        raise ValidationError(errors)
    return found


@bundles_router.get("", response=list[BundleOut], summary="List bundles")
@paginate(LimitOffsetPagination)
def list_bundles(request: HttpRequest, filters: Query[BundleQuery]):
    require(request.user, "access.view_bundle")
    return apply_filters(
        BundleFilterSet, request.GET, lifecycle.visible_bundles(request.user).order_by("name", "pk"), request
    )


@bundles_router.get("/{int:pk}", response=BundleOut, summary="Read a bundle")
def get_bundle(request: HttpRequest, pk: int):
    require(request.user, "access.view_bundle")
    return lifecycle.get_bundle(request.user, pk)


@bundles_router.post("", response={201: BundleOut}, summary="Create a bundle")
def create_bundle(request: HttpRequest, payload: BundleIn):
    require(request.user, "access.add_bundle")
    data = sent_fields(payload)
    data.setdefault("slug", payload.slug)
    entitlements = _bundle_entitlements(data.pop("entitlements", []))
    bundle = lifecycle.create_bundle(actor=request.user, entitlements=entitlements, **data)
    return Status(201, lifecycle.get_bundle(request.user, bundle.pk))


@bundles_router.patch("/{int:pk}", response=BundleOut, summary="Change a bundle")
def update_bundle(request: HttpRequest, pk: int, payload: BundlePatch):
    bundle = lifecycle.get_bundle(request.user, pk)
    require(request.user, "access.change_bundle", bundle)
    data = sent_fields(payload)
    keys = data.pop("entitlements", None)
    entitlements = _bundle_entitlements(keys) if keys is not None else None
    lifecycle.update_bundle(bundle, actor=request.user, entitlements=entitlements, **data)
    return lifecycle.get_bundle(request.user, pk)


@bundles_router.delete("/{int:pk}", response={204: None}, summary="Delete a bundle")
def delete_bundle(request: HttpRequest, pk: int):
    bundle = lifecycle.get_bundle(request.user, pk)
    lifecycle.delete_bundle(bundle, actor=request.user)
    return Status(204, None)


# --- lifecycle events -----------------------------------------------------------------------------------------


@events_router.get("", response=list[LifecycleEventOut], summary="List joiners, movers and leavers")
@paginate(LimitOffsetPagination)
def list_events(request: HttpRequest, filters: Query[EventQuery]):
    """With each event's task counts: all, still open, and open past their due time. `open=true` for unfinished."""
    qs = lifecycle.event_list(request.user).order_by("-effective_at", "-pk")
    return apply_filters(LifecycleEventFilterSet, request.GET, qs, request)


@events_router.get("/{int:pk}", response=LifecycleEventOut, summary="Read a lifecycle event")
def get_event(request: HttpRequest, pk: int):
    return lifecycle.get_event(request.user, pk)
