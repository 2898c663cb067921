"""Part C: a failing device opens one desk request per check for its owner, routed to the endpoint system's team,
and the request resolves itself when a later run shows the check passing."""

import datetime

import pytest
from django.utils import timezone

from gatehouse.catalog.tests.factories import SystemFactory
from gatehouse.desk.models import Request, RequestType, Status
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory
from gatehouse.endpoints import remediation
from gatehouse.endpoints.models import CheckResult, Remediation
from gatehouse.endpoints.tests.factories import CheckedDeviceFactory, DeviceExceptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def jamf():
    team = TeamFactory(name="Endpoint team", slug="endpoint-team")
    return SystemFactory(slug="jamf", name="Jamf Pro", owner_team=team)


def failing(device, *checks, reason="SentinelOne last seen 12 days ago"):
    device.failing_checks = list(checks)
    device.passing = not checks
    device.save()
    CheckResult.objects.filter(device=device).delete()
    now = timezone.now()
    CheckResult.objects.bulk_create(
        CheckResult(
            device=device,
            name=c,
            passed=c not in checks,
            reason=reason if c in checks else "ok",
            checked_at=now,
        )
        for c in CheckResult.Check.values
    )
    return device


def test_request_type_is_seeded_after_migrate():
    rt = RequestType.objects.get(slug=remediation.REQUEST_TYPE)
    assert rt.system_field == "optional" and rt.sla_policy is not None


def test_failing_device_opens_one_request_per_check_routed_and_deduplicated(jamf):
    owner = PersonFactory()
    device = failing(CheckedDeviceFactory(owner=owner, hostname="mac-1"), "agents", "os")
    result = remediation.remediate([device.pk])
    assert len(result.opened) == 2
    requests = Request.objects.filter(pk__in=result.opened).order_by("pk")
    for request in requests:
        assert request.requester == owner
        assert request.system == jamf
        assert request.queue.team == jamf.owner_team
        assert "What to do:" in request.description
    agents = requests.get(fields__check="agents")
    assert "SentinelOne last seen 12 days ago" in agents.description
    assert agents.subject.startswith("Fix mac-1")
    # A second run files nothing new.
    assert remediation.remediate([device.pk]).opened == []
    assert Remediation.objects.filter(device=device, resolved_at__isnull=True).count() == 2


def test_passing_later_resolves_with_a_note(jamf):
    device = failing(CheckedDeviceFactory(owner=PersonFactory()), "agents", "os")
    opened = remediation.remediate().opened
    failing(device, "os")
    result = remediation.remediate([device.pk])
    assert result.opened == []
    agents = Request.objects.get(pk__in=opened, fields__check="agents")
    assert result.resolved == [agents.pk]
    assert agents.status == Status.RESOLVED
    assert "now passes this check" in agents.comments.get().body
    assert Request.objects.get(pk__in=opened, fields__check="os").status == Status.NEW
    # Failing again later opens a new request.
    failing(device, "agents", "os")
    assert len(remediation.remediate([device.pk]).opened) == 1


def test_a_request_an_agent_closed_only_closes_the_link(jamf):
    device = failing(CheckedDeviceFactory(owner=PersonFactory()), "disk_encryption")
    [pk] = remediation.remediate().opened
    Request.objects.filter(pk=pk).update(status=Status.CLOSED)
    failing(device)
    assert remediation.remediate().resolved == []
    assert Remediation.objects.get().resolved_at is not None


def test_skips_ownerless_inactive_and_excepted_devices(jamf):
    failing(CheckedDeviceFactory(owner=None), "os")
    failing(CheckedDeviceFactory(owner=PersonFactory(), is_active=False), "os")
    excepted = failing(CheckedDeviceFactory(owner=PersonFactory()), "os")
    DeviceExceptionFactory(device=excepted)
    result = remediation.remediate()
    assert result.opened == [] and result.skipped_no_owner == 1


