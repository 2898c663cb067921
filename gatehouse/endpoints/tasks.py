"""The endpoints module's background and scheduled jobs (Huey discovers this module).

Queued jobs live beside the services that queue them and are imported here so the worker registers them.
"""

from huey import crontab

from gatehouse.core.jobs import scheduled_job
from gatehouse.core.permissions import SYSTEM
from gatehouse.endpoints.checks import recheck_later  # noqa: F401
from gatehouse.endpoints.feeds.jobs import sync_feeds  # noqa: F401
from gatehouse.endpoints.remediation import remediate_later  # noqa: F401


@scheduled_job(crontab(minute="20", hour="4"))
def endpoints_daily_checks():
    """Reconcile every device and run every check: agents go stale and devices inactive as days pass, even
    without imports, and the catalog or the policies may have changed."""
    from gatehouse.endpoints import checks, reconcile

    result = reconcile.reconcile_devices(None, actor=SYSTEM)
    return {"reconcile": result.summary(), "checks": checks.run_checks(None)}


@scheduled_job(crontab(minute="40", hour="4"))
def endpoints_daily_kpis():
    """After the checks: end yesterday's exceptions, bring remediation requests up to date, snapshot the KPIs."""
    from gatehouse.endpoints import exceptions, kpis, remediation

    exceptions.expire_exceptions()
    remediation.remediate()
    return kpis.take_snapshot()
