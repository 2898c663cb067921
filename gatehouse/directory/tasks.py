from huey import crontab

from gatehouse.core.jobs import scheduled_job
from gatehouse.directory.services import refresh_statuses


@scheduled_job(crontab(minute="5", hour="*"))
def refresh_person_statuses() -> int:
    """People whose end date has come become leaving, then terminated, without waiting for the next import."""
    return refresh_statuses()
