import django_filters
from django.db.models import Q

from gatehouse.catalog.models import Audience, AuthMethod, ComplianceScope, DataClassification, System, Tier
from gatehouse.catalog.selectors import owner_filter
from gatehouse.core.filtersets import SearchFilterSet
from gatehouse.directory.models import Person, Team


class SystemFilterSet(SearchFilterSet):
    search_fields = ("name", "slug", "label", "description", "vendor", "owner_team__name")

    tier = django_filters.MultipleChoiceFilter(
        field_name="effective_tier", choices=Tier.choices, label="Tier (effective)"
    )
    data_classification = django_filters.MultipleChoiceFilter(choices=DataClassification.choices)
    auth_method = django_filters.MultipleChoiceFilter(choices=AuthMethod.choices)
    audience = django_filters.MultipleChoiceFilter(choices=Audience.choices)
    scope = django_filters.ModelMultipleChoiceFilter(
        field_name="compliance_scopes", queryset=ComplianceScope.objects.all(), label="Compliance scope"
    )
    owner = django_filters.ModelChoiceFilter(
        queryset=Person.objects.all(), method="filter_owner", label="Owner (person id)"
    )
    owner_team = django_filters.ModelChoiceFilter(
        queryset=Team.objects.all(), to_field_name="slug", label="Owner team (slug)"
    )
    baseline_entitlement = django_filters.BooleanFilter()
    is_subprocessor = django_filters.BooleanFilter()
    has_import_problems = django_filters.BooleanFilter(method="filter_problems", label="Has import problems")

    class Meta:
        model = System
        fields = [
            "q",
            "tier",
            "data_classification",
            "auth_method",
            "audience",
            "scope",
            "owner",
            "owner_team",
        ]

    def filter_owner(self, queryset, name, value):
        return queryset.filter(owner_filter(value)).distinct() if value else queryset

    def filter_problems(self, queryset, name, value):
        if value is None:
            return queryset
        empty = Q(import_problems=[])
        return queryset.exclude(empty) if value else queryset.filter(empty)
