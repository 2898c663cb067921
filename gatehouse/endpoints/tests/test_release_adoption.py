"""'Patched within N days of release': each recent release's adoption, snapshotted daily with the KPIs and read
back from the snapshot of the day N days after the release (selector, dashboard, API)."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from gatehouse.core.api.testing import ApiClient
from gatehouse.endpoints import kpis
from gatehouse.endpoints.models import Device, OsRelease, ReleaseAdoption
from gatehouse.endpoints.tests.factories import CheckedDeviceFactory, DeviceExceptionFactory

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


def days_ago(n):
    return TODAY - datetime.timedelta(days=n)


@pytest.fixture
def fleet():
    """A macOS 99 line with releases 100, 40 and 10 days ago, and a Windows line with one 20 days ago. Ten days
    ago six Macs ran 99.0 and three 99.1; today two run 99.0, five 99.1 and two 99.2."""
    releases = {
        v: OsRelease.objects.create(platform="macos", line="macOS 99", version=v, released_on=days_ago(age))
        for v, age in (("99.0", 100), ("99.1", 40), ("99.2", 10))
    }
    releases["win"] = OsRelease.objects.create(
        platform="windows", line="Windows 99", version="10.0.99000.5", released_on=days_ago(20)
    )
    macs = [CheckedDeviceFactory(platform="macos", os_version="99.0") for _ in range(6)]
    macs += [CheckedDeviceFactory(platform="macos", os_version="99.1") for _ in range(3)]
    # Not counted: inactive, or under an exception.
    CheckedDeviceFactory(platform="macos", os_version="99.0", is_active=False)
    DeviceExceptionFactory(device=CheckedDeviceFactory(platform="macos", os_version="99.0"))
    # Windows reports a bare build; it is the line's release.
    CheckedDeviceFactory(platform="windows", os_version="99000.5")
    CheckedDeviceFactory(platform="windows", os_version="10.0.99000.1")
    kpis.take_snapshot(days_ago(10))
    for device in macs[:4]:
        device.os_version = "99.1"
        device.save()
    for device in macs[6:8]:
        device.os_version = "99.2"
        device.save()
    kpis.take_snapshot(TODAY)
    return releases


def test_adoption_rows_count_the_devices_on_each_line(fleet):
    rows = {(r.day, r.release.version): r for r in ReleaseAdoption.objects.select_related("release")}
    then = rows[(days_ago(10), "99.1")]
    assert (then.devices_on_line, then.devices_updated) == (9, 3)
    assert (days_ago(10), "99.2") in rows  # out that very day
    now = rows[(TODAY, "99.1")]
    assert (now.devices_on_line, now.devices_updated) == (9, 7)
    assert (rows[(TODAY, "99.0")].devices_updated, rows[(TODAY, "99.2")].devices_updated) == (9, 2)
    win = rows[(TODAY, "10.0.99000.5")]
    assert (win.devices_on_line, win.devices_updated) == (2, 1)
    # Shipped catalog releases older than TRACK_DAYS are not tracked.
    assert all(r.release.released_on >= days_ago(10 + kpis.TRACK_DAYS) for r in rows.values())


def test_patched_within_reads_the_snapshot_n_days_after_the_release(fleet, django_assert_num_queries):
    with django_assert_num_queries(3):
        day, adoption = kpis.release_adoption(30)
    assert day == TODAY
    by_version = {a.release.version: a for a in adoption}
    assert [a.release.version for a in adoption][:2] == ["99.2", "10.0.99000.5"]  # newest first
    assert by_version["99.1"].patched_within == 33.3 and by_version["99.1"].patched_within_met is False
    assert by_version["99.1"].updated == 77.8
    assert by_version["99.2"].within_pending and by_version["99.2"].patched_within is None
    # 99.0 + 30 days is before the first snapshot: unknown, not pending.
    assert not by_version["99.0"].within_pending and by_version["99.0"].patched_within is None
    assert kpis.release_adoption(40)[1][-1].release.version == "99.0"
    assert {a.release.version: a.patched_within for a in kpis.release_adoption(40)[1]}["99.1"] == 77.8


def test_without_snapshots():
    assert kpis.release_adoption() == (None, [])


def test_snapshot_again_replaces_the_days_rows(fleet):
    before = ReleaseAdoption.objects.filter(day=TODAY).count()
    Device.objects.filter(os_version="99.0").update(os_version="99.2")
    kpis.take_snapshot(TODAY)
    assert ReleaseAdoption.objects.filter(day=TODAY).count() == before
    assert ReleaseAdoption.objects.get(day=TODAY, release=fleet["99.2"]).devices_updated == 4


def test_dashboard_section(fleet, client_for, make_user):
    client = client_for(make_user("security_engineer"))
    body = client.get(reverse("endpoints:kpis")).content.decode()
    assert 'data-testid="release-adoption"' in body and "Patched within 30 days of release" in body
    assert "33.3%" in body and "(3 of 9)" in body
    assert f"on {(days_ago(10) + datetime.timedelta(days=30)):%Y-%m-%d}" in body  # 99.2: still to come
    body = client.get(reverse("endpoints:kpis"), {"within": "7"}).content.decode()
    assert "Patched within 7 days of release" in body
    bad = client.get(reverse("endpoints:kpis"), {"within": "999"}).content.decode()
    assert "within: Choose one of" in bad and "Patched within 30 days" in bad


def test_api(fleet, token_for, make_user):
    api = ApiClient(token_for(make_user("auditor")))
    body = api.get("/endpoints/kpis/releases", within=30).json()
    assert body["day"] == TODAY.isoformat() and body["within"] == 30 and body["target"] == 95.0
    row = next(r for r in body["releases"] if r["version"] == "99.1")
    assert row["patched_within"] == 33.3 and row["updated"] == 77.8 and row["within_pending"] is False
    assert row["line"] == "macOS 99" and row["devices_on_line"] == 9
    assert api.get("/endpoints/kpis/releases").json()["within"] == kpis.WITHIN_DEFAULT
    for bad in ("0", "181", "soon"):
        response = api.get("/endpoints/kpis/releases", within=bad)
        assert response.status_code == 422 and "within" in str(response.json())
    assert ApiClient(token_for(make_user())).get("/endpoints/kpis/releases").status_code == 403
