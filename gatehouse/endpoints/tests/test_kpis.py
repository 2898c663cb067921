"""Part C: the two KPIs by slice, snapshots (bulk, idempotent per day), the daily job."""

import datetime

import pytest
from django.utils import timezone

from gatehouse.audit.models import AuditEvent
from gatehouse.directory.tests.factories import PersonFactory
from gatehouse.endpoints import kpis
from gatehouse.endpoints.models import KpiSnapshot
from gatehouse.endpoints.tests.factories import CheckedDeviceFactory, DeviceExceptionFactory

pytestmark = pytest.mark.django_db
DAY = datetime.date(2026, 11, 30)


@pytest.fixture
def fleet():
    boss = PersonFactory(email="boss@example.com", department="Engineering")
    alice = PersonFactory(email="alice@example.com", department="Engineering", manager=boss)
    bob = PersonFactory(email="bob@example.com", department="Sales", manager=boss)
    CheckedDeviceFactory(owner=alice, platform="macos")
    CheckedDeviceFactory(owner=alice, platform="macos", failing_checks=["os"])
    CheckedDeviceFactory(owner=bob, platform="windows", failing_checks=["edr_health"])
    CheckedDeviceFactory(owner=bob, platform="linux", failing_checks=["agents", "os"])
    CheckedDeviceFactory(owner=None, platform="linux", failing_checks=["disk_encryption"])
    CheckedDeviceFactory(owner=alice, is_active=False, failing_checks=["os"])  # inactive: not counted
    CheckedDeviceFactory(
        owner=bob, is_active=True, passing=None, checked_at=None
    )  # never checked: not passing
    return {"alice": alice, "bob": bob, "boss": boss}


def test_compute_by_slice(fleet):
    slices = kpis.compute(DAY)
    company = slices[("company", "")]
    assert (company.active_devices, company.security_tools_passing, company.patch_passing) == (6, 3, 3)
    assert company.security_tools == 50.0 and company.patch == 50.0
    assert company.security_tools_met is False
    mac = slices[("platform", "macos")]
    assert (mac.active_devices, mac.security_tools_passing, mac.patch_passing) == (3, 2, 1)  # one unchecked
    assert mac.security_tools_met is False and mac.patch_met is False
    sales = slices[("department", "Sales")]
    assert (sales.active_devices, sales.security_tools_passing, sales.patch_passing) == (3, 0, 1)
    assert slices[("department", "")].active_devices == 1  # the ownerless device
    assert slices[("manager", "boss@example.com")].active_devices == 5
    assert slices[("manager", "")].active_devices == 1


def test_excepted_devices_leave_the_kpis_until_expiry(fleet):
    device = CheckedDeviceFactory(owner=fleet["alice"], failing_checks=["agents"])
    DeviceExceptionFactory(device=device, expires_on=DAY)
    assert kpis.compute(DAY)[("company", "")].active_devices == 6
    # The day after the expiry date the device counts again.
    after = kpis.compute(DAY + datetime.timedelta(days=1))[("company", "")]
    assert after.active_devices == 7 and after.security_tools_passing == 3


def test_empty_fleet_has_a_company_row_without_figures():
    slices = kpis.compute(DAY)
    assert list(slices) == [("company", "")]
    assert slices[("company", "")].security_tools is None


def test_take_snapshot_is_idempotent_per_day(fleet, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        written = kpis.take_snapshot(DAY)
    assert (
        written == KpiSnapshot.objects.filter(day=DAY).count() == 1 + 3 + 3 + 2
    )  # company, platforms, depts, managers
    CheckedDeviceFactory(owner=fleet["alice"], platform="windows")
    kpis.take_snapshot(DAY)
    assert KpiSnapshot.objects.filter(day=DAY).count() == written  # replaced, not added (windows existed)
    assert KpiSnapshot.objects.get(day=DAY, dimension="company").active_devices == 7
    kpis.take_snapshot(DAY - datetime.timedelta(days=1))
    assert KpiSnapshot.objects.count() == 2 * written
    event = AuditEvent.objects.filter(object_type="endpoints.kpisnapshot").order_by("-id").first()
    assert event.object_id == (DAY - datetime.timedelta(days=1)).isoformat()
    assert event.changes["snapshot"][1]["active_devices"] == 7


def test_snapshot_query_count_does_not_grow_with_devices(django_assert_max_num_queries):
    for i in range(40):
        CheckedDeviceFactory(
            owner=PersonFactory(department=f"D{i % 5}"), failing_checks=["os"] if i % 3 else []
        )
    with django_assert_max_num_queries(12):
        kpis.take_snapshot(DAY)


def test_current_and_trend_read_snapshots(fleet):
    for offset in range(3):
        kpis.take_snapshot(DAY - datetime.timedelta(days=offset))
    day, figures = kpis.current("platform")
    assert day == DAY and [f.key for f in figures] == ["linux", "macos", "windows"]
    points = kpis.trend(DAY - datetime.timedelta(days=10), DAY)
    assert [d for d, _ in points] == [DAY - datetime.timedelta(days=2), DAY - datetime.timedelta(days=1), DAY]
    assert kpis.series(points, "security_tools")[-1] == (DAY, 50.0)


def test_daily_job_snapshots_today(fleet):
    from gatehouse.endpoints.tasks import endpoints_daily_kpis

    endpoints_daily_kpis.call_local()
    assert KpiSnapshot.objects.filter(day=timezone.localdate(), dimension="company").exists()