def test_exception_granted_later_resolves_the_request(jamf):
    device = failing(CheckedDeviceFactory(owner=PersonFactory()), "os")
    [pk] = remediation.remediate().opened
    DeviceExceptionFactory(device=device, expires_on=timezone.localdate() + datetime.timedelta(days=3))
    assert remediation.remediate().resolved == [pk]
    assert "exception" in Request.objects.get(pk=pk).comments.get().body


def test_without_the_endpoint_system_the_request_goes_to_triage(settings):
    settings.GATEHOUSE_ENDPOINT_SYSTEM = "no-such-system"
    device = failing(CheckedDeviceFactory(owner=PersonFactory()), "os")
    [pk] = remediation.remediate([device.pk]).opened
    request = Request.objects.get(pk=pk)
    assert request.system is None and request.queue.is_triage


def test_query_count_is_bounded_when_nothing_changes(jamf, django_assert_max_num_queries):
    for _ in range(10):
        failing(CheckedDeviceFactory(owner=PersonFactory()), "os")
    remediation.remediate()
    with django_assert_max_num_queries(5):
        assert remediation.remediate().opened == []


def test_daily_job_remediates_every_device(jamf):
    from gatehouse.endpoints.tasks import endpoints_daily_kpis

    device = failing(CheckedDeviceFactory(owner=PersonFactory()), "os")
    DeviceExceptionFactory(device=device, expires_on=timezone.localdate() - datetime.timedelta(days=1))
    endpoints_daily_kpis.call_local()
    assert Remediation.objects.filter(device=device, check_name="os", resolved_at__isnull=True).count() == 1


def test_imports_open_and_resolve_requests_after_the_commit(
    jamf, huey_immediate, django_capture_on_commit_callbacks
):
    """The whole path: an import shows a Mac whose EDR went quiet, the job queued after its commit files the
    owner's request; a later import shows the EDR back and the request resolves itself with a note."""
    from gatehouse.core.permissions import SYSTEM
    from gatehouse.endpoints.feeds import parse_feed
    from gatehouse.endpoints.feeds import writers as w
    from gatehouse.endpoints.imports import import_feed

    owner = PersonFactory(email="ada@example.com")
    mac = w.DeviceSpec("C02ADA", "ada-mbp", "macos", "99.0", owner_email="ada@example.com")
    now = timezone.now()

    def run(source, content):
        """Import; returns how many requests the import itself filed and how many the job after it did."""
        before = Request.objects.count()
        with django_capture_on_commit_callbacks() as callbacks:
            import_feed(source, parse_feed(source, content), actor=SYSTEM, origin="test")
        inside = Request.objects.count() - before
        with django_capture_on_commit_callbacks(execute=True):
            for callback in callbacks:
                callback()
        return inside, Request.objects.count() - before - inside

    # Jamf alone: no EDR yet, so the agents and EDR health checks fail: two requests, filed by the job.
    assert run("jamf", w.jamf_file([w.jamf_computer(mac, index=1, seen=now)])) == (0, 2)
    stale = now - datetime.timedelta(days=12)
    # The EDR's record is 12 days old: the same two checks still fail, with new reasons; nothing new is filed.
    assert run("sentinelone", w.sentinelone_file([w.sentinelone_agent(mac, index=1, seen=stale)])) == (0, 0)
    request = Request.objects.get(endpoint_remediations__check_name="agents")
    assert request.requester == owner and request.status == Status.NEW
    assert "No EDR (SentinelOne or CrowdStrike Falcon) record" in request.description  # as filed
    assert CheckResult.objects.get(device__serial="C02ADA", name="agents").reason == (
        "SentinelOne last seen 12 days ago"
    )
    run("sentinelone", w.sentinelone_file([w.sentinelone_agent(mac, index=1, seen=now)]))
    request.refresh_from_db()
    assert request.status == Status.RESOLVED and "now passes this check" in request.comments.get().body
    assert Remediation.objects.get(request=request).resolved_at is not None
