from huey import crontab

from gatehouse.core.jobs import scheduled_job
from gatehouse.users.services import prune_login_failures


@scheduled_job(crontab(minute="17", hour="3"))
def prune_old_login_failures() -> int:
    return prune_login_failures()
