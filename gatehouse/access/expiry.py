"""Time-bound access: grants with an end date expire, with warnings a week and a day before.

- `expire_grants` (hourly) opens a revoke task (reason expiry) for every live grant past its ends_at that has
  none yet. The task goes through the connector when the entitlement has one, else it waits for the system's
  deprovisioners. The grant stays live on our books until the revoke is done: a grant never disappears while
  the system still has the access.
- Warnings: a week and a day before the end, the holder and the system's owners get one mail each time
  (recorded in Grant.warnings_sent, so a warning goes out once however often the job runs).
- `renew_grant` (system owner or admin) moves the end by some days, capped by the entitlement's
  max_duration_days from now; `set_do_not_renew` marks a grant that must not be renewed.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from huey import crontab

from gatehouse.access.models import FulfilmentTask, Grant
from gatehouse.catalog.selectors import OWNER_ROLES
from gatehouse.core.jobs import job, scheduled_job
from gatehouse.core.services import update_object
from gatehouse.directory.models import Person

logger = logging.getLogger(__name__)

WARNINGS = (("day", datetime.timedelta(days=1)), ("week", datetime.timedelta(days=7)))
EXPIRY_TASK_DUE = datetime.timedelta(hours=24)
MAX_RENEW_DAYS = 3650


def _signed_in(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_active", False)


def can_renew(user, grant: Grant) -> bool:
    """The system's owners and admins (the global change_grant right). Auditors change nothing."""
    from gatehouse.access import grants

    if not _signed_in(user) or user.has_role("auditor"):
        return False
    return user.has_perm("access.change_grant") or grants.is_owner(user, grant.entitlement.system_id)


def _require_renew(user, grant: Grant) -> None:
    if not can_renew(user, grant):
        raise PermissionDenied(
            "Only the system's owners and admins can renew this access or stop its renewal."
        )


def open_expiry_task(grant: Grant) -> FulfilmentTask | None:
    return (
        FulfilmentTask.objects.filter(grant=grant, kind=FulfilmentTask.Kind.REVOKE)
        .exclude(state=FulfilmentTask.State.DONE)
        .first()
    )


def renew_grant(grant: Grant, *, actor, days: int) -> Grant:
    """Extend a time-bound grant by `days` from its current end (or from now if that has passed), capped by
    the entitlement's max_duration_days counted from now. Clears do-not-renew and the warnings sent."""
    _require_renew(actor, grant)
    if isinstance(days, bool) or not isinstance(days, int) or not 0 < days <= MAX_RENEW_DAYS:
        raise ValidationError({"days": f"A whole number of days between 1 and {MAX_RENEW_DAYS}."})
    with transaction.atomic():
        locked = Grant.objects.select_for_update().select_related("entitlement").get(pk=grant.pk)
        if locked.ended_at is not None:
            raise ValidationError({"grant": "This access has ended; request it again instead."})
        if locked.ends_at is None:
            raise ValidationError({"grant": "This access has no end date; there is nothing to renew."})
        if open_expiry_task(locked) is not None:
            raise ValidationError(
                {
                    "grant": "It has expired and its revoke task is open; request the access again after it is done."
                }
            )
        now = timezone.now()
        new_end = max(locked.ends_at, now) + datetime.timedelta(days=days)
        cap_days = locked.entitlement.max_duration_days
        if cap_days:
            new_end = min(new_end, now + datetime.timedelta(days=cap_days))
        if new_end <= locked.ends_at:
            raise ValidationError(
                {
                    "days": f"The entitlement allows at most {cap_days} days from now; the grant already ends then."
                }
            )
        update_object(locked, fields={"ends_at": new_end, "do_not_renew": False}, validate=False)
        Grant.objects.filter(pk=locked.pk).update(warnings_sent={})
    grant.ends_at, grant.do_not_renew, grant.warnings_sent = locked.ends_at, False, {}
    return grant


def set_do_not_renew(grant: Grant, *, actor, value: bool) -> Grant:
    """Mark (or unmark) a grant as not to be renewed: it expires at its end whatever anyone asks later."""
    _require_renew(actor, grant)
    if not isinstance(value, bool):
        raise ValidationError({"value": "true or false."})
    with transaction.atomic():
        locked = Grant.objects.select_for_update().get(pk=grant.pk)
        if locked.ended_at is not None:
            raise ValidationError({"grant": "This access has ended."})
        update_object(locked, fields={"do_not_renew": value}, validate=False)
    grant.do_not_renew = value
    return grant


