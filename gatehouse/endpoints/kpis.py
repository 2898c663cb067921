"""The two endpoint KPIs, by company, department, manager and platform, and their daily snapshots.

- Security tools compliance: the share of counted devices passing every agent check (``agents`` and
  ``edr_health``).
- Patch compliance: the share of counted devices passing the ``os`` check.

A device is counted when it is active (``Device.is_active``: any feed saw it within 30 days) and has no exception
in force that day (``endpoints.exceptions``). A counted device the checks have not run on yet (``passing`` is
null) counts as not passing. Both KPIs are held to ``TARGET`` (95%).

``take_snapshot(day)`` computes every slice in one pass over the devices and writes one KpiSnapshot row per
slice in bulk; running it again for the same day replaces that day's rows (idempotent). The same pass counts the
counted devices per OS version, from which it writes each recent release's adoption (ReleaseAdoption: of the
devices on the release's line, how many run it or newer; releases out within TRACK_DAYS). "Patched within N
days of release" is then the adoption row of the day N days after the release. Dashboards and the API read the
snapshots only.
"""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from gatehouse.audit.services import AuditAction, EventDraft, record_events
from gatehouse.core.bulk import cycle_collection_paused
from gatehouse.endpoints.checks import Catalog
from gatehouse.endpoints.models import (
    CheckResult,
    Device,
    DeviceException,
    KpiSnapshot,
    OsRelease,
    Platform,
    ReleaseAdoption,
)

TARGET = 95.0
TRACK_DAYS = 180  # a release's adoption is snapshotted daily for this long after it comes out
WITHIN_DEFAULT = 30  # "patched within N days": the platform policies' default patch window
SECURITY_CHECKS = frozenset({CheckResult.Check.AGENTS.value, CheckResult.Check.EDR_HEALTH.value})
PATCH_CHECKS = frozenset({CheckResult.Check.OS.value})
Dimension = KpiSnapshot.Dimension


@dataclass
class Figures:
    """One slice's counts, and the two KPIs as percentages (None when the slice has no counted device)."""

    dimension: str
    key: str
    active_devices: int = 0
    security_tools_passing: int = 0
    patch_passing: int = 0

    @property
    def security_tools(self) -> float | None:
        return percent(self.security_tools_passing, self.active_devices)

    @property
    def patch(self) -> float | None:
        return percent(self.patch_passing, self.active_devices)

    @property
    def security_tools_met(self) -> bool | None:
        return None if self.security_tools is None else self.security_tools >= TARGET

    @property
    def patch_met(self) -> bool | None:
        return None if self.patch is None else self.patch >= TARGET


def percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def today() -> datetime.date:
    return timezone.localdate()


def excepted_device_ids(day: datetime.date) -> set[int]:
    """Devices with an exception in force on `day` (it runs through its expiry date inclusive)."""
    return set(DeviceException.objects.filter(expires_on__gte=day).values_list("device_id", flat=True))


def compute(
    day: datetime.date | None = None, versions: Counter | None = None
) -> dict[tuple[str, str], Figures]:
    """Every slice's figures from the devices' current state: {(dimension, key): Figures}. One query for the
    devices (with their owner's department and manager), one for the exceptions. When `versions` is given, the
    counted devices are also counted into it by (platform, OS version)."""
    day = day or today()
    excepted = excepted_device_ids(day)
    slices: dict[tuple[str, str], Figures] = {}

    def bump(dimension: str, key: str, security: bool, patch: bool) -> None:
        figures = slices.get((dimension, key))
        if figures is None:
            figures = slices[(dimension, key)] = Figures(dimension, key)
        figures.active_devices += 1
        figures.security_tools_passing += security
        figures.patch_passing += patch

    slices[(Dimension.COMPANY, "")] = Figures(Dimension.COMPANY, "")
    rows = (
        Device.objects.filter(is_active=True)
        .order_by()
        .values_list(
            "pk",
            "platform",
            "os_version",
            "passing",
            "failing_checks",
            "owner__department",
            "owner__manager__email",
        )
    )
    for pk, platform, version, passing, failing, department, manager in rows.iterator(chunk_size=5000):
        if pk in excepted:
            continue
        if versions is not None:
            versions[(platform, version)] += 1
        failing = set(failing or ())
        checked = passing is not None
        security = checked and not (failing & SECURITY_CHECKS)
        patch = checked and not (failing & PATCH_CHECKS)
        bump(Dimension.COMPANY, "", security, patch)
        bump(Dimension.PLATFORM, platform or "", security, patch)
        bump(Dimension.DEPARTMENT, department or "", security, patch)
        bump(Dimension.MANAGER, manager or "", security, patch)
    return slices


