"""Pages of the people directory: thin over directory.selectors and directory.services."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from gatehouse.catalog.models import SystemContact
from gatehouse.catalog.selectors import visible_systems
from gatehouse.core.views import ObjectDetailView, ObjectEditView, ObjectListView
from gatehouse.directory import selectors, services
from gatehouse.directory.filtersets import PersonFilterSet, TeamFilterSet
from gatehouse.directory.forms import PersonForm, TeamForm
from gatehouse.directory.models import Person
from gatehouse.directory.tables import PersonTable, TeamTable


class PersonListView(ObjectListView):
    title = "People"
    filterset_class = PersonFilterSet
    table_class = PersonTable
    filter_fields = ("q", "status", "employment_type", "department", "division", "team")
    add_url_name = "directory:person_add"
    add_permission = "directory.add_person"
    empty_message = "No one matches these filters."

    def get_queryset(self, request):
        return selectors.person_list(request.user)

    def extra_context(self, request) -> dict[str, Any]:
        return {"datalists": {"department": selectors.departments()}}


class PersonView(ObjectDetailView):
    template_name = "directory/person_detail.html"

    def get_object(self, request, pk: int):
        return selectors.get_person(request.user, pk)

    def extra_context(self, request, person: Person) -> dict[str, Any]:
        # Systems where the person is named directly (owner, provisioner, ...), among the systems the user may see.
        system_roles = (
            SystemContact.objects.filter(person=person, system__in=visible_systems(request.user))
            .select_related("system")
            .order_by("system__name", "role")
        )
        return {
            "chain": list(reversed(selectors.manager_chain(person))),
            "reports": selectors.direct_reports(person),
            "teams": person.teams.order_by("name"),
            "system_roles": system_roles,
            "login": getattr(person, "user", None),
            "can_edit": request.user.has_perm("directory.change_person", person),
            **_access_context(request.user, person),  # access lifecycle (issue 4): the person's access
        }


class PersonEditView(ObjectEditView):
    form_class = PersonForm
    permission = "directory.change_person"

    def get_object(self, request, pk: int):
        return selectors.get_person(request.user, pk)

    def save(self, request, form, person):
        return services.update_person(person, actor=request.user, **form.service_fields())


class PersonAddView(ObjectEditView):
    form_class = PersonForm
    permission = "directory.add_person"
    title = "Add a person"
    cancel_url_name = "directory:person_list"

    def save(self, request, form, person):
        return services.create_person(actor=request.user, **form.service_fields())


class TeamListView(ObjectListView):
    title = "Teams"
    filterset_class = TeamFilterSet
    table_class = TeamTable
    filter_fields = ("q",)
    empty_message = "No team matches."

    def get_queryset(self, request):
        return selectors.visible_teams(request.user).annotate(
            system_count=Count("owned_systems", distinct=True)
        )


class TeamView(ObjectDetailView):
    template_name = "directory/team_detail.html"

    def get_object(self, request, slug: str):
        return selectors.get_team(request.user, slug)

    def extra_context(self, request, team) -> dict[str, Any]:
        systems = visible_systems(request.user)
        return {
            "members": team.members.select_related("manager").order_by("name"),
            "owned_systems": systems.filter(owner_team=team).order_by("name"),
            "system_roles": SystemContact.objects.filter(team=team, system__in=systems)
            .select_related("system")
            .order_by("system__name", "role"),
            "can_edit": request.user.has_perm("directory.change_team", team),
        }


class TeamEditView(ObjectEditView):
    form_class = TeamForm
    permission = "directory.change_team"

    def get_object(self, request, slug: str):
        return selectors.get_team(request.user, slug)

    def save(self, request, form, team):
        return services.update_team(
            team, actor=request.user, members=form.cleaned_data["members"], **form.service_fields()
        )


def _access_context(user, person: Person) -> dict[str, Any]:
    """The access section (templates/access/_person_access.html); imported late: the access app builds on this."""
    from gatehouse.access.views import person_access_context

    return person_access_context(user, person)