# --- the job ----------------------------------------------------------------------------------------------------


def expire_due_grants(now: datetime.datetime | None = None) -> dict[str, int]:
    """Open revoke tasks for expired grants and send the warnings due. Returns counts for the log."""
    from gatehouse.access.fulfilment import create_task
    from gatehouse.core.permissions import SYSTEM

    now = now or timezone.now()
    counts = {"revoke_tasks": 0, "week_warnings": 0, "day_warnings": 0}
    expired = (
        Grant.objects.filter(ended_at__isnull=True, ends_at__lte=now)
        .exclude(
            pk__in=FulfilmentTask.objects.filter(kind=FulfilmentTask.Kind.REVOKE, grant__isnull=False)
            .exclude(state=FulfilmentTask.State.DONE)
            .values("grant_id")
        )
        .select_related("person", "entitlement__system")
        .order_by("ends_at", "pk")
    )
    for grant in expired.iterator(chunk_size=500):
        with transaction.atomic():
            create_task(
                actor=SYSTEM,
                kind=FulfilmentTask.Kind.REVOKE,
                reason=FulfilmentTask.Reason.EXPIRY,
                person=grant.person,
                entitlement=grant.entitlement,
                grant=grant,
                due_at=now + EXPIRY_TASK_DUE,
            )
        counts["revoke_tasks"] += 1
    soon = (
        Grant.objects.filter(ended_at__isnull=True, ends_at__gt=now, ends_at__lte=now + WARNINGS[-1][1])
        .select_related("person", "entitlement__system")
        .order_by("ends_at", "pk")
    )
    for grant in soon.iterator(chunk_size=500):
        left = grant.ends_at - now
        sent = dict(grant.warnings_sent or {})
        due = next((name for name, window in WARNINGS if left <= window), None)
        if due is None or due in sent:
            continue
        # The day warning also covers the week one (a grant made 3 days before its end gets one mail).
        sent[due] = now.isoformat()
        sent.setdefault("week", now.isoformat())
        Grant.objects.filter(pk=grant.pk).update(warnings_sent=sent)
        grant_id, which = grant.pk, due
        transaction.on_commit(lambda grant_id=grant_id, which=which: send_expiry_warning(grant_id, which))
        counts[f"{due}_warnings"] += 1
    return counts


@scheduled_job(crontab(minute="7"))
def expire_grants() -> dict[str, int]:
    """Hourly: expired grants become revoke tasks; warnings a week and a day before the end."""
    counts = expire_due_grants()
    if any(counts.values()):
        logger.info("expire_grants: %s", counts)
    return counts


def owner_emails(system) -> set[str]:
    """Emails of the system's business and technical owners (people or team members) and its owner team."""
    people = Person.objects.filter(
        Q(system_roles__system=system, system_roles__role__in=OWNER_ROLES)
        | Q(teams__system_roles__system=system, teams__system_roles__role__in=OWNER_ROLES)
        | Q(teams__owned_systems=system)
    ).values_list("email", flat=True)
    return {e.strip().lower() for e in people if e}


@job()
def send_expiry_warning(grant_id: int, which: str) -> int:
    """Mail the holder and the system's owners that the access ends soon."""
    from django.core.mail import send_mail

    grant = Grant.objects.select_related("person", "entitlement__system").filter(pk=grant_id).first()
    if grant is None or grant.ended_at is not None or grant.ends_at is None:
        return 0
    recipients = sorted(
        owner_emails(grant.entitlement.system) | {(grant.person.email or "").strip().lower()} - {""}
    )
    if not recipients:
        return 0
    base = getattr(settings, "BASE_URL", "").rstrip("/")
    when = "in a day" if which == "day" else "in a week"
    lines = [
        f"{grant.person}'s access to {grant.entitlement} ends {when}, at {grant.ends_at:%Y-%m-%d %H:%M %Z}.",
        "",
    ]
    if grant.do_not_renew:
        lines.append("It is marked do-not-renew: it will be revoked then.")
    else:
        lines.append(
            "The system's owners can renew it or mark it do-not-renew; otherwise it is revoked then."
        )
    lines += [
        "",
        f"{base}{grant.person.get_absolute_url()}" if hasattr(grant.person, "get_absolute_url") else "",
    ]
    send_mail(
        f"[Gatehouse] Access to {grant.entitlement} ends {when}",
        "\n".join(lines).rstrip() + "\n",
        None,
        recipients,
    )
    return len(recipients)
