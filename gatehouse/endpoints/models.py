"""Endpoint posture: devices reconciled from MDM, EDR and anti-theft feeds, checks per platform against an OS
release catalog, exceptions, and daily KPI snapshots.

Writes go through this app's services. Source records are bookkeeping written in bulk by imports (each import
is one audit event with its counts); devices, checks, exceptions and the OS catalog are change-logged.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from gatehouse.core.models import ChangeLoggedModel
from gatehouse.directory.models import Person


class Platform(models.TextChoices):
    MACOS = "macos", "macOS"
    WINDOWS = "windows", "Windows"
    LINUX = "linux", "Linux"
    OTHER = "other", "Other"


class Source(models.TextChoices):
    JAMF = "jamf", "Jamf Pro"
    SENTINELONE = "sentinelone", "SentinelOne"
    CROWDSTRIKE = "crowdstrike", "CrowdStrike Falcon"
    DRIVESTRIKE = "drivestrike", "DriveStrike"


class SourceKind(models.TextChoices):
    MDM = "mdm", "MDM"
    EDR = "edr", "EDR"
    ANTI_THEFT = "anti_theft", "Anti-theft"


SOURCE_KINDS = {
    Source.JAMF: SourceKind.MDM,
    Source.SENTINELONE: SourceKind.EDR,
    Source.CROWDSTRIKE: SourceKind.EDR,
    Source.DRIVESTRIKE: SourceKind.ANTI_THEFT,
}


class Device(ChangeLoggedModel):
    """One device per normalized serial number, whatever the feeds call it."""

    serial = models.CharField(
        max_length=100, unique=True, help_text="Normalized: upper case, no spaces or dashes."
    )
    hostname = models.CharField(max_length=255, blank=True)  # indexed in Meta: no LIKE index on PostgreSQL
    platform = models.CharField(max_length=10, choices=Platform.choices, default=Platform.OTHER)
    os_version = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=200, blank=True)
    owner = models.ForeignKey(
        Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="devices"
    )
    owner_match = models.CharField(
        max_length=20, blank=True, help_text="How the owner was found: email, username or hostname."
    )
    disk_encrypted = models.BooleanField(null=True, blank=True)
    # Not indexed: every sync moves every device's last seen, and sorting by it is an occasional page sort.
    last_seen_at = models.DateTimeField(null=True, blank=True, help_text="Newest of every feed.")
    # Derived by the checks: whether the device passes every check, and which fail (for filters and KPIs).
    is_active = models.BooleanField(default=False, help_text="Seen by any feed within 30 days.")
    passing = models.BooleanField(null=True, blank=True)
    failing_checks = models.JSONField(default=list, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    audit_exclude = ("created", "last_updated", "checked_at", "last_seen_at")

    class Meta:
        ordering = ["hostname", "serial"]
        indexes = [
            models.Index(fields=["platform", "is_active"], name="endpoints_device_platform_idx"),
            models.Index(fields=["hostname"], name="endpoints_device_hostname_idx"),
            # The failing devices in the lists' order: a partial index, written only for the few that fail.
            models.Index(
                fields=["hostname", "serial"],
                condition=models.Q(passing=False),
                name="endpoints_device_failing_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.hostname or self.serial

    def get_absolute_url(self) -> str:
        return reverse("endpoints:device", args=[self.pk])


class SourceRecord(models.Model):
    """A feed's last record of a device, as the vendor sent it, with the fields Gatehouse reads from it."""

    # No index of its own: the (device, source) unique constraint's index serves lookups by device.
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="records", db_index=False)
    source = models.CharField(max_length=15, choices=Source.choices)
    external_id = models.CharField(max_length=200, blank=True)
    # Its device's serial (one device per normalized serial): looked up through the device, not indexed here.
    serial = models.CharField(max_length=100)
    hostname = models.CharField(max_length=255, blank=True)
    owner_email = models.CharField(max_length=254, blank=True)
    owner_username = models.CharField(max_length=150, blank=True)
    platform = models.CharField(max_length=10, choices=Platform.choices, default=Platform.OTHER)
    os_version = models.CharField(max_length=50, blank=True)
    disk_encrypted = models.BooleanField(null=True, blank=True)
    # EDR health as the vendor states it: infected, decommissioned, agent up to date.
    infected = models.BooleanField(null=True, blank=True)
    decommissioned = models.BooleanField(null=True, blank=True)
    agent_up_to_date = models.BooleanField(null=True, blank=True)
    agent_version = models.CharField(max_length=50, blank=True)
    model_name = models.CharField(
        max_length=200, blank=True, help_text="The hardware model the record names (see feeds.base.model_of)."
    )
    last_seen_at = models.DateTimeField(null=True, blank=True)
    imported_at = models.DateTimeField()
    content_hash = models.CharField(
        max_length=64, help_text="Of the raw record: an unchanged re-import is a no-op."
    )
    raw = models.JSONField(default=dict)

    class Meta:
        ordering = ["source"]
        constraints = [
            models.UniqueConstraint(fields=["device", "source"], name="endpoints_record_one_per_source")
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} record of {self.serial}"


class FeedImport(models.Model):
    """One run of a feed (a file or an API sync): what it read and changed. Shown as the job status."""

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    source = models.CharField(max_length=15, choices=Source.choices)
    origin = models.CharField(max_length=300, help_text="The file name, or the API's base URL.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.RUNNING)
    records = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_source_display()} import {self.started_at:%Y-%m-%d %H:%M}"


