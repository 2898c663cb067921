"""The device checks, per platform policy (see docs/endpoints.md, "Checks").

`run_checks(device_ids=None, *, now=None)` evaluates every check of the given devices (all when None) against
their platform's policy and the OS release catalog, writes one CheckResult per device and check in bulk (an
upsert per batch), and keeps Device.passing / failing_checks / is_active / checked_at current. A device of a
platform with no policy gets no results and `passing = None` (not checked). Each run records one audit event
with its counts.

The checks:
- agents: every required feed (a source, or a kind such as ``edr`` meaning any EDR) has a record of the device
  seen within the policy's max_agent_age_days (7);
- edr_health: the EDR records seen within that window (else the newest EDR record) are not infected, not
  decommissioned and up to date; unknown states (the feed does not say) count as healthy;
- disk_encryption: the newest record that reports encryption says it is on (when the policy requires it);
- os: the OS version is at or above the policy's minimum, and not more than patch_window_days (30) behind:
  `days_behind` counts the days since the first release of the device's line newer than its version came out,
  that is, how long the device has been out of date (zero when it runs the newest release).
"""

from __future__ import annotations

import datetime
import functools
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from gatehouse.audit.services import AuditAction, EventDraft, record_events
from gatehouse.core.bulk import JsonText, bulk_set, cycle_collection_paused, insert_rows
from gatehouse.core.jobs import job
from gatehouse.endpoints.models import (
    SOURCE_KINDS,
    CheckResult,
    Device,
    OsRelease,
    PlatformPolicy,
    Source,
    SourceKind,
    SourceRecord,
)
from gatehouse.endpoints.reconcile import ACTIVE_DAYS, DEVICE_INSERTED, WRITTEN, Batch, load_batches

Check = CheckResult.Check
_VERSION = re.compile(r"\d+(?:\.\d+)*")

# ---------------------------------------------------------------------------------------------------------------
# Versions and days


def parse_version(text: str | None) -> tuple[int, ...]:
    """The first dotted number in the text, trailing zeros dropped: "macOS 14.4.0 (23E214)" -> (14, 4)."""
    match = _VERSION.search(str(text or ""))
    if not match:
        return ()
    parts = [int(p) for p in match.group(0).split(".")[:8]]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def windows_version(text: str | None) -> str:
    """A bare Windows build ("22631.4460") as the full version ("10.0.22631.4460"); others unchanged."""
    version = str(text or "").strip()
    match = _VERSION.search(version)
    if match and int(match.group(0).split(".")[0]) >= 10000:
        return f"10.0.{match.group(0)}"
    return version


def compare_versions(a: str | None, b: str | None) -> int:
    """-1, 0 or 1 as version a is older than, the same as, or newer than b ("15" == "15.0")."""
    pa, pb = parse_version(a), parse_version(b)
    return (pa > pb) - (pa < pb)