@cycle_collection_paused()
def take_snapshot(day: datetime.date | None = None) -> int:
    """Write `day`'s KpiSnapshot rows (today by default), replacing any already there. Returns how many rows.
    Records one audit event with the counts."""
    day = day or today()
    versions: Counter = Counter()
    slices = compute(day, versions)
    adoption = adoption_of(day, versions)
    rows = [
        KpiSnapshot(
            day=day,
            dimension=f.dimension,
            key=f.key[:200],
            active_devices=f.active_devices,
            security_tools_passing=f.security_tools_passing,
            patch_passing=f.patch_passing,
        )
        for f in slices.values()
    ]
    company = slices[(Dimension.COMPANY, "")]
    with transaction.atomic():
        KpiSnapshot.objects.filter(day=day).delete()
        KpiSnapshot.objects.bulk_create(rows, batch_size=1000)
        ReleaseAdoption.objects.filter(day=day).delete()
        ReleaseAdoption.objects.bulk_create(adoption, batch_size=1000)
        record_events(
            [
                EventDraft(
                    action=AuditAction.CREATE,
                    object_type="endpoints.kpisnapshot",
                    object_id=day.isoformat(),
                    object_repr=f"KPI snapshot {day.isoformat()}",
                    changes={
                        "snapshot": [
                            None,
                            {
                                "slices": len(rows),
                                "active_devices": company.active_devices,
                                "security_tools_passing": company.security_tools_passing,
                                "patch_passing": company.patch_passing,
                                "releases_tracked": len(adoption),
                            },
                        ]
                    },
                )
            ]
        )
    return len(rows)


def adoption_of(
    day: datetime.date,
    versions: Counter,
    *,
    releases: list[OsRelease] | None = None,
    catalog: Catalog | None = None,
) -> list[ReleaseAdoption]:
    """The adoption rows of `day` for every release out within TRACK_DAYS before it, from the counted devices
    per (platform, OS version). A device is on a release's line when the catalog puts its version there.
    `releases` and `catalog` (read from the database when not given) let a caller working through many days
    read the catalog once."""
    from gatehouse.endpoints.checks import Catalog, parse_version, windows_version

    first = day - datetime.timedelta(days=TRACK_DAYS)
    if releases is None:
        releases = list(OsRelease.objects.filter(released_on__lte=day, released_on__gte=first))
    releases = [r for r in releases if first <= r.released_on <= day]
    if not releases:
        return []
    catalog = catalog or Catalog()
    on_line: dict[tuple[str, str], list[tuple[tuple[int, ...], int]]] = defaultdict(list)
    for (platform, version), count in versions.items():
        if platform == Platform.WINDOWS:
            version = windows_version(version)
        line = catalog.line_of(platform, version)
        if line is not None:
            on_line[(platform, line)].append((parse_version(version), count))
    rows = []
    for release in releases:
        group = on_line.get((release.platform, release.line), [])
        wanted = parse_version(release.version)
        rows.append(
            ReleaseAdoption(
                day=day,
                release=release,
                devices_on_line=sum(count for _, count in group),
                devices_updated=sum(count for parsed, count in group if parsed >= wanted),
            )
        )
    return rows