class OsRelease(ChangeLoggedModel):
    """The OS release catalog: a version of a platform's line and the day it came out."""

    platform = models.CharField(max_length=10, choices=Platform.choices)
    line = models.CharField(max_length=50, help_text="e.g. macOS 15, Windows 11 24H2, Ubuntu 24.04.")
    version = models.CharField(max_length=50)
    released_on = models.DateField()

    class Meta:
        ordering = ["platform", "line", "-released_on"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "version"], name="endpoints_osrelease_unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} {self.version}"

    def get_absolute_url(self) -> str:
        return reverse("endpoints:os_release_edit", args=[self.pk])


class PlatformPolicy(ChangeLoggedModel):
    """What a platform must have: required agents, freshness, minimum OS version, patch window."""

    platform = models.CharField(max_length=10, choices=Platform.choices, unique=True)
    required_sources = models.JSONField(
        default=list, help_text='Feeds that must report the device, e.g. ["jamf", "sentinelone"].'
    )
    max_agent_age_days = models.PositiveSmallIntegerField(default=7)
    minimum_os_version = models.CharField(max_length=50, blank=True)
    patch_window_days = models.PositiveSmallIntegerField(default=30)
    require_disk_encryption = models.BooleanField(default=True)

    class Meta:
        ordering = ["platform"]
        verbose_name_plural = "platform policies"

    def __str__(self) -> str:
        return f"{self.get_platform_display()} policy"

    def get_absolute_url(self) -> str:
        return reverse("endpoints:policy_list")


class CheckResult(models.Model):
    """Pass or fail per device and check, with the reason in words. Rewritten by each check run."""

    class Check(models.TextChoices):
        AGENTS = "agents", "Required agents present and recent"
        EDR_HEALTH = "edr_health", "EDR healthy"
        DISK_ENCRYPTION = "disk_encryption", "Disk encryption on"
        OS = "os", "OS supported and patched"

    # No index of its own: the (device, name) unique constraint's index serves lookups by device. No database
    # constraint either: results are derived, rewritten by every check run and deleted with their device by the
    # ORM's cascade, and checking 400,000 of them at an import's commit cost PostgreSQL 2 s (decision 0008).
    device = models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name="checks", db_index=False, db_constraint=False
    )
    name = models.CharField(max_length=20, choices=Check.choices)
    passed = models.BooleanField()
    reason = models.CharField(max_length=300)
    checked_at = models.DateTimeField()

    class Meta:
        ordering = ["device", "name"]
        constraints = [models.UniqueConstraint(fields=["device", "name"], name="endpoints_check_unique")]
        # Only the failing results: what the "failing check" filter and remediation look up, a tenth of the rows.
        indexes = [
            models.Index(
                fields=["name"], condition=models.Q(passed=False), name="endpoints_check_failing_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.device}: {self.name} {'pass' if self.passed else 'fail'}"


class DeviceException(ChangeLoggedModel):
    """Takes a device out of the KPIs until it expires (a lab machine, a loaner), with who decided why."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="exceptions")
    reason = models.TextField()
    expires_on = models.DateField()
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        ordering = ["-expires_on"]

    def __str__(self) -> str:
        return f"Exception for {self.device} until {self.expires_on}"


class KpiSnapshot(models.Model):
    """One day's KPI figures for one slice (company, department, manager, platform). Dashboards read these."""

    class Dimension(models.TextChoices):
        COMPANY = "company", "Company"
        DEPARTMENT = "department", "Department"
        MANAGER = "manager", "Manager"
        PLATFORM = "platform", "Platform"

    day = models.DateField()
    dimension = models.CharField(max_length=12, choices=Dimension.choices)
    key = models.CharField(max_length=200, blank=True, help_text="The department, manager email or platform.")
    active_devices = models.PositiveIntegerField()
    security_tools_passing = models.PositiveIntegerField()
    patch_passing = models.PositiveIntegerField()

    class Meta:
        ordering = ["day", "dimension", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "dimension", "key"], name="endpoints_snapshot_unique_slice"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.dimension}:{self.key}"


class ReleaseAdoption(models.Model):
    """One day's adoption of one recent OS release: of the counted devices on its line, how many run it or a
    newer release. Written with the day's KPI snapshot; "patched within N days of release" reads the row of the
    day N days after the release."""

    day = models.DateField()
    release = models.ForeignKey(OsRelease, on_delete=models.CASCADE, related_name="adoption")
    devices_on_line = models.PositiveIntegerField()
    devices_updated = models.PositiveIntegerField()

    class Meta:
        ordering = ["day", "release"]
        constraints = [
            models.UniqueConstraint(fields=["release", "day"], name="endpoints_adoption_unique_day")
        ]

    def __str__(self) -> str:
        return f"{self.day} adoption of {self.release_id}"


class Remediation(models.Model):
    """Part C: the desk request a failing check opened for a device's owner (one open per device and check).
    Bookkeeping: the desk request itself is audited; resolved_at is set when a later check run shows the check
    passing (or the device no longer counted)."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="remediations")
    check_name = models.CharField(max_length=20, choices=CheckResult.Check.choices)
    request = models.ForeignKey(
        "desk.Request", on_delete=models.CASCADE, related_name="endpoint_remediations"
    )
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["device", "check_name"],
                condition=models.Q(resolved_at__isnull=True),
                name="endpoints_remediation_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.device}: {self.check_name} remediation"
