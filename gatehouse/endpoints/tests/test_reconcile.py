"""Reconciliation: normalized serials, fields from the newest records, owners by email, username, hostname."""

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatehouse.audit.models import AuditEvent
from gatehouse.core.permissions import SYSTEM
from gatehouse.directory.tests.factories import PersonFactory
from gatehouse.endpoints.models import Device
from gatehouse.endpoints.reconcile import (
    hostname_names,
    normalize_serial,
    normalize_username,
    reconcile_devices,
)
from gatehouse.endpoints.tests.factories import DeviceFactory, SourceRecordFactory

NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)


def days(n):
    return NOW - datetime.timedelta(days=n)


@pytest.mark.parametrize(
    "raw, expected",
    [(" c02-xy z1 ", "C02XYZ1"), ("c02.xyz_1", "C02XYZ1"), (None, ""), ("", ""), ("\uff21\uff22-1", "1")],
)
def test_normalize_serial(raw, expected):
    assert normalize_serial(raw) == expected


@given(st.text(max_size=40))
def test_normalize_serial_is_idempotent_and_alphanumeric(text):
    once = normalize_serial(text)
    assert normalize_serial(once) == once
    assert all(c.isdigit() or "A" <= c <= "Z" for c in once)
    assert normalize_serial(text.lower()) == normalize_serial(text.upper())


@pytest.mark.parametrize(
    "raw, expected",
    [("CORP\\JSmith", "jsmith"), ("jsmith@corp.example", "jsmith"), ("@jsmith", "jsmith"), ("", "")],
)
def test_normalize_username(raw, expected):
    assert normalize_username(raw) == expected


def test_hostname_names():
    assert "jane.smith" in hostname_names("Jane-Smith-MBP.corp.example")
    assert hostname_names("jsmith-laptop-01") >= {"jsmith"}
    assert hostname_names("1234") == set()


@pytest.mark.django_db
def test_fields_come_from_the_newest_record_and_last_seen_is_the_newest():
    device = DeviceFactory(serial="C02ABC", hostname="", platform="other")
    SourceRecordFactory(
        device=device,
        source="jamf",
        hostname="old-name",
        os_version="14.6",
        disk_encrypted=True,
        platform="macos",
        last_seen_at=days(3),
    )
    SourceRecordFactory(
        device=device,
        source="sentinelone",
        hostname="new-name",
        os_version="15.1",
        disk_encrypted=None,
        platform="macos",
        last_seen_at=days(1),
    )
    result = reconcile_devices([device.pk], actor=SYSTEM, now=NOW)
    device.refresh_from_db()
    assert (device.hostname, device.os_version, device.platform) == ("new-name", "15.1", "macos")
    assert device.disk_encrypted is True  # the newest record that reports it
    assert device.last_seen_at == days(1)
    assert device.is_active
    assert result.devices == 1 and result.changed == 1


@pytest.mark.django_db
def test_inactive_after_thirty_days():
    device = DeviceFactory()
    SourceRecordFactory(device=device, last_seen_at=days(31))
    reconcile_devices(None, actor=SYSTEM, now=NOW)
    device.refresh_from_db()
    assert not device.is_active


@pytest.mark.django_db
def test_owner_by_email_first_then_username_then_unique_hostname():
    jane = PersonFactory(email="jane@example.com", handle="jane")
    bob = PersonFactory(email="robert@example.com", handle="bob")
    carol = PersonFactory(email="carol.jones@example.com", handle="")
    by_email = DeviceFactory(hostname="")
    SourceRecordFactory(device=by_email, source="jamf", owner_email="JANE@example.com", owner_username="bob")
    by_username = DeviceFactory(hostname="")
    SourceRecordFactory(device=by_username, source="sentinelone", owner_username="CORP\\bob")
    by_host = DeviceFactory(hostname="")
    SourceRecordFactory(device=by_host, source="sentinelone", hostname="carol-jones-mbp")
    reconcile_devices(None, actor=SYSTEM, now=NOW)
    for device, person, how in [
        (by_email, jane, "email"),
        (by_username, bob, "username"),
        (by_host, carol, "hostname"),
    ]:
        device.refresh_from_db()
        assert (device.owner, device.owner_match) == (person, how)


@pytest.mark.django_db
def test_hostname_counts_only_when_unique_on_both_sides():
    PersonFactory(email="carol@example.com", handle="")
    one, two = DeviceFactory(hostname=""), DeviceFactory(hostname="")
    SourceRecordFactory(device=one, source="sentinelone", hostname="carol-mbp")
    SourceRecordFactory(device=two, source="crowdstrike", hostname="CAROL-MBP")
    # A name two people answer to: one's handle, the other's email local part.
    PersonFactory(email="dave@example.com", handle="sam")
    PersonFactory(email="sam@example.com", handle="")
    three = DeviceFactory(hostname="")
    SourceRecordFactory(device=three, source="sentinelone", hostname="sam-laptop")
    reconcile_devices(None, actor=SYSTEM, now=NOW)
    for device in (one, two, three):
        device.refresh_from_db()
        assert device.owner is None and device.owner_match == ""


@pytest.mark.django_db
def test_ambiguous_username_matches_nobody():
    PersonFactory(email="sam@example.com", handle="")
    PersonFactory(email="other@example.com", handle="sam")
    device = DeviceFactory(hostname="")
    SourceRecordFactory(device=device, owner_username="sam")
    reconcile_devices([device.pk], actor=SYSTEM, now=NOW)
    device.refresh_from_db()
    assert device.owner is None


@pytest.mark.django_db
def test_changes_are_audited_and_a_second_run_changes_nothing():
    person = PersonFactory(email="jane@example.com")
    device = DeviceFactory(hostname="")
    SourceRecordFactory(device=device, hostname="jane-mbp", owner_email="jane@example.com", os_version="15.2")
    before = AuditEvent.objects.count()
    reconcile_devices([device.pk], actor=SYSTEM, now=NOW)
    events = AuditEvent.objects.filter(object_type="endpoints.device", object_id=str(device.pk))
    assert AuditEvent.objects.count() == before + 1
    changes = events.get().changes
    assert changes["owner_id"] == [None, person.pk]
    assert changes["hostname"] == ["", "jane-mbp"]
    assert "last_seen_at" not in changes and "is_active" not in changes
    again = reconcile_devices([device.pk], actor=SYSTEM, now=NOW)
    assert again.changed == 0
    assert AuditEvent.objects.count() == before + 1


@pytest.mark.django_db
def test_reconcile_requires_the_permission(make_user):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        reconcile_devices([], actor=make_user("auditor"))


@pytest.mark.django_db
def test_devices_without_records_are_left_alone():
    device = DeviceFactory(hostname="kept")
    assert reconcile_devices([device.pk], actor=SYSTEM, now=NOW).devices == 0
    assert Device.objects.get(pk=device.pk).hostname == "kept"
