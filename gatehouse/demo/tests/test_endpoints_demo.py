"""The demo company's endpoints (issue 5): about 250 devices through the real feeds, failures of every kind with
their reasons, remediation requests, 90 days of KPI history and release adoption; a second load writes nothing."""

import datetime
import itertools
import re
from collections import Counter

from gatehouse.audit.models import AuditEvent
from gatehouse.core.permissions import SYSTEM
from gatehouse.demo.access import pick_leaver
from gatehouse.demo.endpoints import HISTORY_DAYS, Versions, plan_fleet
from gatehouse.demo.services import load_demo
from gatehouse.desk.models import Request
from gatehouse.directory.models import Person
from gatehouse.endpoints import kpis, remediation, selectors
from gatehouse.endpoints.models import (
    CheckResult,
    Device,
    DeviceException,
    FeedImport,
    KpiSnapshot,
    OsRelease,
    ReleaseAdoption,
    Remediation,
    SourceRecord,
)
from gatehouse.users.models import User

Dimension = KpiSnapshot.Dimension


def _reasons(check: str, pattern: str) -> list[CheckResult]:
    return [
        c
        for c in CheckResult.objects.filter(name=check, passed=False, device__is_active=True).select_related(
            "device"
        )
        if re.search(pattern, c.reason)
    ]


def test_the_fleet_comes_through_the_feeds_with_owners_matched(demo):
    devices = Device.objects.all()
    assert (
        230 <= devices.count() <= 270 and demo.totals["devices"] == demo.created["devices"] == devices.count()
    )
    assert set(devices.values_list("platform", flat=True)) == {"macos", "linux"}
    # Every feed was imported through the real path, each run audited.
    runs = FeedImport.objects.filter(state=FeedImport.State.DONE)
    assert sorted(runs.values_list("source", flat=True)) == [
        "crowdstrike",
        "drivestrike",
        "jamf",
        "sentinelone",
    ]
    assert all(r.origin.startswith("demo: ") for r in runs)
    assert AuditEvent.objects.filter(object_type="endpoints.feedimport").count() == 4
    sources = Counter(SourceRecord.objects.values_list("source", flat=True))
    assert sources["jamf"] == devices.filter(platform="macos").count()
    assert sources["sentinelone"] > 150 and 5 <= sources["crowdstrike"] <= 30 and sources["drivestrike"] > 40
    # Most people have a Mac; engineers often a Linux workstation too.
    people = Person.objects.exclude(status="terminated").count()
    assert (
        devices.filter(platform="macos", owner__isnull=False).values("owner").distinct().count() >= people - 2
    )
    assert devices.filter(platform="linux", owner__department="Engineering").count() >= 20
    # Owners: by email mostly, by a DOMAIN\\user from SentinelOne, by hostname twice; two devices have no owner.
    matched = Counter(devices.values_list("owner_match", flat=True))
    assert (
        matched["email"] > 200 and matched["username"] >= 8 and matched["hostname"] == 2 and matched[""] == 2
    )
    by_username = SourceRecord.objects.filter(
        source="sentinelone", device__owner_match="username", device__platform="macos"
    )
    assert len(by_username) >= 8 and all(
        r.raw["lastLoggedInUserName"].startswith("GATEHOUSE\\") for r in by_username
    )
    no_owner = selectors.mismatches(User.objects.get(username="admin"), kind="no_owner")
    assert {m.device.hostname for m in no_owner} == {"loaner-mbp-07", "build-mac-mini-01"}
    # A Mac passed to a teammate: Jamf still names its first owner, SentinelOne the one who logs in.
    conflicts = selectors.mismatches(User.objects.get(username="admin"), kind="serial_conflict")
    assert len(conflicts) == 1 and conflicts[0].device.owner_match == "email"
    # The same directory and catalog give the same fleet.
    people = list(Person.objects.select_related("manager").order_by("email"))
    versions = Versions(kpis.today())
    first = plan_fleet(people, versions, leaver=pick_leaver())
    again = plan_fleet(people, versions, leaver=pick_leaver())
    assert [(p.spec, p.fault, p.seen) for p in first] == [(p.spec, p.fault, p.seen) for p in again]
    assert {p.spec.serial for p in first} == set(devices.values_list("serial", flat=True))


