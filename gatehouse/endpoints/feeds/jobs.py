"""The scheduled API sync: one job, hourly, that fetches every source whose credentials are set and imports the
fetched feeds together (one transaction, the changed devices reconciled and checked once); a no-op while none is
configured.

Its status is the FeedImport each source gets (done with counts, or failed with the reason), shown on the Feeds
page and at /api/v1/endpoints/feeds.
"""

from __future__ import annotations

from huey import crontab

from gatehouse.core.jobs import scheduled_job

NOT_CONFIGURED = {"state": "not configured"}


def _summary(outcome) -> dict:
    """A `SyncOutcome` as a job result: the run's state and counts, or its error."""
    run = outcome.run
    if run.state != run.State.DONE:
        return {"state": run.state, "error": run.error}
    return {
        "state": run.state,
        "records": run.records,
        "created": run.created,
        "changed": run.changed,
        "unchanged": run.unchanged,
    }


def run_syncs(sources: list[str]) -> dict:
    """Sync `sources` together as the system; {source: state and counts, or state and error}."""
    from gatehouse.core.permissions import SYSTEM
    from gatehouse.endpoints.feeds.clients import sync_sources

    return {source: _summary(outcome) for source, outcome in sync_sources(sources, actor=SYSTEM).items()}


def run_sync(source: str) -> dict:
    """One source alone (a manual sync from `gatehouse shell`): {"source", "state", counts or "error"}."""
    from gatehouse.access.connectors.base import ConnectorNotConfigured

    try:
        result = run_syncs([source])
    except ConnectorNotConfigured:
        return {"source": source, **NOT_CONFIGURED}
    return {"source": source, **result[source]}


@scheduled_job(crontab(minute="5"))
def sync_feeds() -> dict:
    """Hourly at :05: every source whose API credentials are set (GATEHOUSE_JAMF_*, GATEHOUSE_SENTINELONE_*,
    GATEHOUSE_CROWDSTRIKE_CLIENT_*), imported together."""
    from gatehouse.endpoints.feeds.clients import configured_sources

    sources = configured_sources()
    return run_syncs(sources) if sources else dict(NOT_CONFIGURED)
