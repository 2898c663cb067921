"""Filters for entitlements, grants, bundles and lifecycle events: the list pages and the API lists share them."""

import django_filters
from django.db.models import Q

from gatehouse.access.models import (
    ApprovalPolicy,
    Bundle,
    Connector,
    Entitlement,
    Grant,
    GrantSource,
    LifecycleEvent,
    Privilege,
)
from gatehouse.catalog.models import Tier
from gatehouse.core.filtersets import SearchFilterSet
from gatehouse.directory.models import Person


class EntitlementFilterSet(SearchFilterSet):
    search_fields = ("name", "slug", "description", "system__name", "system__slug", "external_id")

    system = django_filters.CharFilter(field_name="system__slug", label="System (slug)")
    privilege = django_filters.MultipleChoiceFilter(choices=Privilege.choices)
    approval_policy = django_filters.MultipleChoiceFilter(choices=ApprovalPolicy.choices)
    connector = django_filters.MultipleChoiceFilter(choices=Connector.choices)
    tier = django_filters.MultipleChoiceFilter(field_name="system__effective_tier", choices=Tier.choices)
    is_baseline = django_filters.BooleanFilter()
    is_requestable = django_filters.BooleanFilter()

    class Meta:
        model = Entitlement
        fields = [
            "q",
            "system",
            "privilege",
            "approval_policy",
            "connector",
            "tier",
            "is_baseline",
            "is_requestable",
        ]


class GrantFilterSet(SearchFilterSet):
    search_fields = ("person__name", "person__email", "entitlement__name", "entitlement__system__name")

    person = django_filters.ModelChoiceFilter(queryset=Person.objects.all(), label="Person (id)")
    email = django_filters.CharFilter(field_name="person__email", lookup_expr="iexact", label="Person email")
    entitlement = django_filters.ModelChoiceFilter(
        queryset=Entitlement.objects.all(), label="Entitlement (id)"
    )
    system = django_filters.CharFilter(field_name="entitlement__system__slug", label="System (slug)")
    source = django_filters.MultipleChoiceFilter(choices=GrantSource.choices)
    privilege = django_filters.MultipleChoiceFilter(
        field_name="entitlement__privilege", choices=Privilege.choices
    )
    active = django_filters.BooleanFilter(method="filter_active", label="Active (not ended)")
    time_bound = django_filters.BooleanFilter(field_name="ends_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = Grant
        fields = ["q", "person", "email", "entitlement", "system", "source", "privilege", "active"]

    def filter_active(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(ended_at__isnull=value)


class BundleFilterSet(SearchFilterSet):
    search_fields = ("name", "slug", "department", "title")

    department = django_filters.CharFilter(lookup_expr="iexact")
    title = django_filters.CharFilter(lookup_expr="iexact")
    entitlement = django_filters.ModelChoiceFilter(
        field_name="entitlements", queryset=Entitlement.objects.all(), label="Entitlement (id)"
    )

    class Meta:
        model = Bundle
        fields = ["q", "department", "title"]


class LifecycleEventFilterSet(SearchFilterSet):
    search_fields = ("person__name", "person__email")

    kind = django_filters.MultipleChoiceFilter(choices=LifecycleEvent.Kind.choices)
    person = django_filters.ModelChoiceFilter(queryset=Person.objects.all(), label="Person (id)")
    open = django_filters.BooleanFilter(method="filter_open", label="Still has open tasks")
    since = django_filters.IsoDateTimeFilter(field_name="effective_at", lookup_expr="gte")

    class Meta:
        model = LifecycleEvent
        fields = ["q", "kind", "person", "open"]

    def filter_open(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(open_count__gt=0) if value else queryset.filter(Q(open_count=0))
