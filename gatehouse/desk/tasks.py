"""The desk's background and scheduled jobs (Huey discovers this module)."""

# --- chat (part D): the delivery job lives with the rest of chat; importing it registers it with Huey.
from gatehouse.desk.chat import deliver_chat  # noqa: F401

# --- SLA (part B): flag at risk / breached, notify inside the calendar's hours, escalate breached tier 2.
# isort: split
from huey import crontab

from gatehouse.core.jobs import scheduled_job


@scheduled_job(crontab(minute="*"))
def check_slas() -> dict[str, int]:
    from gatehouse.desk import sla

    return sla.check_slas()


# --- end SLA (part B)
