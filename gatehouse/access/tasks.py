"""The access lifecycle's background and scheduled jobs (Huey discovers this module).

Queued jobs live beside the services that queue them and are imported here so the worker registers them.
"""

from huey import crontab

from gatehouse.access.expiry import expire_grants, send_expiry_warning  # noqa: F401
from gatehouse.access.fulfilment import notify_fulfillers, run_connector  # noqa: F401
from gatehouse.access.requests import send_approval_mail  # noqa: F401
from gatehouse.access.reviews import send_review_mail  # noqa: F401
from gatehouse.access.sync import sync_access_job  # noqa: F401
from gatehouse.core.jobs import scheduled_job
from gatehouse.core.permissions import SYSTEM


@scheduled_job(crontab(minute="17", hour="3"))
def expire_stale_access_requests() -> int:
    """Daily: close access requests still waiting for approval after 30 days."""
    from gatehouse.access.requests import expire_stale_requests

    return expire_stale_requests()


@scheduled_job(crontab(minute="*/15"))
def complete_lifecycle_events() -> int:
    """Joiners, movers and leavers whose tasks are all done are stamped complete (the leaver dashboard)."""
    from gatehouse.access.lifecycle import complete_finished_events

    return complete_finished_events()


@scheduled_job(crontab(minute="30", hour="6"))
def review_reminders() -> dict[str, int]:
    """Daily: reminders 5, 3 and 2 business days before a campaign's due date, escalation on it."""
    from gatehouse.access import reviews

    return reviews.review_reminders()


@scheduled_job(crontab(minute="0", hour="5"))
def start_due_reviews() -> list[int]:
    """Daily: campaign templates whose next run has come start a campaign."""
    from gatehouse.access import reviews

    return [c.pk for c in reviews.start_due_reviews(actor=SYSTEM)]
