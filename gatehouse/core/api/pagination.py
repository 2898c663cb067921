from typing import Any

from django.conf import settings
from django.utils.http import urlencode
from ninja import Field, Schema
from ninja.pagination import PaginationBase

MAX_OFFSET = 10**12


class LimitOffsetPagination(PaginationBase):
    """`?limit=&offset=` pages answered as {count, next, previous, results}, like NetBox."""

    class Input(Schema):
        limit: int = Field(settings.API_PAGE_SIZE, ge=1, le=settings.API_MAX_PAGE_SIZE)
        # Bounded so a huge offset is a 422, not an integer overflow in the database driver.
        offset: int = Field(0, ge=0, le=MAX_OFFSET)

    class Output(Schema):
        count: int
        next: str | None
        previous: str | None
        results: list[Any]

    items_attribute = "results"

    def paginate_queryset(self, queryset, pagination: Input, **params):
        request = params["request"]
        limit, offset = pagination.limit, pagination.offset
        count = (
            queryset.count()
            if hasattr(queryset, "count") and not isinstance(queryset, list)
            else len(queryset)
        )
        results = list(queryset[offset : offset + limit])
        return {
            "count": count,
            "next": _page_url(request, limit, offset + limit) if offset + limit < count else None,
            "previous": _page_url(request, limit, max(offset - limit, 0)) if offset > 0 else None,
            "results": results,
        }


def _page_url(request, limit: int, offset: int) -> str:
    query = request.GET.copy()
    query["limit"] = limit
    query["offset"] = offset
    return request.build_absolute_uri(request.path) + "?" + urlencode(query, doseq=True)
