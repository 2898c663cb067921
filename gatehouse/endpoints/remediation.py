"""Remediation through the desk: a failing check on a device opens one desk request for its owner.

After a check run, ``remediate(device_ids)``:

- opens, for each failing check of an active device with an owner and no exception in force, one desk request
  of type ``endpoint-remediation`` (seeded after migrate, like the desk's own types) for the owner, about the
  endpoint system (setting ``GATEHOUSE_ENDPOINT_SYSTEM``, default ``jamf``, the demo catalog's Jamf Pro), so the
  desk routes it to that system's owner team. The request says what failed, in the check's words, and what to
  do. It is deduplicated per device and check: a Remediation row links them, and while it is open no second
  request is filed;
- resolves itself: an open link whose check now passes (or whose device is no longer counted: inactive or
  excepted) gets a public note on the request saying so, the request is resolved, and the link is closed. A
  request an agent already resolved or closed is left as it is; only the link closes.

Gatehouse acts as SYSTEM: filing on the owner's behalf needs no agent rights.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gatehouse.core.jobs import job
from gatehouse.core.permissions import SYSTEM
from gatehouse.endpoints.models import CheckResult, Device, DeviceException, Remediation

REQUEST_TYPE = "endpoint-remediation"
DEFAULT_SYSTEM = "jamf"
Check = CheckResult.Check

REQUEST_TYPE_SPEC = {
    "slug": REQUEST_TYPE,
    "name": "Device remediation",
    "description": "A device failed a security check; Gatehouse files these for the device's owner.",
    "system_field": "optional",
    "default_priority": "normal",
    "position": 90,
    "form_schema": [
        {"name": "device", "label": "Device", "type": "text", "required": True, "help_text": ""},
        {"name": "serial", "label": "Serial number", "type": "text", "required": False, "help_text": ""},
        {
            "name": "check",
            "label": "Failing check",
            "type": "choice",
            "required": True,
            "choices": list(Check.values),
            "help_text": "",
        },
    ],
}

WHAT_TO_DO = {
    Check.AGENTS: (
        "Make sure the company's management and security agents are installed and running, then connect the "
        'device to the internet so they report in. On a Mac, open Self Service and run "Reinstall security '
        'agents"; on Windows or Linux, reply here and the endpoint team will reinstall them with you.'
    ),
    Check.EDR_HEALTH: (
        "The security agent reports a problem (an infection, an out-of-date agent or a decommissioned install). "
        "Do not ignore it: restart the device and connect it to the internet so the agent updates. If the "
        "agent reports an infection, disconnect from the network and reply here at once."
    ),
    Check.DISK_ENCRYPTION: (
        "Turn disk encryption on: FileVault on macOS (System Settings > Privacy & Security), BitLocker on "
        "Windows (Settings > Privacy & security > Device encryption), LUKS on Linux (reply here for help)."
    ),
    Check.OS: (
        "Install the latest operating system update: System Settings > General > Software Update on macOS, "
        "Settings > Windows Update on Windows, `sudo apt update && sudo apt full-upgrade` on Ubuntu, then "
        "restart."
    ),
}


@dataclass
class Result:
    opened: list[int] = field(default_factory=list)  # desk request ids
    resolved: list[int] = field(default_factory=list)
    skipped_no_owner: int = 0


def endpoint_system_slug() -> str:
    return getattr(settings, "GATEHOUSE_ENDPOINT_SYSTEM", None) or DEFAULT_SYSTEM


def ensure_request_type(using: str = "default"):
    """Seed the remediation request type once the desk has its defaults (post_migrate); never overwrite it."""
    from gatehouse.desk.models import RequestType, SlaPolicy

    if not RequestType.objects.using(using).exists():
        return None  # the desk seeds its defaults first (it is earlier in INSTALLED_APPS)
    existing = RequestType.objects.using(using).filter(slug=REQUEST_TYPE).first()
    if existing is not None:
        return existing
    policy = SlaPolicy.objects.using(using).filter(slug="default").first()
    return RequestType.objects.using(using).create(sla_policy=policy, **REQUEST_TYPE_SPEC)


def seed_after_migrate(sender=None, using: str = "default", **kwargs) -> None:
    ensure_request_type(using)


def _system():
    from gatehouse.catalog.models import System

    return System.objects.filter(slug=endpoint_system_slug()).first()


def _reason_of(device: Device, check: str, reasons: dict[tuple[int, str], str]) -> str:
    return reasons.get((device.pk, check)) or f"{Check(check).label}: failing"


def _description(device: Device, check: str, reason: str) -> str:
    return (
        f"Your device {device} (serial {device.serial}) fails a security check.\n\n"
        f"What is wrong: {reason}\n\n"
        f"What to do: {WHAT_TO_DO[Check(check)]}\n\n"
        "Gatehouse checks devices after every feed import; this request resolves itself once the device passes."
    )


def remediate(device_ids=None, *, actor=SYSTEM, now: datetime.datetime | None = None) -> Result:
    """Open and resolve remediation requests for the devices (all checked devices when None)."""
    from gatehouse.desk import services as desk
    from gatehouse.desk.models import OPEN_STATUSES, Status

    now = now or timezone.now()
    today = timezone.localdate(now)
    result = Result()
    devices = Device.objects.select_related("owner").filter(checked_at__isnull=False)
    if device_ids is not None:
        devices = devices.filter(pk__in=list(device_ids))
    devices = {d.pk: d for d in devices}
    if not devices:
        return result
    # A whole-fleet run (device_ids None) filters nothing: it must not send 100,000 parameters.
    scope = {} if device_ids is None else {"device_id__in": list(devices)}
    excepted = set(
        DeviceException.objects.filter(expires_on__gte=today, **scope).values_list("device_id", flat=True)
    )
    reasons = {
        (d, n): r
        for d, n, r in CheckResult.objects.filter(passed=False, **scope).values_list(
            "device_id", "name", "reason"
        )
    }
    open_links = {
        (link.device_id, link.check_name): link
        for link in Remediation.objects.select_related("request").filter(resolved_at__isnull=True, **scope)
    }
    links_of: dict[int, list[str]] = {}
    for d, c in open_links:
        links_of.setdefault(d, []).append(c)
    system = None
    request_type = None
    for pk, device in devices.items():
        counted = device.is_active and pk not in excepted
        failing = set(device.failing_checks or ()) if device.passing is False else set()
        # Close links whose check passes now, or whose device is no longer counted.
        for check in links_of.get(pk, ()):
            if counted and check in failing:
                continue
            link = open_links[(pk, check)]
            why = (
                "the device now passes this check"
                if counted
                else "the device has an exception in force"
                if pk in excepted
                else "the device is no longer active"
            )
            with transaction.atomic():
                request = link.request
                if request.status in OPEN_STATUSES:
                    desk.reply(
                        request,
                        actor=SYSTEM,
                        body=f"Resolved by Gatehouse on {today.isoformat()}: {why} "
                        f"({Check(check).label}). Thank you.",
                    )
                    request.refresh_from_db()
                    desk.set_status(request, actor=SYSTEM, status=Status.RESOLVED)
                    result.resolved.append(request.pk)
                Remediation.objects.filter(pk=link.pk).update(resolved_at=now)
        if not counted or not failing:
            continue
        if device.owner is None:
            result.skipped_no_owner += 1
            continue
        for check in sorted(failing):
            if check not in Check.values or (pk, check) in open_links:
                continue
            if request_type is None:
                request_type = ensure_request_type()
                system = _system()
            reason = _reason_of(device, check, reasons)
            with transaction.atomic():
                request = desk.file_request(
                    actor=actor,
                    request_type=request_type,
                    subject=f"Fix {device}: {Check(check).label.lower()}"[:250],
                    description=_description(device, check, reason),
                    fields={"device": str(device), "serial": device.serial, "check": check},
                    system=system,
                    requester=device.owner,
                )
                Remediation.objects.create(device=device, check_name=check, request=request, opened_at=now)
            result.opened.append(request.pk)
    return result


@job()
def remediate_later(device_ids: list[int]) -> dict[str, int]:
    """After an import's commit: open and resolve the changed devices' remediation requests (audited as a job)."""
    result = remediate(device_ids)
    return {"opened": result.opened, "resolved": result.resolved, "skipped_no_owner": result.skipped_no_owner}
