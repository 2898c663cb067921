"""One FilterSet for requests, shared by the agent queue pages and the API list."""

import django_filters
from django.db.models import Q
from django.utils import timezone

from gatehouse.catalog.models import System
from gatehouse.core.filtersets import SearchFilterSet
from gatehouse.desk.models import Priority, Queue, Request, RequestType, SlaState, Status, Tier
from gatehouse.directory.models import Person
from gatehouse.users.models import User

SLA_STATES = [*SlaState.choices]


class RequestFilterSet(SearchFilterSet):
    search_fields = ("subject", "description", "requester__name", "requester__email", "system__name")

    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    open = django_filters.BooleanFilter(method="filter_open", label="Open (not resolved or closed)")
    # With to_field_name, a multiple-choice filter compares field_name to the slug: name the slug column.
    queue = django_filters.ModelMultipleChoiceFilter(
        field_name="queue__slug", queryset=Queue.objects.all(), to_field_name="slug", label="Queue (slug)"
    )
    priority = django_filters.MultipleChoiceFilter(choices=Priority.choices)
    tier = django_filters.MultipleChoiceFilter(choices=Tier.choices)
    assignee = django_filters.CharFilter(
        method="filter_assignee", label='Assignee (username, "me" or "none")'
    )
    system = django_filters.ModelMultipleChoiceFilter(
        field_name="system__slug", queryset=System.objects.all(), to_field_name="slug", label="System (slug)"
    )
    type = django_filters.ModelMultipleChoiceFilter(
        field_name="request_type__slug",
        queryset=RequestType.objects.all(),
        to_field_name="slug",
        label="Type (slug)",
    )
    requester = django_filters.ModelChoiceFilter(
        queryset=Person.objects.all(), to_field_name="email", label="Requester (email)"
    )
    sla = django_filters.ChoiceFilter(
        choices=SLA_STATES, method="filter_sla", label="SLA state (either clock: at_risk, breached, ...)"
    )
    label = django_filters.CharFilter(method="filter_label", label="Label")

    class Meta:
        model = Request
        fields = [
            "q",
            "status",
            "queue",
            "priority",
            "tier",
            "assignee",
            "system",
            "type",
            "requester",
            "sla",
        ]

    def search(self, queryset, name, value):
        value = value.strip()
        if value.upper().startswith("REQ-") and value[4:].isdigit() and len(value) < 20:
            return queryset.filter(pk=int(value[4:]))
        return super().search(queryset, name, value)

    def filter_open(self, queryset, name, value):
        if value is None:
            return queryset
        open_q = Q(status__in=[Status.NEW, Status.TRIAGED, Status.IN_PROGRESS, Status.WAITING_ON_REQUESTER])
        return queryset.filter(open_q) if value else queryset.exclude(open_q)

    def filter_assignee(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        if value == "me":
            user = getattr(self.request, "user", None)
            return queryset.filter(assignee=user.pk if user is not None and user.pk else None)
        user = User.objects.filter(username=value).first()
        return queryset.filter(assignee=user.pk) if user is not None else queryset.none()

    def filter_sla(self, queryset, name, value):
        if not value:
            return queryset
        if value == SlaState.BREACHED:
            # Flagged breached, or overdue now (before the job's next run).
            now = timezone.now()
            overdue = Q(first_responded_at__isnull=True, first_response_due__lt=now) | Q(
                resolved_at__isnull=True, resolution_due__lt=now
            )
            return queryset.filter(
                Q(first_response_state=value)
                | Q(resolution_state=value)
                | (overdue & Q(paused_at__isnull=True))
            )
        return queryset.filter(Q(first_response_state=value) | Q(resolution_state=value))

    def filter_label(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(labels__icontains=value)
