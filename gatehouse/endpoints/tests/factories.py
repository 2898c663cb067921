"""Factories for endpoints tests. Shared by every part: add yours, keep the others'."""

import datetime

import factory
from django.utils import timezone

from gatehouse.endpoints.models import Device, DeviceException, OsRelease, SourceRecord


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device
        django_get_or_create = ("serial",)

    serial = factory.Sequence(lambda n: f"C02SERIAL{n:05d}")
    hostname = factory.Sequence(lambda n: f"laptop-{n}")
    platform = "macos"


class SourceRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SourceRecord

    device = factory.SubFactory(DeviceFactory)
    source = "jamf"
    serial = factory.LazyAttribute(lambda o: o.device.serial)
    imported_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyFunction(timezone.now)
    content_hash = factory.Sequence(lambda n: f"{n:064d}")


class OsReleaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OsRelease

    platform = "macos"
    line = "macOS 15"
    version = factory.Sequence(lambda n: f"15.{n}")
    released_on = factory.LazyFunction(lambda: timezone.now().date())


# --- part C: devices as the checks leave them, exceptions ---
class CheckedDeviceFactory(DeviceFactory):
    """A device the checks have run on: active and passing unless told otherwise (set failing_checks to fail)."""

    is_active = True
    passing = factory.LazyAttribute(lambda o: not o.failing_checks)
    failing_checks = factory.LazyFunction(list)
    checked_at = factory.LazyFunction(timezone.now)


class DeviceExceptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeviceException

    device = factory.SubFactory(CheckedDeviceFactory)
    reason = "Lab machine"
    expires_on = factory.LazyFunction(lambda: timezone.localdate() + datetime.timedelta(days=30))
