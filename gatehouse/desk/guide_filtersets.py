"""The guide list's filters, shared by the list page and the API list (like every app's filtersets.py)."""

from __future__ import annotations

import django_filters

from gatehouse.desk.guides import apply_search
from gatehouse.desk.models import Guide


class GuideFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search", max_length=500)
    system = django_filters.CharFilter(method="filter_system", label="System (slug)", max_length=100)
    type = django_filters.CharFilter(method="filter_type", label="Request type (slug)", max_length=100)

    class Meta:
        model = Guide
        fields = ["q", "system", "type"]

    def search(self, queryset, name, value):
        """Full-text search, best match first (SQLite FTS5 or PostgreSQL full-text search)."""
        return apply_search(queryset, value) if value.strip() else queryset

    def filter_system(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(systems__slug=value) if value else queryset

    def filter_type(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(request_types__slug=value) if value else queryset
