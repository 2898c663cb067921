"""Part C: exceptions granted and revoked with a reason and expiry, audited, seen per role, expired daily."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from gatehouse.audit.models import AuditEvent
from gatehouse.core.permissions import SYSTEM
from gatehouse.directory.tests.factories import PersonFactory
from gatehouse.endpoints import exceptions, kpis
from gatehouse.endpoints.models import DeviceException
from gatehouse.endpoints.tests.factories import CheckedDeviceFactory, DeviceExceptionFactory

pytestmark = pytest.mark.django_db


def today():
    return timezone.localdate()


@pytest.fixture
def engineer(make_user):
    return make_user("security_engineer", username="sec-eng")


def test_grant_is_audited_and_takes_the_device_out_of_the_kpis(engineer):
    device = CheckedDeviceFactory(failing_checks=["os"])
    assert kpis.compute()[("company", "")].active_devices == 1
    exc = exceptions.grant_exception(
        device,
        actor=engineer,
        reason="Lab machine",
        expires_on=(today() + datetime.timedelta(days=10)).isoformat(),
    )
    assert exc.granted_by == engineer and exc.expires_on == today() + datetime.timedelta(days=10)
    assert AuditEvent.objects.filter(object_type__icontains="deviceexception", action="create").count() == 1
    assert kpis.compute()[("company", "")].active_devices == 0
    assert exceptions.active_exception(device) == exc


@pytest.mark.parametrize(
    "reason,expires,field",
    [
        ("", 5, "reason"),
        ("ok", -1, "expires_on"),
        ("ok", 400, "expires_on"),
        ("ok", "not-a-date", "expires_on"),
    ],
)
def test_grant_refuses_bad_input_naming_the_field(engineer, reason, expires, field):
    device = CheckedDeviceFactory()
    when = expires if isinstance(expires, str) else today() + datetime.timedelta(days=expires)
    with pytest.raises(ValidationError) as info:
        exceptions.grant_exception(device, actor=engineer, reason=reason, expires_on=when)
    assert field in info.value.message_dict
    assert not DeviceException.objects.exists()


def test_only_managers_of_endpoints_grant_and_revoke(make_user, auditor_user, member_user):
    device = CheckedDeviceFactory()
    for user in (auditor_user, member_user, make_user("manager")):
        with pytest.raises(PermissionDenied):
            exceptions.grant_exception(device, actor=user, reason="x", expires_on=today())
    exc = DeviceExceptionFactory(device=device)
    with pytest.raises(PermissionDenied):
        exceptions.revoke_exception(exc, actor=auditor_user, reason="x")
    admin = make_user("admin")
    assert exceptions.grant_exception(device, actor=admin, reason="Loaner", expires_on=today()).pk


def test_revoke_ends_it_today_keeping_the_history(engineer):
    exc = DeviceExceptionFactory(reason="Lab machine")
    revoked = exceptions.revoke_exception(exc, actor=engineer, reason="Back in use")
    assert revoked.expires_on == today() - datetime.timedelta(days=1)
    assert "Revoked on" in revoked.reason and "Back in use" in revoked.reason and "sec-eng" in revoked.reason
    assert exceptions.active_exception(exc.device) is None
    assert AuditEvent.objects.filter(object_type__icontains="deviceexception", action="update").exists()
    with pytest.raises(ValidationError):
        exceptions.revoke_exception(revoked, actor=engineer, reason="again")
    with pytest.raises(ValidationError) as info:
        exceptions.revoke_exception(DeviceExceptionFactory(), actor=engineer, reason="  ")
    assert "reason" in info.value.message_dict


def test_visibility_per_role(make_user, auditor_user, engineer):
    boss = PersonFactory()
    owner = PersonFactory(manager=boss)
    mine = DeviceExceptionFactory(device=CheckedDeviceFactory(owner=owner))
    DeviceExceptionFactory(device=CheckedDeviceFactory(owner=PersonFactory()))
    assert exceptions.visible_exceptions(auditor_user).count() == 2
    assert exceptions.visible_exceptions(engineer).count() == 2
    assert list(exceptions.visible_exceptions(make_user(person=owner))) == [mine]
    assert list(exceptions.visible_exceptions(make_user(person=boss))) == [mine]
    assert exceptions.visible_exceptions(make_user()).count() == 0


def test_expiry_job_reports_exceptions_that_ended():
    ended = DeviceExceptionFactory(expires_on=today() - datetime.timedelta(days=1))
    renewed = DeviceExceptionFactory(expires_on=today() - datetime.timedelta(days=1))
    DeviceExceptionFactory(device=renewed.device, expires_on=today() + datetime.timedelta(days=5))
    DeviceExceptionFactory(expires_on=today() - datetime.timedelta(days=3))  # ended earlier: reported then
    assert exceptions.expire_exceptions() == [ended.device_id]
    event = AuditEvent.objects.get(object_repr__startswith="Device exceptions expired")
    assert len(event.changes["expired"][1]["exceptions"]) == 2
    assert exceptions.expire_exceptions(today() + datetime.timedelta(days=30)) == []


def test_system_may_grant():
    exc = exceptions.grant_exception(
        CheckedDeviceFactory(), actor=SYSTEM, reason="Import", expires_on=today()
    )
    assert exc.granted_by is None
