"""The device checks: agents, EDR health, disk encryption, OS version against the catalog; version arithmetic."""

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatehouse.endpoints.checks import (
    Catalog,
    Release,
    compare_versions,
    days_ago,
    days_behind,
    parse_version,
    run_checks,
    windows_version,
)
from gatehouse.endpoints.defaults import CATALOG_FILE, read_catalog
from gatehouse.endpoints.models import CheckResult, Device, OsRelease, PlatformPolicy
from gatehouse.endpoints.tests.factories import DeviceFactory, SourceRecordFactory

NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)
TODAY = NOW.date()

versions = st.lists(st.integers(min_value=0, max_value=99999), min_size=1, max_size=5)


def text(parts):
    return ".".join(str(p) for p in parts)


# --- versions and days -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("15.1", "15.1.0", 0),
        ("15.10", "15.9", 1),
        ("14.7.8", "15.0", -1),
        ("macOS 14.4.1 (23E224)", "14.4", 1),
        ("10.0.22631.4460", "10.0.26100.1742", -1),
        ("", "1", -1),
    ],
)
def test_compare_versions(a, b, expected):
    assert compare_versions(a, b) == expected


@given(versions, versions)
def test_compare_is_antisymmetric_and_matches_padded_tuples(a, b):
    width = max(len(a), len(b))
    pa, pb = tuple(a) + (0,) * (width - len(a)), tuple(b) + (0,) * (width - len(b))
    assert compare_versions(text(a), text(b)) == (pa > pb) - (pa < pb)
    assert compare_versions(text(a), text(b)) == -compare_versions(text(b), text(a))


@given(versions, st.integers(min_value=0, max_value=3))
def test_trailing_zeros_do_not_matter(parts, zeros):
    assert compare_versions(text(parts), text(parts + [0] * zeros)) == 0


@given(versions, versions, versions)
def test_compare_is_transitive(a, b, c):
    if compare_versions(text(a), text(b)) <= 0 and compare_versions(text(b), text(c)) <= 0:
        assert compare_versions(text(a), text(c)) <= 0


@given(st.text(max_size=30))
def test_parse_version_never_raises(value):
    assert all(isinstance(p, int) for p in parse_version(value))


def test_windows_build_gets_its_prefix():
    assert windows_version("22631.4460") == "10.0.22631.4460"
    assert windows_version("10.0.22631.4460") == "10.0.22631.4460"


releases_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=30), st.dates(datetime.date(2020, 1, 1), datetime.date(2027, 1, 1))
    ),
    min_size=1,
    max_size=12,
    unique_by=lambda r: r[0],
)


@given(
    releases_strategy,
    st.integers(min_value=0, max_value=30),
    st.dates(datetime.date(2020, 1, 1), datetime.date(2028, 1, 1)),
)
def test_days_behind(releases, minor, today):
    catalog = [Release("L", f"15.{m}", (15, m) if m else (15,), day) for m, day in releases]
    behind = days_behind(f"15.{minor}", catalog, today)
    newer = [day for m, day in releases if m > minor]
    assert behind >= 0
    if not newer:
        assert behind == 0
    else:
        # Out of date since the first newer release came out; never more behind than that.
        assert behind == max(0, (today - min(newer)).days)
        # Each day that passes adds one day behind (once a newer release is out).
        if min(newer) <= today:
            assert days_behind(f"15.{minor}", catalog, today + datetime.timedelta(days=1)) == behind + 1
    # Upgrading never makes a device more behind.
    assert days_behind(f"15.{minor + 1}", catalog, today) <= behind


@given(
    st.datetimes(
        datetime.datetime(2020, 1, 1), datetime.datetime(2030, 1, 1), timezones=st.just(datetime.UTC)
    ),
    st.integers(min_value=0, max_value=10_000_000),
)
def test_days_ago(then, seconds):
    now = then + datetime.timedelta(seconds=seconds)
    assert days_ago(then, now) == seconds // 86400
    assert days_ago(now, then) == 0


def test_the_shipped_catalog_reads_and_is_loaded():
    with CATALOG_FILE.open(newline="") as handle:
        rows = read_catalog(handle)
    assert {r["platform"] for r in rows} == {"macos", "windows", "linux"}
    assert {
        "macOS 13",
        "macOS 14",
        "macOS 15",
        "Windows 10 22H2",
        "Windows 11 24H2",
        "Ubuntu 22.04",
        "Ubuntu 24.04",
    } <= {r["line"] for r in rows}


@pytest.mark.django_db
def test_catalog_and_policies_are_seeded_after_migrate():
    assert OsRelease.objects.count() > 100
    assert set(PlatformPolicy.objects.values_list("platform", flat=True)) == {"macos", "windows", "linux"}


def test_catalog_lines():
    catalog = Catalog(
        [
            OsRelease(
                platform="windows", line="Windows 11 23H2", version="10.0.22631.4460", released_on=TODAY
            ),
            OsRelease(
                platform="windows", line="Windows 11 24H2", version="10.0.26100.2314", released_on=TODAY
            ),
            OsRelease(
                platform="windows", line="Windows 10 22H2", version="10.0.19045.5131", released_on=TODAY
            ),
        ]
    )
    assert catalog.line_of("windows", "10.0.22631.3000") == "Windows 11 23H2"
    assert catalog.line_of("windows", "10.0.19045.1") == "Windows 10 22H2"
    assert catalog.line_of("macos", "15.1") is None


