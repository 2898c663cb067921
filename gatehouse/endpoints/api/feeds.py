"""/api/v1/endpoints/feeds: each source's sync status, and the import runs. Needs view_feedimport."""

import datetime

from django.http import Http404, HttpRequest
from ninja import Query, Router, Schema
from ninja.pagination import paginate

from gatehouse.core.api.pagination import LimitOffsetPagination
from gatehouse.core.permissions import require
from gatehouse.endpoints.feeds.status import VIEW_FEEDS, feed_imports, feed_status
from gatehouse.endpoints.models import FeedImport, Source

feeds_router = Router(tags=["endpoint feeds"])
MAX_ID = 2**63 - 1


class ImportOut(Schema):
    id: int
    source: str
    origin: str
    state: str
    started_at: datetime.datetime
    finished_at: datetime.datetime | None
    records: int
    created: int
    changed: int
    unchanged: int
    error: str
    started_by: str | None

    @staticmethod
    def resolve_started_by(obj: FeedImport) -> str | None:
        return obj.started_by.get_username() if obj.started_by_id else None


class FeedOut(Schema):
    source: str
    label: str
    api: bool
    configured: bool
    last_run: ImportOut | None
    last_success: ImportOut | None


class ImportQuery(Schema):
    source: Source | None = None
    state: FeedImport.State | None = None


@feeds_router.get("", response=list[FeedOut], summary="Each feed's status")
def list_feeds(request: HttpRequest):
    """Per source: whether its API sync is configured, its last run (the scheduled job's status) and last
    successful run."""
    return feed_status(request.user)


@feeds_router.get("/imports", response=list[ImportOut], summary="Import runs")
@paginate(LimitOffsetPagination)
def list_imports(request: HttpRequest, filters: Query[ImportQuery]):
    """Every file import and API sync, newest first; filter by source and state."""
    require(request.user, VIEW_FEEDS)
    qs = feed_imports(request.user)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.state:
        qs = qs.filter(state=filters.state)
    return qs


@feeds_router.get("/imports/{import_id}", response=ImportOut, summary="An import run")
def get_import(request: HttpRequest, import_id: int):
    require(request.user, VIEW_FEEDS)
    run = feed_imports(request.user).filter(pk=import_id).first() if 0 < import_id <= MAX_ID else None
    if run is None:
        raise Http404("No such import.")
    return run
