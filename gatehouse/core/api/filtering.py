"""One FilterSet per model serves both the list page and the API list endpoint."""

from __future__ import annotations

from typing import Any

import django_filters
from django.http import QueryDict
from ninja import Field, Schema
from ninja.errors import HttpError
from pydantic import create_model

_MULTI = (django_filters.MultipleChoiceFilter, django_filters.ModelMultipleChoiceFilter)


def query_schema(filterset_class: type[django_filters.FilterSet]) -> type[Schema]:
    """A ninja query schema naming each filter, so the OpenAPI document lists the parameters."""
    fields: dict[str, Any] = {}
    for name, flt in filterset_class.base_filters.items():
        kind = list[str] | None if isinstance(flt, _MULTI) else str | None
        fields[name] = (kind, Field(None, description=str(flt.label or name.replace("_", " "))))
    return create_model(f"{filterset_class.__name__}Query", __base__=Schema, **fields)


def apply_filters(filterset_class, params: QueryDict, queryset, request=None):
    """Filter a queryset or answer 422 naming each bad parameter."""
    filterset = filterset_class(params, queryset=queryset, request=request)
    if not filterset.is_valid():
        raise FilterError(filterset.errors)
    return filterset.qs


class FilterError(HttpError):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(422, "Invalid filter parameters.")
        self.errors = errors