# --- the checks on devices -----------------------------------------------------------------------------------------


def ago(n):
    return NOW - datetime.timedelta(days=n)


@pytest.fixture
def catalog(db):
    OsRelease.objects.all().delete()
    for version, day in [("15.0", "2026-09-01"), ("15.1", "2026-10-01"), ("15.2", "2026-11-20")]:
        OsRelease.objects.create(platform="macos", line="macOS 15", version=version, released_on=day)


def mac(os_version="15.2", **fields):
    device = DeviceFactory(platform="macos", os_version=os_version, last_seen_at=ago(1), **fields)
    SourceRecordFactory(device=device, source="jamf", disk_encrypted=True, last_seen_at=ago(1))
    SourceRecordFactory(device=device, source="sentinelone", last_seen_at=ago(2), agent_up_to_date=True)
    return device


def results(device):
    return {r.name: (r.passed, r.reason) for r in CheckResult.objects.filter(device=device)}


def test_a_healthy_mac_passes_everything(catalog):
    device = mac()
    counts = run_checks([device.pk], now=NOW)
    device.refresh_from_db()
    assert device.passing is True and device.failing_checks == [] and device.is_active
    assert all(passed for passed, _ in results(device).values())
    assert len(results(device)) == 4
    assert counts["passing"] == 1


def test_stale_edr_fails_with_the_reason_in_words(catalog):
    device = mac()
    device.records.filter(source="sentinelone").update(last_seen_at=ago(12))
    run_checks([device.pk], now=NOW)
    device.refresh_from_db()
    assert device.passing is False and device.failing_checks == ["agents"]
    assert results(device)["agents"] == (False, "SentinelOne last seen 12 days ago")


def test_missing_anti_theft_on_linux(db):
    device = DeviceFactory(platform="linux", os_version="24.04.3", last_seen_at=ago(1))
    SourceRecordFactory(device=device, source="crowdstrike", last_seen_at=ago(1))
    run_checks([device.pk], now=NOW)
    passed, reason = results(device)["agents"]
    assert not passed and reason == "No DriveStrike record"
    assert results(device)["disk_encryption"][0] is False  # nobody reports it


def test_edr_health(catalog):
    device = mac()
    device.records.filter(source="sentinelone").update(
        infected=True, agent_up_to_date=False, agent_version="23.1"
    )
    run_checks([device.pk], now=NOW)
    passed, reason = results(device)["edr_health"]
    assert not passed
    assert reason == "SentinelOne reports the device infected; SentinelOne agent 23.1 out of date"
    # A decommissioned old agent does not fail a device whose current EDR is healthy.
    device.records.filter(source="sentinelone").update(
        last_seen_at=ago(60), infected=False, decommissioned=True
    )
    SourceRecordFactory(device=device, source="crowdstrike", last_seen_at=ago(1))
    run_checks([device.pk], now=NOW)
    assert results(device)["edr_health"] == (True, "CrowdStrike Falcon healthy")


def test_disk_encryption_off(catalog):
    device = mac()
    device.records.filter(source="jamf").update(disk_encrypted=False)
    run_checks([device.pk], now=NOW)
    assert results(device)["disk_encryption"] == (False, "Disk encryption off (per Jamf Pro)")


@pytest.mark.parametrize(
    "version, passed, words",
    [
        ("15.2", True, "is the newest release of macOS 15"),
        ("15.1", True, "is 10 days behind macOS 15"),  # 15.2 came out 10 days ago
        ("15.0", False, "is 60 days behind macOS 15"),  # 15.1 has been out since 1 October
        ("13.6", False, "is below the minimum 14.0"),
        ("", False, "No feed reports the OS version"),
    ],
)
def test_os_check(catalog, version, passed, words):
    device = mac(os_version=version)
    run_checks([device.pk], now=NOW)
    ok, reason = results(device)["os"]
    assert ok is passed and words in reason


def test_results_are_rewritten_and_transitions_counted(catalog):
    device = mac(os_version="15.0")
    first = run_checks([device.pk], now=NOW)
    assert first["newly_failing"] == 1 and first["failing_os"] == 1
    Device.objects.filter(pk=device.pk).update(os_version="15.2")
    second = run_checks(None, now=NOW)
    assert second["newly_passing"] == 1
    assert CheckResult.objects.filter(device=device).count() == 4
    assert results(device)["os"][0] is True


def test_device_without_a_policy_is_not_checked(db):
    device = DeviceFactory(platform="other", passing=False, failing_checks=["os"])
    CheckResult.objects.create(device=device, name="os", passed=False, reason="x", checked_at=NOW)
    counts = run_checks([device.pk], now=NOW)
    device.refresh_from_db()
    assert device.passing is None and device.failing_checks == [] and counts["not_checked"] == 1
    assert not CheckResult.objects.filter(device=device).exists()


def test_query_count_does_not_grow_with_devices(catalog, django_assert_max_num_queries):
    ids = [mac().pk for _ in range(30)]
    with django_assert_max_num_queries(12):
        run_checks(ids, now=NOW)
