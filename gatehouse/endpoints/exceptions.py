"""Device exceptions: a device taken out of the KPIs (and out of remediation) until a date, with a reason.

An exception is in force from the day it is granted through its expiry date inclusive. Granting, revoking and
expiry are audited: grant and revoke through the change log (create_object / update_object), expiry by the daily
job as one audit event with its count. Revoking keeps the row (its history stays readable): it moves the expiry
to yesterday and appends who revoked it and why to the reason.

Security engineers and admins grant and revoke (endpoints.add_/change_deviceexception); they and auditors read
every exception (endpoints.view_deviceexception); a team member sees the exceptions on their own devices, a
manager those on their reports' devices.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from gatehouse.audit.services import AuditAction, EventDraft, record_events
from gatehouse.core.permissions import require
from gatehouse.core.services import create_object, update_object
from gatehouse.core.validators import clean_text
from gatehouse.endpoints.models import Device, DeviceException

MAX_DAYS = 366


def _today() -> datetime.date:
    return timezone.localdate()


def _is_system(actor) -> bool:
    from gatehouse.core.permissions import SYSTEM

    return actor is SYSTEM


def _actor_user(actor):
    return None if _is_system(actor) or actor is None or not getattr(actor, "pk", None) else actor


def _date(value, name: str) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError({name: "Enter a date as YYYY-MM-DD."}) from None


# ---------------------------------------------------------------------------------------------- reading


def visible_exceptions(user) -> QuerySet[DeviceException]:
    """The exceptions `user` may see, applied in the query."""
    qs = DeviceException.objects.select_related("device", "device__owner", "granted_by")
    if user is None or not user.is_authenticated:
        return qs.none()
    if _is_system(user) or user.has_perm("endpoints.view_deviceexception"):
        return qs
    person_id = getattr(user, "person_id", None)
    if person_id is None:
        return qs.none()
    return qs.filter(Q(device__owner_id=person_id) | Q(device__owner__manager_id=person_id))


def in_force(qs: QuerySet[DeviceException], day: datetime.date | None = None) -> QuerySet[DeviceException]:
    return qs.filter(expires_on__gte=day or _today())


def active_exception(device: Device, day: datetime.date | None = None) -> DeviceException | None:
    return in_force(device.exceptions.all(), day).order_by("-expires_on").first()


def can_manage(user) -> bool:
    return bool(user and user.is_authenticated and user.has_perm("endpoints.add_deviceexception"))


# ---------------------------------------------------------------------------------------------- writing


def grant_exception(device: Device, *, actor, reason: str, expires_on) -> DeviceException:
    """Take `device` out of the KPIs until `expires_on` (inclusive; at most a year ahead)."""
    if not _is_system(actor):
        require(actor, "endpoints.add_deviceexception")
    errors: dict[str, str] = {}
    try:
        reason = clean_text(reason, "reason", max_length=2000, required=True)
    except ValidationError:
        errors["reason"] = "Say why the device is excepted (at most 2000 characters)."
    try:
        expires = _date(expires_on, "expires_on")
    except ValidationError:
        errors["expires_on"] = "Enter a date as YYYY-MM-DD."
        expires = None
    today = _today()
    if expires is not None:
        if expires < today:
            errors["expires_on"] = "The expiry date is in the past."
        elif expires > today + datetime.timedelta(days=MAX_DAYS):
            errors["expires_on"] = f"An exception lasts at most {MAX_DAYS} days; renew it when it expires."
    if not isinstance(device, Device) or device.pk is None:
        errors["device"] = "Name an existing device."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        return create_object(
            DeviceException,
            fields={
                "device": device,
                "reason": reason,
                "expires_on": expires,
                "granted_by": _actor_user(actor),
            },
        )


def revoke_exception(exception: DeviceException, *, actor, reason: str) -> DeviceException:
    """End an exception now: the device counts in the KPIs again from today."""
    if not _is_system(actor):
        require(actor, "endpoints.change_deviceexception")
    try:
        reason = clean_text(reason, "reason", max_length=2000, required=True)
    except ValidationError:
        raise ValidationError({"reason": "Say why the exception is revoked."}) from None
    today = _today()
    if exception.expires_on < today:
        raise ValidationError({"expires_on": f"This exception already expired on {exception.expires_on}."})
    who = getattr(_actor_user(actor), "username", None) or "Gatehouse"
    note = f"\n\nRevoked on {today.isoformat()} by {who}: {reason}"
    with transaction.atomic():
        exception, _ = update_object(
            exception,
            fields={
                "expires_on": today - datetime.timedelta(days=1),
                "reason": (exception.reason + note)[:10000],
            },
        )
    return exception


def expire_exceptions(day: datetime.date | None = None) -> list[int]:
    """The daily expiry: exceptions whose last day was yesterday end today. Records one audit event with their
    count and returns their devices' ids (remediation then looks at those devices again). The KPIs need no
    write: they read the expiry date."""
    day = day or _today()
    ended = list(
        DeviceException.objects.filter(expires_on=day - datetime.timedelta(days=1)).values_list(
            "pk", "device_id"
        )
    )
    live = set(
        in_force(DeviceException.objects.filter(device_id__in=[d for _, d in ended]), day).values_list(
            "device_id", flat=True
        )
    )
    devices = sorted({d for _, d in ended} - live)
    if ended:
        record_events(
            [
                EventDraft(
                    action=AuditAction.UPDATE,
                    object_type="endpoints.deviceexception",
                    object_id=day.isoformat(),
                    object_repr=f"Device exceptions expired {day.isoformat()}",
                    changes={"expired": [None, {"exceptions": [pk for pk, _ in ended], "devices": devices}]},
                )
            ]
        )
    return devices
