"""Pages for entitlements, grants, bundles, lifecycle events and the leaver dashboard (part A of issue 4).

Thin over gatehouse.access.grants and gatehouse.access.lifecycle. The person and system pages show access
through small includes (access/_person_access.html, access/_system_access.html) fed by person_access_context
and system_access_context, called from the directory and catalog views.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_POST

from gatehouse.access import grants, lifecycle
from gatehouse.access.grant_filtersets import BundleFilterSet, EntitlementFilterSet, LifecycleEventFilterSet
from gatehouse.access.grant_forms import BundleForm, EndGrantForm, EntitlementCreateForm, EntitlementForm
from gatehouse.access.grant_tables import BundleTable, EntitlementTable, LifecycleEventTable
from gatehouse.access.models import Entitlement, Grant
from gatehouse.catalog.models import System
from gatehouse.core.views import ObjectDetailView, ObjectEditView, ObjectListView
from gatehouse.directory.models import Person

HISTORY_LENGTH = 50


# --- the includes on the person and system pages -------------------------------------------------------------


def mark_renewable(user, rows: list[Grant]) -> bool:
    """Set `can_renew` on each grant as gatehouse.access.expiry.can_renew decides it (its bulk form: keep the two
    in step), with at most one query for all of them (the systems the user owns) rather than one per row.
    Returns whether any row may be renewed."""
    time_bound = [g for g in rows if g.ended_at is None and g.ends_at is not None]
    for grant in rows:
        grant.can_renew = False
    if not time_bound or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.has_role("auditor"):
        return False
    if user.has_perm("access.change_grant"):
        allowed = None  # every system
    else:
        person_id = getattr(user, "person_id", None)
        allowed = set(grants.owned_system_ids(person_id).values_list("pk", flat=True)) if person_id else set()
    for grant in time_bound:
        grant.can_renew = allowed is None or grant.entitlement.system_id in allowed
    return any(g.can_renew for g in time_bound)


def person_access_context(user, person: Person) -> dict[str, Any]:
    """For templates/access/_person_access.html: active grants and the ended ones the user may read, each
    active time-bound grant marked `can_renew` for the renew / do-not-renew buttons."""
    access = grants.person_access(user, person)
    shown = grants.can_see_person_access(user, person) or bool(access["active"] or access["ended"])
    any_renewable = mark_renewable(user, access["active"])
    return {"access": access, "access_shown": shown, "access_renewable": any_renewable}


def system_access_context(user, system: System) -> dict[str, Any]:
    """For templates/access/_system_access.html: each entitlement with its live holders the user may read, each
    time-bound grant marked `can_renew` for the renew / do-not-renew buttons."""
    rows = grants.system_access(user, system)
    mark_renewable(user, [g for row in rows for g in row["grants"]])
    return {
        "system_access": rows,
        "can_add_entitlement": grants.can_manage_entitlements(user, system),
    }


# --- entitlements ---------------------------------------------------------------------------------------------


class EntitlementListView(ObjectListView):
    title = "Entitlements"
    filterset_class = EntitlementFilterSet
    table_class = EntitlementTable
    filter_fields = ("q", "system", "privilege", "approval_policy", "connector", "tier", "is_baseline")
    empty_message = "No entitlement matches these filters."

    def get_queryset(self, request):
        return grants.entitlement_list(request.user)

    def extra_context(self, request) -> dict[str, Any]:
        can_add = grants.editable_systems_for_entitlements(request.user).exists()
        return {"add_url_name": "access:entitlement_add" if can_add else None}


class EntitlementView(ObjectDetailView):
    template_name = "access/entitlement_detail.html"

    def get_object(self, request, pk: int):
        return grants.get_entitlement(request.user, pk)

    def extra_context(self, request, entitlement: Entitlement) -> dict[str, Any]:
        rows = grants.visible_grants(request.user).filter(entitlement=entitlement)
        return {
            "holders": list(rows.filter(ended_at__isnull=True).order_by("person__name", "person__email")),
            "ended": list(rows.filter(ended_at__isnull=False).order_by("-ended_at")[:HISTORY_LENGTH]),
            "bundles": list(entitlement.bundles.order_by("name")),
            "can_edit": request.user.has_perm("access.change_entitlement", entitlement),
            "can_end": request.user.has_perm("access.change_grant", entitlement),
            "end_form": EndGrantForm(),
        }


class EntitlementEditView(ObjectEditView):
    form_class = EntitlementForm
    permission = "access.change_entitlement"

    def get_object(self, request, pk: int):
        return grants.get_entitlement(request.user, pk)

    def save(self, request, form, entitlement):
        return grants.update_entitlement(entitlement, actor=request.user, **form.service_fields())


class EntitlementAddView(ObjectEditView):
    """Admins add to any system, owners to theirs: the system list offers only those."""

    form_class = EntitlementCreateForm
    permission = "access.add_entitlement"
    title = "Add an entitlement"
    cancel_url_name = "access:entitlement_list"

    def _load(self, request, kwargs):
        self.systems = grants.editable_systems_for_entitlements(request.user).order_by("name")
        if not self.systems.exists():
            raise PermissionDenied
        return None

    def get(self, request, **kwargs):
        self._load(request, kwargs)
        form = EntitlementCreateForm(systems=self.systems, initial={"system": request.GET.get("system", "")})
        return self.render(request, form, None)

    def post(self, request, **kwargs):
        self._load(request, kwargs)
        form = EntitlementCreateForm(request.POST, systems=self.systems)
        if form.is_valid():
            fields = form.service_fields()
            system = fields.pop("system")
            try:
                saved = grants.create_entitlement(actor=request.user, system=system, **fields)
            except ValidationError as exc:
                from gatehouse.core.views import apply_service_errors

                apply_service_errors(form, exc)
            else:
                messages.success(request, f"Saved {saved}.")
                return HttpResponseRedirect(saved.get_absolute_url())
        return self.render(request, form, None, status=422 if form.errors else 200)


@login_required
@require_POST
def end_grant(request, pk: int):
    """End a live grant (admins, the system's owners and deprovisioners); back to where the form was."""
    grant = grants.get_grant(request.user, pk)
    if not request.user.has_perm("access.change_grant", grant):
        raise PermissionDenied
    form = EndGrantForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the access ends.")
    else:
        try:
            grants.end_grant(grant, actor=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Ended: {grant}.")
    return HttpResponseRedirect(grant.entitlement.get_absolute_url())


# --- bundles --------------------------------------------------------------------------------------------------


class BundleListView(ObjectListView):
    title = "Bundles"
    filterset_class = BundleFilterSet
    table_class = BundleTable
    filter_fields = ("q", "department", "title")
    permission = "access.view_bundle"
    empty_message = "No bundle matches. Bundles give joiners entitlements for their department or title."

    def get_queryset(self, request):
        return lifecycle.visible_bundles(request.user)

    def extra_context(self, request) -> dict[str, Any]:
        can_add = request.user.has_perm("access.add_bundle")
        return {"add_url_name": "access:bundle_add" if can_add else None}


class BundleView(ObjectDetailView):
    template_name = "access/bundle_detail.html"
    permission = "access.view_bundle"

    def get_object(self, request, pk: int):
        return lifecycle.get_bundle(request.user, pk)

    def extra_context(self, request, bundle) -> dict[str, Any]:
        return {
            "entitlements": sorted(bundle.entitlements.all(), key=lambda e: (e.system.name, e.name)),
            "can_edit": request.user.has_perm("access.change_bundle", bundle),
        }


class BundleEditView(ObjectEditView):
    form_class = BundleForm
    permission = "access.change_bundle"

    def get_object(self, request, pk: int):
        return lifecycle.get_bundle(request.user, pk)

    def save(self, request, form, bundle):
        fields = form.service_fields()
        return lifecycle.update_bundle(
            bundle, actor=request.user, entitlements=form.cleaned_data["entitlements"], **fields
        )


class BundleAddView(ObjectEditView):
    form_class = BundleForm
    permission = "access.add_bundle"
    title = "Add a bundle"
    cancel_url_name = "access:bundle_list"

    def save(self, request, form, bundle):
        return lifecycle.create_bundle(
            actor=request.user, entitlements=form.cleaned_data["entitlements"], **form.service_fields()
        )


# --- lifecycle events and the leaver dashboard ----------------------------------------------------------------


class LifecycleEventListView(ObjectListView):
    title = "Joiners, movers and leavers"
    filterset_class = LifecycleEventFilterSet
    table_class = LifecycleEventTable
    filter_fields = ("q", "kind", "open")
    empty_message = "No joiner, mover or leaver matches."

    def get_queryset(self, request):
        return lifecycle.event_list(request.user)


@login_required
def leaver_dashboard(request):
    """Leavers whose access is still being revoked: open and overdue revoke tasks per leaver and system."""
    show_done = request.GET.get("done") == "1"
    rows = lifecycle.leaver_dashboard(request.user, show_done=show_done)
    return render(
        request,
        "access/leavers.html",
        {
            "rows": rows,
            "show_done": show_done,
            "now": timezone.now(),
            "total_open": sum(r["open"] for r in rows),
            "total_overdue": sum(r["overdue"] for r in rows),
        },
    )
