"""Scheduled API syncs: one job per source, hourly, each a no-op until that source's credentials are set.

The job's status is the FeedImport it leaves (done with counts, or failed with the reason), shown on the Feeds
page and at /api/v1/endpoints/feeds.
"""

from __future__ import annotations

from huey import crontab

from gatehouse.core.jobs import scheduled_job


def run_sync(source: str) -> dict:
    from gatehouse.access.connectors.base import ConnectorError, ConnectorNotConfigured
    from gatehouse.core.permissions import SYSTEM
    from gatehouse.endpoints.feeds.base import ParseError
    from gatehouse.endpoints.feeds.clients import sync_source

    try:
        run = sync_source(source, actor=SYSTEM)
    except ConnectorNotConfigured:
        return {"source": source, "state": "not configured"}
    except (ConnectorError, ParseError) as exc:
        return {"source": source, "state": "failed", "error": str(exc)}
    return {
        "source": source,
        "state": run.state,
        "records": run.records,
        "created": run.created,
        "changed": run.changed,
        "unchanged": run.unchanged,
    }


@scheduled_job(crontab(minute="5"))
def sync_jamf() -> dict:
    """Hourly: the Jamf Pro computer inventory, when GATEHOUSE_JAMF_* are set."""
    return run_sync("jamf")


@scheduled_job(crontab(minute="15"))
def sync_sentinelone() -> dict:
    """Hourly: the SentinelOne agents, when GATEHOUSE_SENTINELONE_* are set."""
    return run_sync("sentinelone")


@scheduled_job(crontab(minute="25"))
def sync_crowdstrike() -> dict:
    """Hourly: the CrowdStrike Falcon hosts, when GATEHOUSE_CROWDSTRIKE_CLIENT_* are set."""
    return run_sync("crowdstrike")


SYNC_JOBS = {"jamf": sync_jamf, "sentinelone": sync_sentinelone, "crowdstrike": sync_crowdstrike}
