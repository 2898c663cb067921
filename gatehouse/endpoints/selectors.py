"""Reads of devices, with permissions applied in the query.

view_device means "sees every device" (security engineers, admins, auditors). Everyone else sees the devices
they own and, as a manager, their reports' (direct and their reports' reports).
"""

from __future__ import annotations

from collections.abc import Callable
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


def remediations_of(user, device: Device) -> list:
    """The device's remediation links, newest first, whose desk request the user may read (one query)."""
    from gatehouse.desk.selectors import visible_requests
    from gatehouse.endpoints.models import Remediation

    return list(
        Remediation.objects.filter(device=device, request__in=visible_requests(user).values("pk"))
        .select_related("request")
        .order_by("-opened_at", "-pk")
    )


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


@dataclass
class MismatchKind:
    """One kind of mismatch: its devices as a query (counted and sliced in the database) and how to word a
    row. `describe` reads only what the query selected and prefetched."""

    kind: str
    label: str
    devices: QuerySet[Device]
    describe: Callable[[Device], str]

    def rows(self, start: int = 0, stop: int | None = None) -> list[Mismatch]:
        return [Mismatch(self.kind, d, self.describe(d)) for d in self.devices[start:stop]]


class MismatchReport:
    """Every kind's rows, one kind after the other, as a list that is counted (one COUNT per kind) and sliced
    without reading the rows off the page: `len(report)` and `report[offset:offset + limit]`, which is what
    the API's pagination and Django's Paginator ask of it."""

    def __init__(self, kinds: list[MismatchKind]):
        self.kinds = kinds
        self._counts: list[int] | None = None

    def counts(self) -> dict[str, int]:
        if self._counts is None:
            self._counts = [k.devices.count() for k in self.kinds]
        return {k.kind: n for k, n in zip(self.kinds, self._counts, strict=True)}

    def __len__(self) -> int:
        return sum(self.counts().values())

    def __getitem__(self, index: slice) -> list[Mismatch]:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("a mismatch report is read by slices")
        start, stop, _ = index.indices(len(self))
        rows: list[Mismatch] = []
        offset = 0
        for kind, count in zip(self.kinds, self._counts or [], strict=True):
            lo, hi = max(start - offset, 0), min(stop - offset, count)
            if lo < hi:
                rows += kind.rows(lo, hi)
            offset += count
            if offset >= stop:
                break
        return rows


def _missing_feed(devices: QuerySet[Device]) -> MismatchKind:
    policies = list(PlatformPolicy.objects.order_by("platform"))
    condition = Q(pk__in=[])
    for policy in policies:
        absent = Q()
        for requirement in policy.required_sources:
            present = SourceRecord.objects.filter(
                device=OuterRef("pk"), source__in=requirement_sources(requirement)
            )
            absent |= ~Exists(present)
        if policy.required_sources:
            condition |= Q(platform=policy.platform) & absent
    by_platform = {p.platform: p for p in policies}

    def describe(device: Device) -> str:
        policy = by_platform[device.platform]
        sources = {r.source for r in device.records.all()}
        missing = [
            describe_requirement(r)
            for r in policy.required_sources
            if not sources & set(requirement_sources(r))
        ]
        return f"No {' and no '.join(missing)} record; {policy.get_platform_display()} requires it"

    qs = devices.filter(condition, is_active=True).prefetch_related(
        Prefetch("records", queryset=SourceRecord.objects.only("device_id", "source"))
    )
    return MismatchKind("missing_feed", MISMATCH_KINDS["missing_feed"], qs, describe)


def _no_owner(devices: QuerySet[Device]) -> MismatchKind:
    return MismatchKind(
        "no_owner",
        MISMATCH_KINDS["no_owner"],
        devices.filter(is_active=True, owner__isnull=True),
        lambda d: "No person matched by email, username or hostname",
    )


def _leaver_reporting(devices: QuerySet[Device]) -> MismatchKind:
    def describe(d: Device) -> str:
        left = f"left {d.owner.end_date:%Y-%m-%d}" if d.owner.end_date else "terminated"
        return f"{d.owner} ({left}); last seen {d.last_seen_at:%Y-%m-%d}"

    qs = devices.filter(owner__status=PersonStatus.TERMINATED, last_seen_at__isnull=False).filter(
        Q(owner__end_date__isnull=True, is_active=True) | Q(last_seen_at__date__gt=F("owner__end_date"))
    )
    return MismatchKind("leaver_reporting", MISMATCH_KINDS["leaver_reporting"], qs, describe)


def _serial_conflict(devices: QuerySet[Device]) -> MismatchKind:
    conflicted = (
        SourceRecord.objects.exclude(owner_email="")
        .values("device_id")
        .annotate(n=Count(Lower("owner_email"), distinct=True))
        .filter(n__gt=1)
        .values("device_id")
    )

    def describe(d: Device) -> str:
        claims = ", ".join(f"{r.get_source_display()}: {r.owner_email.lower()}" for r in d.records.all())
        return f"Owners differ ({claims})"

    qs = devices.filter(pk__in=conflicted).prefetch_related(
        Prefetch(
            "records",
            queryset=SourceRecord.objects.exclude(owner_email="")
            .only("device_id", "source", "owner_email")
            .order_by("source"),
        )
    )
    return MismatchKind("serial_conflict", MISMATCH_KINDS["serial_conflict"], qs, describe)


_KIND_BUILDERS = {
    "missing_feed": _missing_feed,
    "no_owner": _no_owner,
    "leaver_reporting": _leaver_reporting,
    "serial_conflict": _serial_conflict,
}


def mismatch_report(user, *, kind: str | None = None) -> MismatchReport:
    """What does not match, for the devices the user sees, by kind (all kinds, or one):

    - missing_feed: an active device without a record from a feed its platform policy requires;
    - no_owner: an active device that no person was matched to;
    - leaver_reporting: a device whose owner is terminated and that a feed saw after their end date (or within
      the active window when no end date is known);
    - serial_conflict: records of one serial naming different owner emails.

    Each kind is one query (rows ordered by hostname and serial); a page of rows costs that query and its
    prefetch, whatever the number of devices."""
    devices = visible_devices(user).select_related("owner").order_by("hostname", "serial", "pk")
    kinds = [kind] if kind else list(MISMATCH_KINDS)
    return MismatchReport([_KIND_BUILDERS[k](devices) for k in kinds])


def mismatches(user, *, kind: str | None = None, limit: int | None = None) -> list[Mismatch]:
    """The report's rows as a list: every row, or the first `limit` of each kind."""
    report = mismatch_report(user, kind=kind)
    return [m for k in report.kinds for m in k.rows(0, limit)]