def test_each_failure_kind_is_there_with_its_reason(demo):
    stale = _reasons("agents", r"SentinelOne last seen (\d+) days ago")
    assert len(stale) >= 5
    assert all(9 <= int(re.search(r"last seen (\d+) days", c.reason).group(1)) <= 20 for c in stale)
    assert _reasons("agents", r"CrowdStrike Falcon last seen \d+ days ago")
    assert len(_reasons("edr_health", r"SentinelOne reports the device infected")) == 1
    assert len(_reasons("edr_health", r"agent [\d.]+ out of date")) >= 2
    no_drivestrike = _reasons("agents", r"No DriveStrike record")
    assert len(no_drivestrike) >= 4 and {c.device.platform for c in no_drivestrike} == {"linux"}
    missing = selectors.mismatches(User.objects.get(username="admin"), kind="missing_feed")
    assert {c.device for c in no_drivestrike} <= {m.device for m in missing}
    assert len(_reasons("disk_encryption", r"Disk encryption off \(per Jamf Pro\)")) >= 1
    assert len(_reasons("os", r"^macOS 13\.[\d.]+ is below the minimum 14\.0$")) == 1
    assert len(_reasons("os", r"^macOS 14\.[\d.]+ is \d+ days behind macOS 14")) >= 3
    assert len(_reasons("os", r"days behind macOS 26 \(newest 26\.")) >= 5
    assert len(_reasons("os", r"^Linux 24\.04\.\d is \d+ days behind Ubuntu 24\.04")) >= 2
    # The leaver the access demo offboards: their laptop still reports.
    leaver = pick_leaver()
    reporting = selectors.mismatches(User.objects.get(username="admin"), kind="leaver_reporting")
    assert [m.device.owner for m in reporting] == [leaver]
    assert reporting[0].device.is_active and reporting[0].device.last_seen_at.date() > leaver.end_date
    # Some devices have not reported for over 30 days.
    month_ago = reporting[0].device.last_seen_at - datetime.timedelta(days=31)
    inactive = Device.objects.filter(is_active=False)
    assert inactive.count() >= 4 and not inactive.filter(last_seen_at__gt=month_ago).exists()
    # The lab machine's exception, granted through the service (audited), in force for a while yet.
    exception = DeviceException.objects.get()
    assert exception.device.hostname == "sec-lab-01" and exception.device.passing is False
    assert exception.expires_on > kpis.today() and exception.granted_by.username == "security"
    assert AuditEvent.objects.filter(object_type="endpoints.deviceexception", action="create").count() == 1
    assert demo.totals["failing devices"] == Device.objects.filter(is_active=True, passing=False).count() > 20


def test_the_company_misses_the_target_while_most_departments_meet_it(demo):
    day, figures = kpis.current()
    assert day == kpis.today()
    company = next(f for f in figures if f.dimension == Dimension.COMPANY)
    assert 200 <= company.active_devices <= 260
    assert 88.0 <= company.security_tools < kpis.TARGET and 88.0 <= company.patch < kpis.TARGET
    departments = [f for f in figures if f.dimension == Dimension.DEPARTMENT and f.key]
    meeting = [f.key for f in departments if f.security_tools_met and f.patch_met]
    assert len(meeting) > len(departments) / 2 and {"Security", "IT"} <= set(meeting)
    assert {f.key for f in figures if f.dimension == Dimension.PLATFORM} == {"macos", "linux"}
    # The excepted lab machine is not counted.
    lab = DeviceException.objects.get().device
    assert company.active_devices == Device.objects.filter(is_active=True).exclude(pk=lab.pk).count()


def test_ninety_days_of_history_converge_on_today(demo):
    today = kpis.today()
    points = kpis.trend(today - datetime.timedelta(days=120), today)
    assert [d for d, _ in points] == [
        today - datetime.timedelta(days=n) for n in range(HISTORY_DAYS - 1, -1, -1)
    ]
    assert demo.totals["snapshot days"] == HISTORY_DAYS
    security = [f.security_tools for _, f in points]
    patch = [f.patch for _, f in points]
    assert security[0] < 89.0 and patch[0] < 85.0 and security[0] < security[-1] and patch[0] < patch[-1]
    assert len(set(security)) > 5 and len(set(patch)) > 10
    # Patch compliance dips some days after a release lands, then climbs back.
    assert any(b < a - 3 for a, b in itertools.pairwise(patch))
    snapshots = list(KpiSnapshot.objects.all())
    assert all(
        s.security_tools_passing <= s.active_devices and s.patch_passing <= s.active_devices
        for s in snapshots
    )
    # Every dimension adds up to the company, and the history's slices are today's.
    by_day: dict = {}
    for s in snapshots:
        by_day.setdefault(s.day, Counter())[s.dimension] += s.active_devices
    assert all(len(set(counts.values())) == 1 for counts in by_day.values())
    keys = {day: set() for day in by_day}
    for s in snapshots:
        keys[s.day].add((s.dimension, s.key))
    assert all(keys[day] <= keys[today] for day in keys)
    # One audit event for the back-fill, one for today's real snapshot.
    events = AuditEvent.objects.filter(object_type="endpoints.kpisnapshot")
    assert events.count() == 2
    backfill = events.exclude(object_id=today.isoformat()).get()
    assert backfill.changes["backfill"][1]["days"] == HISTORY_DAYS - 1


