"""Pages of the system catalog and Getting Help: thin over catalog.selectors and catalog.services."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch

from gatehouse.audit.selectors import object_history
from gatehouse.catalog import selectors, services
from gatehouse.catalog.filtersets import SystemFilterSet
from gatehouse.catalog.forms import SystemCreateForm, SystemForm
from gatehouse.catalog.models import ContactRole, System, SystemContact
from gatehouse.catalog.tables import GettingHelpTable, SystemTable
from gatehouse.core.filtersets import SearchFilterSet
from gatehouse.core.views import ObjectDetailView, ObjectEditView, ObjectListView
from gatehouse.directory.selectors import visible_teams

HISTORY_LENGTH = 10


class SystemListView(ObjectListView):
    title = "Systems"
    filterset_class = SystemFilterSet
    table_class = SystemTable
    filter_fields = (
        "q",
        "tier",
        "data_classification",
        "scope",
        "audience",
        "auth_method",
        "owner_team",
        "has_import_problems",
    )
    add_url_name = "catalog:system_add"
    add_permission = "catalog.add_system"
    empty_message = "No system matches these filters."

    def get_queryset(self, request):
        return selectors.system_list(request.user)

    def extra_context(self, request) -> dict[str, Any]:
        return {"datalists": {"owner_team": visible_teams(request.user).values_list("slug", flat=True)}}


class SystemView(ObjectDetailView):
    template_name = "catalog/system_detail.html"

    def get_object(self, request, slug: str):
        return selectors.get_system(request.user, slug)

    def extra_context(self, request, system: System) -> dict[str, Any]:
        user = request.user
        contacts = selectors.contacts_by_role(system)
        can_read_audit = user.has_perm("audit.view_auditevent")
        return {
            "business_owners": contacts[ContactRole.BUSINESS_OWNER],
            "technical_owners": contacts[ContactRole.TECHNICAL_OWNER],
            "provisioners": contacts[ContactRole.PROVISIONER],
            "deprovisioners": contacts[ContactRole.DEPROVISIONER],
            "scopes": list(system.compliance_scopes.all()),
            "extra_items": sorted((system.extra or {}).items()),
            "history": list(object_history(user, system)[:HISTORY_LENGTH]) if can_read_audit else None,
            "can_edit": user.has_perm("catalog.change_system", system),
            **_access_context(user, system),  # access lifecycle (issue 4): who holds what
        }


class SystemEditView(ObjectEditView):
    form_class = SystemForm
    permission = "catalog.change_system"

    def get_object(self, request, slug: str):
        return selectors.get_system(request.user, slug)

    def save(self, request, form, system):
        return services.update_system(system, actor=request.user, **form.service_fields())


class SystemAddView(ObjectEditView):
    form_class = SystemCreateForm
    permission = "catalog.add_system"
    title = "Add a system"
    cancel_url_name = "catalog:system_list"

    def save(self, request, form, system):
        return services.create_system(actor=request.user, **form.service_fields())


class GettingHelpSearch(SearchFilterSet):
    """Carries the search box only: getting_help_rows does the searching."""

    class Meta:
        model = System
        fields = ["q"]


class GettingHelpView(ObjectListView):
    title = "Getting Help"
    template_name = "catalog/getting_help.html"
    filterset_class = GettingHelpSearch
    table_class = GettingHelpTable
    per_page = 100
    empty_message = "No system matches. Try a shorter word, a label (corpsys::…) or a chat handle."

    def get_queryset(self, request):
        owners = SystemContact.objects.filter(role__in=selectors.OWNER_ROLES).select_related("person", "team")
        return selectors.getting_help_rows(request.user, request.GET.get("q", "")).prefetch_related(
            Prefetch("contacts", queryset=owners)
        )


def _access_context(user, system: System) -> dict[str, Any]:
    """The access section (templates/access/_system_access.html); imported late: the access app builds on this."""
    from gatehouse.access.views import system_access_context

    return system_access_context(user, system)