def _common_prefix(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass(frozen=True)
class Release:
    line: str
    version: str
    parsed: tuple[int, ...]
    released_on: datetime.date


class Catalog:
    """The OS release catalog, by platform, read once per run."""

    def __init__(self, releases: Iterable[OsRelease] | None = None):
        if releases is None:
            releases = OsRelease.objects.all()
        self.lines: dict[str, dict[str, list[Release]]] = defaultdict(lambda: defaultdict(list))
        self._line_cache: dict[tuple[str, str], str | None] = {}
        for r in releases:
            self.lines[r.platform][r.line].append(
                Release(r.line, r.version, parse_version(r.version), r.released_on)
            )
        for lines in self.lines.values():
            for releases_ in lines.values():
                releases_.sort(key=lambda r: (r.parsed, r.released_on))

    def line_of(self, platform: str, version: str) -> str | None:
        """The line whose releases share the longest version prefix with the version (at least the first
        number); a tie goes to the line with the newest release."""
        key = (platform, version)
        if key not in self._line_cache:
            self._line_cache[key] = self._line_of(platform, version)
        return self._line_cache[key]

    def _line_of(self, platform: str, version: str) -> str | None:
        parsed = parse_version(version)
        best, best_key = None, (0, datetime.date.min)
        for line, releases in self.lines.get(platform, {}).items():
            prefix = max(_common_prefix(parsed, r.parsed) for r in releases)
            key = (prefix, max(r.released_on for r in releases))
            if prefix >= 1 and key > best_key:
                best, best_key = line, key
        return best

    def releases(self, platform: str, line: str) -> list[Release]:
        return self.lines.get(platform, {}).get(line, [])


def days_behind(version: str, releases: list[Release], today: datetime.date) -> int:
    """Days since the first release newer than the version came out (0 when none is newer, or it is still
    to come). The releases are those of the version's line."""
    parsed = parse_version(version)
    newer = [r.released_on for r in releases if r.parsed > parsed]
    if not newer:
        return 0
    return max(0, (today - min(newer)).days)


def days_ago(then: datetime.datetime, now: datetime.datetime) -> int:
    """Whole days between two instants (never negative)."""
    return max(0, (now - then) // datetime.timedelta(days=1))


def ago(then: datetime.datetime, now: datetime.datetime) -> str:
    days = days_ago(then, now)
    if days == 0:
        return "today"
    return "1 day ago" if days == 1 else f"{days} days ago"


# ---------------------------------------------------------------------------------------------------------------
# The checks of one device

_LABELS = dict(Source.choices)
_KINDS = {SourceKind.MDM: "MDM", SourceKind.EDR: "EDR", SourceKind.ANTI_THEFT: "anti-theft"}


def requirement_sources(requirement: str) -> list[str]:
    """The sources satisfying one required_sources entry: a source, a kind, or alternatives joined by "|"."""
    return list(_requirement_sources(str(requirement)))


@functools.cache
def _requirement_sources(requirement: str) -> tuple[str, ...]:
    sources: list[str] = []
    for token in str(requirement).split("|"):
        token = token.strip().lower()
        if token in _LABELS:
            sources.append(token)
        else:
            sources += [s for s, kind in SOURCE_KINDS.items() if kind == token]
    return tuple(sources)


def unknown_requirements(entries: Iterable[str]) -> list[str]:
    """The required_sources entries that name no feed or kind (each alternative of an "a|b" must)."""
    return [
        e
        for e in entries
        if not requirement_sources(e) or any(not requirement_sources(t) for t in str(e).split("|"))
    ]


def describe_requirement(requirement: str) -> str:
    token = str(requirement).strip().lower()
    if token in _KINDS:
        names = " or ".join(_LABELS[s] for s in requirement_sources(token))
        return f"{_KINDS[token]} ({names})"
    return " or ".join(_LABELS[s] for s in requirement_sources(requirement)) or requirement


@dataclass
class Outcome:
    name: str
    passed: bool
    reason: str


def _newest(records: list[SourceRecord]) -> SourceRecord | None:
    seen = [r for r in records if r.last_seen_at]
    return max(seen, key=lambda r: r.last_seen_at) if seen else (records[0] if records else None)


def check_agents(records, policy: PlatformPolicy, now) -> Outcome:
    by_source = {r.source: r for r in records}
    problems, fine = [], []
    for requirement in policy.required_sources:
        candidates = [by_source[s] for s in _requirement_sources(str(requirement)) if s in by_source]
        if not candidates:
            problems.append(f"No {describe_requirement(requirement)} record")
            continue
        record = _newest(candidates)
        label = _LABELS.get(record.source, record.source)
        if record.last_seen_at is None:
            problems.append(f"{label} has never reported the device")
        elif now - record.last_seen_at > datetime.timedelta(days=policy.max_agent_age_days):
            problems.append(f"{label} last seen {ago(record.last_seen_at, now)}")
        else:
            fine.append(f"{label} seen {ago(record.last_seen_at, now)}")
    if problems:
        return Outcome(Check.AGENTS, False, "; ".join(problems))
    return Outcome(Check.AGENTS, True, "; ".join(fine) or "No agents required")


def _edr_problems(record: SourceRecord) -> list[str]:
    label = _LABELS.get(record.source, record.source)
    problems = []
    if record.infected:
        problems.append(f"{label} reports the device infected")
    if record.decommissioned:
        problems.append(f"{label} agent decommissioned")
    if record.agent_up_to_date is False:
        version = f" {record.agent_version}" if record.agent_version else ""
        problems.append(f"{label} agent{version} out of date")
    return problems


def check_edr(records, policy: PlatformPolicy, now) -> Outcome:
    edr = [r for r in records if SOURCE_KINDS.get(r.source) == SourceKind.EDR]
    if not edr:
        return Outcome(Check.EDR_HEALTH, False, "No EDR record")
    window = datetime.timedelta(days=policy.max_agent_age_days)
    current = [r for r in edr if r.last_seen_at and now - r.last_seen_at <= window] or [_newest(edr)]
    problems = [(r, _edr_problems(r)) for r in current]
    infected = any(r.infected for r in current)
    healthy = [r for r, found in problems if not found]
    if infected or not healthy:
        return Outcome(Check.EDR_HEALTH, False, "; ".join(p for _, found in problems for p in found))
    names = " and ".join(_LABELS.get(r.source, r.source) for r in healthy)
    return Outcome(Check.EDR_HEALTH, True, f"{names} healthy")


def check_disk(records, policy: PlatformPolicy, platform_label: str) -> Outcome:
    if not policy.require_disk_encryption:
        return Outcome(Check.DISK_ENCRYPTION, True, f"Not required for {platform_label}")
    reporting = [r for r in records if r.disk_encrypted is not None]
    if not reporting:
        return Outcome(Check.DISK_ENCRYPTION, False, "No feed reports disk encryption")
    record = _newest(reporting)
    label = _LABELS.get(record.source, record.source)
    if record.disk_encrypted:
        return Outcome(Check.DISK_ENCRYPTION, True, f"Disk encrypted (per {label})")
    return Outcome(Check.DISK_ENCRYPTION, False, f"Disk encryption off (per {label})")


def check_os(
    device: Device, policy: PlatformPolicy, catalog: Catalog, today: datetime.date, label: str
) -> Outcome:
    version = device.os_version
    if device.platform == "windows":
        version = windows_version(version)
    if not parse_version(version):
        return Outcome(Check.OS, False, "No feed reports the OS version")
    shown = f"{label} {version}"
    if policy.minimum_os_version and compare_versions(version, policy.minimum_os_version) < 0:
        return Outcome(Check.OS, False, f"{shown} is below the minimum {policy.minimum_os_version}")
    line = catalog.line_of(device.platform, version)
    if line is None:
        return Outcome(
            Check.OS, True, f"{shown}: no release of its line in the catalog; at or above the minimum"
        )
    releases = catalog.releases(device.platform, line)
    newest = max(releases, key=lambda r: (r.parsed, r.released_on))
    behind = days_behind(version, releases, today)
    if compare_versions(version, newest.version) >= 0:
        return Outcome(Check.OS, True, f"{shown} is the newest release of {line}")
    if behind > policy.patch_window_days:
        return Outcome(
            Check.OS,
            False,
            f"{shown} is {behind} days behind {line} (newest {newest.version}, released {newest.released_on:%Y-%m-%d}; "
            f"allowed {policy.patch_window_days})",
        )
    return Outcome(
        Check.OS,
        True,
        f"{shown} is {behind} days behind {line} (newest {newest.version}); within {policy.patch_window_days}",
    )


def evaluate(device: Device, records, policy: PlatformPolicy, catalog: Catalog, now) -> list[Outcome]:
    label = device.get_platform_display()
    return [
        check_agents(records, policy, now),
        check_edr(records, policy, now),
        check_disk(records, policy, label),
        check_os(device, policy, catalog, timezone.localdate(now), label),
    ]


# ---------------------------------------------------------------------------------------------------------------
# The run


@cycle_collection_paused()
def run_checks(
    device_ids: Iterable[int] | None = None,
    *,
    now: datetime.datetime | None = None,
    batches: Iterable[Batch] | None = None,
) -> dict:
    """Check the given devices (all when None). Returns counts: devices, passing, failing, not_checked,
    newly_failing, newly_passing, and failures per check.

    `batches` gives the devices and records already loaded, in place of loading `device_ids`: an import passes
    its reconciliation's batches, so each batch is read once and checked as soon as it is reconciled."""
    now = now or timezone.now()
    policies = {p.platform: p for p in PlatformPolicy.objects.all()}
    catalog = Catalog()
    counts: Counter = Counter()
    active_since = now - datetime.timedelta(days=ACTIVE_DAYS)
    today = timezone.localdate(now)
    os_outcomes: dict[tuple[str, str], Outcome] = {}  # the OS check depends on the platform and version only
    failing_json: dict[tuple[str, ...], JsonText] = {}  # a few lists, written thousands of times
    for batch in load_batches(device_ids) if batches is None else batches:
        devices, records = batch.devices, batch.records
        results: list[tuple] = []
        unchecked: list[int] = []
        for device in devices:
            counts["devices"] += 1
            device.is_active = bool(device.last_seen_at and device.last_seen_at >= active_since)
            device.checked_at = now
            policy = policies.get(device.platform)
            was = device.passing
            if policy is None:
                device.passing, device.failing_checks = None, []
                unchecked.append(device.pk)
                counts["not_checked"] += 1
                continue
            mine = records.get(device.pk, [])
            label = device.get_platform_display()
            os_outcome = os_outcomes.get((device.platform, device.os_version))
            if os_outcome is None:
                os_outcome = os_outcomes[(device.platform, device.os_version)] = check_os(
                    device, policy, catalog, today, label
                )
            outcomes = [
                check_agents(mine, policy, now),
                check_edr(mine, policy, now),
                check_disk(mine, policy, label),
                os_outcome,
            ]
            failing = [o.name for o in outcomes if not o.passed]
            encoded = failing_json.get(tuple(failing))
            if encoded is None:
                encoded = failing_json[tuple(failing)] = JsonText(json.dumps(failing))
            device.passing, device.failing_checks = not failing, encoded
            counts["passing" if not failing else "failing"] += 1
            if was is not False and failing:
                counts["newly_failing"] += 1
            elif was is False and not failing:
                counts["newly_passing"] += 1
            for name in failing:
                counts[f"failing_{name}"] += 1
            results += [(device.pk, o.name, o.passed, o.reason[:300], now) for o in outcomes]
        columns = ["device", "name", "passed", "reason", "checked_at"]
        if not batch.stored:  # devices the import is creating: inserted whole, with their results
            # In the import's transaction, without a savepoint (which would wait for its write-behind).
            with transaction.atomic(savepoint=False):
                stamp = timezone.now()
                insert_rows(Device, DEVICE_INSERTED, [d.inserted(stamp) for d in devices])
                insert_rows(CheckResult, columns, results)
            continue
        with transaction.atomic():
            if unchecked:
                CheckResult.objects.filter(device_id__in=unchecked).delete()
            if batch.new:  # a new device's results are inserted: plain rows, no conflict to look for
                insert_rows(CheckResult, columns, [r for r in results if r[0] in batch.new])
                results = [r for r in results if r[0] not in batch.new]
            insert_rows(
                CheckResult,
                columns,
                results,
                conflict=["device", "name"],
                update=["passed", "reason", "checked_at"],
            )
            written = ["is_active", "passing", "failing_checks", "checked_at"]
            if batch.deferred:  # reconciled in this batch: their fields too, in the same write
                deferred = {d.pk for d in batch.deferred}
                both = written + [f for f in WRITTEN if f not in written]
                bulk_set(Device, [d for d in devices if d.pk in deferred], both)
                devices = [d for d in devices if d.pk not in deferred]
            bulk_set(Device, devices, written)
    summary = dict(sorted(counts.items()))
    if counts["devices"]:
        record_events(
            [
                EventDraft(
                    action=AuditAction.UPDATE,
                    object_type=CheckResult._meta.label_lower,
                    object_id="run",
                    object_repr=f"Device checks {now:%Y-%m-%d %H:%M}",
                    changes={"checks": [None, summary]},
                )
            ]
        )
    return summary


@job()
def recheck_later(platform: str | None = None) -> dict:
    """After a platform policy change commits: check that platform's devices again and bring their remediation
    requests up to date, so the pages show the new policy's verdicts without waiting for the nightly run."""
    from gatehouse.endpoints.remediation import remediate

    qs = Device.objects.all() if platform is None else Device.objects.filter(platform=platform)
    ids = list(qs.values_list("pk", flat=True))
    summary = run_checks(ids)
    result = remediate(ids)
    return {**summary, "remediation_opened": len(result.opened), "remediation_resolved": len(result.resolved)}
