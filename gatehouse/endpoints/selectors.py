"""Reads of devices, with permissions applied in the query.

view_device means "sees every device" (security engineers, admins, auditors). Everyone else sees the devices
they own and, as a manager, their reports' (direct and their reports' reports).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Lower
from django.http import Http404

from gatehouse.directory.models import PersonStatus
from gatehouse.endpoints.checks import describe_requirement, requirement_sources
from gatehouse.endpoints.models import CheckResult, Device, PlatformPolicy, SourceRecord

VIEW_ALL = "endpoints.view_device"


def _person_id(user) -> int | None:
    return getattr(user, "person_id", None)


def sees_all(user) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(VIEW_ALL))


def manages_people(user) -> bool:
    from gatehouse.directory.models import Person

    person_id = _person_id(user)
    return person_id is not None and Person.objects.filter(manager_id=person_id).exists()


def visible_devices(user) -> QuerySet[Device]:
    if user is None or not user.is_authenticated:
        return Device.objects.none()
    if sees_all(user):
        return Device.objects.all()
    person_id = _person_id(user)
    if person_id is None:
        return Device.objects.none()
    return Device.objects.filter(
        Q(owner_id=person_id) | Q(owner__manager_id=person_id) | Q(owner__manager__manager_id=person_id)
    )


def my_devices(user) -> QuerySet[Device]:
    person_id = _person_id(user)
    if person_id is None:
        return Device.objects.none()
    return Device.objects.filter(owner_id=person_id).select_related("owner")


def device_list(user) -> QuerySet[Device]:
    """Lists (page, API, CSV): the rows with their owner and the sources that report them."""
    return visible_devices(user).select_related("owner", "owner__manager")


def get_device(user, pk) -> Device:
    """One device the user may see, with its records and checks, or Http404."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404("No such device.") from None
    if not 0 < pk < 2**63:
        raise Http404("No such device.")
    device = (
        visible_devices(user)
        .select_related("owner", "owner__manager")
        .prefetch_related(
            Prefetch("records", queryset=SourceRecord.objects.order_by("source")),
            Prefetch("checks", queryset=CheckResult.objects.order_by("name")),
        )
        .filter(pk=pk)
        .first()
    )
    if device is None:
        raise Http404("No such device.")
    return device


# ---------------------------------------------------------------------------------------------------------------
# The mismatch report


@dataclass
class Mismatch:
    kind: str
    device: Device
    detail: str


MISMATCH_KINDS = {
    "missing_feed": "Missing from a required feed",
    "no_owner": "No owner",
    "leaver_reporting": "A leaver's device still reporting",
    "serial_conflict": "Serial claimed by two owners",
}


def mismatches(user, *, kind: str | None = None, limit: int | None = None) -> list[Mismatch]:
    """What does not match, for the devices the user sees:

    - missing_feed: an active device without a record from a feed its platform policy requires;
    - no_owner: an active device that no person was matched to;
    - leaver_reporting: a device whose owner is terminated and that a feed saw after their end date (or within
      the active window when no end date is known);
    - serial_conflict: records of one serial naming different owner emails.

    One query per kind and required feed, whatever the number of devices."""
    devices = visible_devices(user).select_related("owner")
    found: list[Mismatch] = []
    kinds = [kind] if kind else list(MISMATCH_KINDS)

    def take(qs):
        return list(qs[:limit] if limit else qs)

    if "missing_feed" in kinds:
        for policy in PlatformPolicy.objects.order_by("platform"):
            for requirement in policy.required_sources:
                sources = requirement_sources(requirement)
                present = SourceRecord.objects.filter(device=OuterRef("pk"), source__in=sources)
                qs = devices.filter(platform=policy.platform, is_active=True).exclude(Exists(present))
                words = f"No {describe_requirement(requirement)} record; {policy.get_platform_display()} requires it"
                found += [Mismatch("missing_feed", d, words) for d in take(qs)]
    if "no_owner" in kinds:
        qs = devices.filter(is_active=True, owner__isnull=True)
        found += [
            Mismatch("no_owner", d, "No person matched by email, username or hostname") for d in take(qs)
        ]
    if "leaver_reporting" in kinds:
        qs = devices.filter(owner__status=PersonStatus.TERMINATED, last_seen_at__isnull=False).filter(
            Q(owner__end_date__isnull=True, is_active=True) | Q(last_seen_at__date__gt=F("owner__end_date"))
        )
        for d in take(qs):
            left = f"left {d.owner.end_date:%Y-%m-%d}" if d.owner.end_date else "terminated"
            found.append(
                Mismatch("leaver_reporting", d, f"{d.owner} ({left}); last seen {d.last_seen_at:%Y-%m-%d}")
            )
    if "serial_conflict" in kinds:
        conflicted = (
            SourceRecord.objects.exclude(owner_email="")
            .values("device_id")
            .annotate(n=Count(Lower("owner_email"), distinct=True))
            .filter(n__gt=1)
            .values("device_id")
        )
        qs = devices.filter(pk__in=conflicted).prefetch_related(
            Prefetch("records", queryset=SourceRecord.objects.exclude(owner_email="").order_by("source"))
        )
        for d in take(qs):
            claims = ", ".join(f"{r.get_source_display()}: {r.owner_email.lower()}" for r in d.records.all())
            found.append(Mismatch("serial_conflict", d, f"Owners differ ({claims})"))
    return found