# ---------------------------------------------------------------------------------------------- reading snapshots


def latest_day() -> datetime.date | None:
    return KpiSnapshot.objects.order_by("-day").values_list("day", flat=True).first()


def figures_of(snapshot: KpiSnapshot) -> Figures:
    return Figures(
        snapshot.dimension,
        snapshot.key,
        snapshot.active_devices,
        snapshot.security_tools_passing,
        snapshot.patch_passing,
    )


def current(dimension: str | None = None) -> tuple[datetime.date | None, list[Figures]]:
    """The newest snapshot day's figures (of one dimension, or all), ordered by dimension and key."""
    day = latest_day()
    if day is None:
        return None, []
    qs = KpiSnapshot.objects.filter(day=day)
    if dimension:
        qs = qs.filter(dimension=dimension)
    return day, [figures_of(s) for s in qs.order_by("dimension", "key")]


def trend(
    start: datetime.date, end: datetime.date, dimension: str = Dimension.COMPANY, key: str = ""
) -> list[tuple[datetime.date, Figures]]:
    """One slice's figures per snapshot day in [start, end]: [(day, Figures)]."""
    qs = KpiSnapshot.objects.filter(day__gte=start, day__lte=end, dimension=dimension, key=key).order_by(
        "day"
    )
    return [(s.day, figures_of(s)) for s in qs]


def series(points, attribute: str) -> list[tuple[datetime.date, float]]:
    """[(day, percent)] for a chart, skipping days without counted devices."""
    out = []
    for day, figures in points:
        value = getattr(figures, attribute)
        if value is not None:
            out.append((day, value))
    return out


@dataclass
class Adoption:
    """A recent release's adoption: now (the newest snapshot) and N days after it came out."""

    release: OsRelease
    day: datetime.date
    devices_on_line: int
    devices_updated: int
    within: int
    within_on_line: int | None = None  # None: no snapshot of the day N days after the release (yet)
    within_updated: int | None = None

    @property
    def updated(self) -> float | None:
        return percent(self.devices_updated, self.devices_on_line)

    @property
    def within_day(self) -> datetime.date:
        return self.release.released_on + datetime.timedelta(days=self.within)

    @property
    def within_pending(self) -> bool:
        """The N days have not passed yet on the newest snapshot day."""
        return self.within_day > self.day

    @property
    def patched_within(self) -> float | None:
        if self.within_on_line is None:
            return None
        return percent(self.within_updated or 0, self.within_on_line)

    @property
    def patched_within_met(self) -> bool | None:
        value = self.patched_within
        return None if value is None else value >= TARGET


def release_adoption(within: int = WITHIN_DEFAULT) -> tuple[datetime.date | None, list[Adoption]]:
    """The releases tracked on the newest snapshot day, newest first, with their adoption then and on the day
    `within` days after each came out. Two queries."""
    day = ReleaseAdoption.objects.order_by("-day").values_list("day", flat=True).first()
    if day is None:
        return None, []
    latest = list(
        ReleaseAdoption.objects.filter(day=day)
        .select_related("release")
        .order_by("-release__released_on", "release__platform", "release__version")
    )
    out = [Adoption(r.release, day, r.devices_on_line, r.devices_updated, within) for r in latest]
    targets = {(a.release.pk, a.within_day) for a in out if not a.within_pending}
    if targets:
        earlier = ReleaseAdoption.objects.filter(
            release_id__in={pk for pk, _ in targets}, day__in={d for _, d in targets}
        ).values_list("release_id", "day", "devices_on_line", "devices_updated")
        found = {(pk, d): (n, u) for pk, d, n, u in earlier if (pk, d) in targets}
        for a in out:
            if (a.release.pk, a.within_day) in found:
                a.within_on_line, a.within_updated = found[(a.release.pk, a.within_day)]
    return day, out
