"""The base of every FilterSet: a free-text `q` search over the fields a model lists."""

from __future__ import annotations

import django_filters
from django.db.models import Q


class SearchFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    search_fields: tuple[str, ...] = ()

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        condition = Q()
        for field in self.search_fields:
            condition |= Q(**{f"{field}__icontains": value})
        return queryset.filter(condition)
