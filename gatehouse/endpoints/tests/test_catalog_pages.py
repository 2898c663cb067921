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