def test_demo_releases_and_their_adoption(demo):
    today = kpis.today()
    recent = OsRelease.objects.filter(released_on__gte=today - datetime.timedelta(days=180))
    assert {(r.platform, r.line) for r in recent} >= {
        ("macos", "macOS 26"),
        ("macos", "macOS 15"),
        ("linux", "Ubuntu 24.04"),
    }
    assert (
        AuditEvent.objects.filter(object_type="endpoints.osrelease", action="create").count()
        == recent.count()
    )
    assert ReleaseAdoption.objects.values("day").distinct().count() == HISTORY_DAYS
    day, adoption = kpis.release_adoption(30)
    assert day == today
    older = [
        a
        for a in adoption
        if (today - a.release.released_on).days >= 30 + 1
        and a.within_day >= today - datetime.timedelta(days=HISTORY_DAYS - 1)
    ]
    younger = [a for a in adoption if (today - a.release.released_on).days < 30]
    assert older and younger
    assert all(a.patched_within is not None and 0 < a.patched_within < 100 for a in older)
    assert all(a.within_pending and a.patched_within is None for a in younger)
    # Adoption climbs from nothing on the release day to today's figure.
    release = max(older, key=lambda a: a.release.released_on).release
    rows = list(ReleaseAdoption.objects.filter(release=release).order_by("day"))
    assert rows[0].day == release.released_on and rows[0].devices_updated == 0
    updated = [r.devices_updated for r in rows]
    assert updated == sorted(updated) and updated[-1] > 0.8 * rows[-1].devices_on_line


def test_failing_devices_have_their_remediation_requests(demo):
    counted = Device.objects.filter(is_active=True, passing=False, owner__isnull=False).exclude(
        exceptions__isnull=False
    )
    assert counted.count() > 20
    links = Remediation.objects.select_related("request", "device")
    for device in counted:
        mine = {link.check_name: link.request for link in links if link.device_id == device.pk}
        assert set(mine) == set(device.failing_checks), device
        for check, request in mine.items():
            assert (
                request.requester_id == device.owner_id
                and request.request_type.slug == "endpoint-remediation"
            )
            reason = CheckResult.objects.get(device=device, name=check).reason
            assert reason in request.description
    # Nothing for devices without an owner, excepted or inactive ones.
    assert not links.filter(device__owner__isnull=True).exists()
    assert not links.filter(device__exceptions__isnull=False).exists()
    assert not links.filter(device__is_active=False).exists()
    assert demo.totals["remediation requests"] == links.count()
    # The demo's team member has a failing Mac and its request.
    member = User.objects.get(username="member")
    assert Request.objects.filter(requester=member.person, request_type__slug="endpoint-remediation").exists()
    # Running remediation again files nothing: it is deduplicated per device and check.
    again = remediation.remediate()
    assert again.opened == [] and again.resolved == [] and Remediation.objects.count() == links.count()


def test_a_second_load_writes_nothing_for_endpoints(demo):
    def counts():
        return [
            m.objects.count()
            for m in (
                Device,
                SourceRecord,
                FeedImport,
                KpiSnapshot,
                ReleaseAdoption,
                Remediation,
                OsRelease,
                Request,
            )
        ] + [
            AuditEvent.objects.filter(object_type__startswith="endpoints.").count(),
            AuditEvent.objects.count(),
        ]

    before = counts()
    again = load_demo(actor=SYSTEM)
    assert counts() == before and again.audit_events == 0
    for kind in ("devices", "failing devices", "remediation requests", "snapshot days"):
        assert again.totals[kind] == demo.totals[kind] and again.created[kind] == 0
