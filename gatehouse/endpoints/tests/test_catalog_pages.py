"""Admin pages of the OS release catalog and the platform policies."""

import pytest
from django.urls import reverse

from gatehouse.audit.models import AuditEvent
from gatehouse.endpoints.models import OsRelease, PlatformPolicy

pytestmark = pytest.mark.django_db


@pytest.fixture
def engineer(make_user):
    return make_user("security_engineer", username="sec")


def test_catalog_list_with_pinned_queries(engineer, client_for, django_assert_num_queries):
    client = client_for(engineer)
    url = reverse("endpoints:os_release_list")
    client.get(url)
    with django_assert_num_queries(7):
        response = client.get(url, {"platform": "linux"})
    assert response.status_code == 200 and "Ubuntu 24.04" in response.content.decode()


def test_add_edit_delete_a_release(engineer, client_for):
    client = client_for(engineer)
    data = {"platform": "macos", "line": "macOS 27", "version": "27.0", "released_on": "2026-09-14"}
    response = client.post(reverse("endpoints:os_release_add"), data)
    assert response.status_code == 302
    release = OsRelease.objects.get(version="27.0")
    assert AuditEvent.objects.filter(object_type="endpoints.osrelease", object_id=str(release.pk)).exists()
    assert client.post(reverse("endpoints:os_release_add"), data).status_code == 422  # already there
    edit = reverse("endpoints:os_release_edit", args=[release.pk])
    assert client.post(edit, {**data, "line": "macOS 27 (Tahoe+1)"}).status_code == 302
    release.refresh_from_db()
    assert release.line == "macOS 27 (Tahoe+1)"
    assert client.post(reverse("endpoints:os_release_delete", args=[release.pk])).status_code == 302
    assert not OsRelease.objects.filter(pk=release.pk).exists()


def test_auditors_read_and_members_do_not(make_user, client_for, auditor_user):
    auditor = client_for(auditor_user)
    assert auditor.get(reverse("endpoints:os_release_list")).status_code == 200
    assert auditor.get(reverse("endpoints:policy_list")).status_code == 200
    assert auditor.get(reverse("endpoints:os_release_add")).status_code == 403
    policy = PlatformPolicy.objects.get(platform="linux")
    assert auditor.post(reverse("endpoints:policy_edit", args=[policy.pk]), {}).status_code == 403
    member = client_for(make_user(username="m"))
    assert member.get(reverse("endpoints:os_release_list")).status_code == 403


def test_edit_a_policy(engineer, client_for):
    client = client_for(engineer)
    policy = PlatformPolicy.objects.get(platform="linux")
    url = reverse("endpoints:policy_edit", args=[policy.pk])
    data = {
        "required_sources": "edr, drivestrike, jamf|drivestrike",
        "max_agent_age_days": 3,
        "minimum_os_version": "24.04",
        "patch_window_days": 14,
        "require_disk_encryption": "on",
    }
    assert client.get(url).status_code == 200
    assert client.post(url, data).status_code == 302
    policy.refresh_from_db()
    assert policy.required_sources == ["edr", "drivestrike", "jamf|drivestrike"]
    assert policy.max_agent_age_days == 3
    bad = client.post(url, {**data, "required_sources": "edr, mcafee"})
    assert bad.status_code == 422 and "Unknown feed or kind: mcafee" in bad.content.decode()
    assert "Linux" in client.get(reverse("endpoints:policy_list")).content.decode()


# --- platform policies: API, and the recheck after a change ----------------------------------------------------


def test_policy_api_reads_and_changes(engineer, make_user, auditor_user, token_for):
    from gatehouse.audit.models import AuditEvent
    from gatehouse.core.api.testing import ApiClient

    api = ApiClient(token_for(engineer))
    listed = api.get("/endpoints/policies").json()
    assert [p["platform"] for p in listed] == ["linux", "macos", "windows"]
    assert listed[0]["required_sources"] == ["edr", "drivestrike"] and listed[0]["platform_label"] == "Linux"
    changed = api.patch("/endpoints/policies/linux", {"max_agent_age_days": 5, "required_sources": ["EDR"]})
    assert changed.status_code == 200, changed.content
    assert changed.json()["max_agent_age_days"] == 5 and changed.json()["required_sources"] == ["edr"]
    policy = PlatformPolicy.objects.get(platform="linux")
    event = AuditEvent.objects.filter(object_type="endpoints.platformpolicy", object_id=str(policy.pk)).last()
    assert event.changes["max_agent_age_days"] == [7, 5]
    for body, field in (
        ({"required_sources": ["edr", "mcafee"]}, "required_sources"),
        ({"minimum_os_version": "latest"}, "minimum_os_version"),
        ({"patch_window_days": -1}, "patch_window_days"),
        ({"max_agent_age_days": None}, "max_agent_age_days"),
        ({"platform": "macos"}, "platform"),
    ):
        response = api.patch("/endpoints/policies/linux", body)
        assert response.status_code == 422 and field in str(response.json()), (body, response.content)
    assert PlatformPolicy.objects.get(platform="linux").max_agent_age_days == 5  # nothing written
    assert api.get("/endpoints/policies/beos").status_code == 404
    auditor = ApiClient(token_for(auditor_user))
    assert auditor.get("/endpoints/policies/macos").status_code == 200
    assert auditor.patch("/endpoints/policies/macos", {"patch_window_days": 1}).status_code == 403
    assert ApiClient(token_for(make_user())).get("/endpoints/policies").status_code == 403


def test_a_policy_change_rechecks_the_platforms_devices(
    engineer, token_for, django_capture_on_commit_callbacks, huey_immediate
):
    import datetime

    from django.utils import timezone

    from gatehouse.core.api.testing import ApiClient
    from gatehouse.endpoints.checks import run_checks
    from gatehouse.endpoints.tests.factories import DeviceFactory, SourceRecordFactory

    seen = timezone.now() - datetime.timedelta(days=5)
    box = DeviceFactory(platform="linux", os_version="24.04.3", last_seen_at=seen)
    for source in ("sentinelone", "drivestrike"):
        SourceRecordFactory(device=box, source=source, last_seen_at=seen, disk_encrypted=True)
    mac = DeviceFactory(platform="macos", os_version="99.0", last_seen_at=seen)
    run_checks()
    box.refresh_from_db()
    assert box.passing is True
    api = ApiClient(token_for(engineer))
    with django_capture_on_commit_callbacks(execute=True):
        assert api.patch("/endpoints/policies/linux", {"max_agent_age_days": 3}).status_code == 200
    box.refresh_from_db()
    mac.refresh_from_db()
    assert box.passing is False and box.failing_checks == ["agents"]
    assert (
        box.checks.get(name="agents").reason
        == "SentinelOne last seen 5 days ago; DriveStrike last seen 5 days ago"
    )
    assert mac.checked_at < box.checked_at  # only the platform changed is checked again
