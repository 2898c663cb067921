"""Reading the feeds' state: import runs and, per source, the last run and whether its API sync is configured.

Needs view_feedimport (security engineers, admins, auditors), applied here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Max, QuerySet

from gatehouse.core.permissions import require
from gatehouse.endpoints.models import FeedImport, Source

VIEW_FEEDS = "endpoints.view_feedimport"


def feed_imports(user) -> QuerySet[FeedImport]:
    """Every import run, newest first (none for a user without view_feedimport)."""
    qs = FeedImport.objects.select_related("started_by").order_by("-started_at", "-id")
    if user is None or not user.is_authenticated or not user.has_perm(VIEW_FEEDS):
        return qs.none()
    return qs


@dataclass
class FeedStatus:
    source: str
    label: str
    api: bool  # the source can be synced from its API
    configured: bool  # its API credentials are set
    last_run: FeedImport | None
    last_success: FeedImport | None


def feed_status(user) -> list[FeedStatus]:
    """One line per source: its last run and last successful run (runs are ordered by id; two queries)."""
    require(user, VIEW_FEEDS)
    from gatehouse.endpoints.feeds.clients import CLIENTS, configured_sources

    configured = set(configured_sources())
    newest: dict[str, int] = {}
    newest_done: dict[str, int] = {}
    for row in FeedImport.objects.order_by().values("source", "state").annotate(latest=Max("id")):
        newest[row["source"]] = max(newest.get(row["source"], 0), row["latest"])
        if row["state"] == FeedImport.State.DONE:
            newest_done[row["source"]] = row["latest"]
    wanted = set(newest.values()) | set(newest_done.values())
    runs = FeedImport.objects.select_related("started_by").in_bulk(wanted) if wanted else {}
    return [
        FeedStatus(
            source=value,
            label=label,
            api=value in CLIENTS,
            configured=value in configured,
            last_run=runs.get(newest.get(value)),
            last_success=runs.get(newest_done.get(value)),
        )
        for value, label in Source.choices
    ]
