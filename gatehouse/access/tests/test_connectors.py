"""The Okta, Google Workspace and GitLab connectors against local fake servers, and source sync."""

from __future__ import annotations

import datetime
import logging

import pytest
from django.core.management import call_command

from gatehouse.access.connectors import ConnectorError, get_connector
from gatehouse.access.connectors.base import HttpClient
from gatehouse.access.connectors.okta import next_link
from gatehouse.access.models import Grant
from gatehouse.access.sync import sync_access_job, sync_entitlement
from gatehouse.access.tests import fake_servers
from gatehouse.access.tests.factories import EntitlementFactory, GrantFactory
from gatehouse.access.tests.fake_servers import GITLAB_TOKEN, GOOGLE_TOKEN, OKTA_TOKEN, unreachable_url
from gatehouse.audit.models import AuditEvent
from gatehouse.core.permissions import SYSTEM
from gatehouse.directory.models import PersonStatus
from gatehouse.directory.tests.factories import PersonFactory

pytestmark = pytest.mark.django_db

# The fake servers' fixtures, used by name below.
fast_connectors = fake_servers.fast_connectors
gitlab = fake_servers.gitlab
google = fake_servers.google
okta = fake_servers.okta


def okta_entitlement(group="00g-eng"):
    return EntitlementFactory(connector="okta", external_id=group)


def google_entitlement(group="eng@example.com"):
    return EntitlementFactory(connector="google", external_id=group)


def gitlab_entitlement(group="acme/eng", role="developer"):
    return EntitlementFactory(connector="gitlab", external_id=group, external_role=role)


# --- Okta ------------------------------------------------------------------------------------------------------


def test_okta_lists_members_across_link_pages(okta, monkeypatch):
    monkeypatch.setattr("gatehouse.access.connectors.okta.PAGE_SIZE", 2)
    for i in range(5):
        okta.add_user(f"u{i}@example.com", last_login="2026-11-20T10:00:00.000Z", groups=["00g-eng"])
    members = get_connector(okta_entitlement()).list_members(okta_entitlement())
    assert [m.email for m in members] == [f"u{i}@example.com" for i in range(5)]
    assert members[0].last_used_at == datetime.datetime(2026, 11, 20, 10, tzinfo=datetime.UTC)
    gets = [r for r in okta.requests if r["method"] == "GET"]
    assert len(gets) == 3  # 2 + 2 + 1
    assert gets[1]["query"]["after"] == ["00u00002"]
    assert all(r["headers"]["Authorization"] == f"SSWS {OKTA_TOKEN}" for r in gets)


def test_okta_adds_and_removes_by_login(okta):
    user_id = okta.add_user("ann@example.com")
    okta.groups["00g-eng"] = []
    connector = get_connector(okta_entitlement())
    answer = connector.add_member(okta_entitlement(), "ann@example.com")
    assert okta.groups["00g-eng"] == [user_id]
    assert user_id in answer and "HTTP 204" in answer
    assert [r["method"] for r in okta.requests] == ["GET", "PUT"]
    assert okta.requests[1]["path"] == f"/api/v1/groups/00g-eng/users/{user_id}"
    connector.remove_member(okta_entitlement(), "ann@example.com")
    assert okta.groups["00g-eng"] == []
    assert okta.requests[-1]["method"] == "DELETE"


def test_okta_unknown_user_and_group_are_clear_not_found(okta):
    okta.groups["00g-eng"] = []
    connector = get_connector(okta_entitlement())
    with pytest.raises(ConnectorError) as exc:
        connector.add_member(okta_entitlement(), "nobody@example.com")
    assert exc.value.kind == "not_found" and "no user with the login nobody@example.com" in exc.value.reason
    with pytest.raises(ConnectorError) as exc:
        connector.list_members(okta_entitlement("00g-missing"))
    assert exc.value.kind == "not_found" and "404" in exc.value.reason and "UserGroup" in exc.value.reason


def test_okta_bad_token_is_an_auth_error_without_the_token(okta, settings, caplog):
    settings.GATEHOUSE_OKTA_TOKEN = "wrong-token-value"
    okta.groups["00g-eng"] = []
    with caplog.at_level(logging.DEBUG), pytest.raises(ConnectorError) as exc:
        get_connector(okta_entitlement()).list_members(okta_entitlement())
    assert exc.value.kind == "auth" and exc.value.status == 401
    assert "refused the credentials" in exc.value.reason and "Invalid token provided" in exc.value.reason
    assert "wrong-token-value" not in exc.value.reason and "wrong-token-value" not in caplog.text
    assert len(okta.requests) == 1  # never retried


def test_okta_429_waits_for_retry_after_then_succeeds(okta, monkeypatch):
    okta.add_user("ann@example.com", groups=["00g-eng"])
    okta.script(429, {"Retry-After": "2", "X-Rate-Limit-Remaining": "0"}, {"errorCode": "E0000047"})
    waits = []
    monkeypatch.setattr(HttpClient, "__post_init__", _with_sleep(HttpClient.__post_init__, waits))
    members = get_connector(okta_entitlement()).list_members(okta_entitlement())
    assert [m.email for m in members] == ["ann@example.com"]
    assert waits == [2.0]


def _with_sleep(original, waits):
    def init(self):
        original(self)
        self.sleep = waits.append

    return init


def test_429_retries_are_bounded(okta, monkeypatch):
    okta.groups["00g-eng"] = []
    okta.script(429, {"Retry-After": "1"}, {"errorCode": "E0000047"}, times=5)
    waits = []
    monkeypatch.setattr(HttpClient, "__post_init__", _with_sleep(HttpClient.__post_init__, waits))
    with pytest.raises(ConnectorError) as exc:
        get_connector(okta_entitlement()).list_members(okta_entitlement())
    assert exc.value.kind == "rate_limited" and "gave up after 3 attempts" in exc.value.reason
    assert waits == [1.0, 1.0] and len(okta.requests) == 3


def test_a_retry_after_longer_than_allowed_fails_at_once(okta, monkeypatch):
    okta.groups["00g-eng"] = []
    okta.script(429, {"Retry-After": "3600"}, None)
    waits = []
    monkeypatch.setattr(HttpClient, "__post_init__", _with_sleep(HttpClient.__post_init__, waits))
    with pytest.raises(ConnectorError) as exc:
        get_connector(okta_entitlement()).list_members(okta_entitlement())
    assert "asked to wait 3600s" in exc.value.reason and waits == []


def test_server_errors_are_retried_then_reported(okta):
    okta.add_user("ann@example.com", groups=["00g-eng"])
    okta.script(503, {}, {"errorSummary": "down"})
    assert len(get_connector(okta_entitlement()).list_members(okta_entitlement())) == 1
    okta.script(500, {}, None, times=3)
    with pytest.raises(ConnectorError) as exc:
        get_connector(okta_entitlement()).list_members(okta_entitlement())
    assert "HTTP 500" in exc.value.reason


def test_unreachable_service_is_a_clear_failure(fast_connectors):
    fast_connectors.GATEHOUSE_OKTA_URL = unreachable_url()
    fast_connectors.GATEHOUSE_OKTA_TOKEN = OKTA_TOKEN
    with pytest.raises(ConnectorError) as exc:
        get_connector(okta_entitlement()).list_members(okta_entitlement())
    assert exc.value.kind == "unreachable" and "cannot reach Okta" in exc.value.reason
    assert OKTA_TOKEN not in exc.value.reason


def test_a_next_link_to_another_host_is_not_followed(okta):
    okta.script(200, {"Link": '<https://evil.example.com/api/v1/groups/x/users?after=1>; rel="next"'}, [])
    with pytest.raises(ConnectorError) as exc:
        get_connector(okta_entitlement()).list_members(okta_entitlement())
    assert "another host" in exc.value.reason


def test_not_configured(settings):
    settings.GATEHOUSE_OKTA_URL = ""
    settings.GATEHOUSE_OKTA_TOKEN = ""
    with pytest.raises(ConnectorError) as exc:
        get_connector(okta_entitlement())
    assert exc.value.kind == "config" and "GATEHOUSE_OKTA_TOKEN" in exc.value.reason


def test_entitlement_without_a_group_is_a_config_error(okta):
    with pytest.raises(ConnectorError) as exc:
        get_connector(okta_entitlement()).list_members(EntitlementFactory(connector="okta", external_id=""))
    assert exc.value.kind == "config"


def test_link_header_parsing():
    assert next_link('<https://a/x?after=1>; rel="next", <https://a/x>; rel="self"') == "https://a/x?after=1"
    assert next_link('<https://a/x>; rel="self"') is None
    assert next_link(None) is None


# --- Google ----------------------------------------------------------------------------------------------------


def test_google_lists_with_page_tokens_and_skips_groups(google, monkeypatch):
    monkeypatch.setattr("gatehouse.access.connectors.google.PAGE_SIZE", 2)
    for i in range(3):
        google.add_member("eng@example.com", f"g{i}@example.com", role="OWNER" if i == 0 else "MEMBER")
    google.add_member("eng@example.com", "nested@example.com", type_="GROUP")
    members = get_connector(google_entitlement()).list_members(google_entitlement())
    assert [(m.email, m.role) for m in members] == [
        ("g0@example.com", "owner"),
        ("g1@example.com", "member"),
        ("g2@example.com", "member"),
    ]
    assert [r["query"].get("pageToken") for r in google.requests] == [None, ["2"]]
    assert google.requests[0]["headers"]["Authorization"] == f"Bearer {GOOGLE_TOKEN}"


def test_google_add_remove_and_already_member(google):
    google.groups["eng@example.com"] = []
    connector = get_connector(google_entitlement())
    assert "added ann@example.com" in connector.add_member(google_entitlement(), "ann@example.com")
    assert google.requests[-1]["body"] == {"email": "ann@example.com", "role": "MEMBER"}
    assert "already a member" in connector.add_member(google_entitlement(), "ann@example.com")
    assert "removed" in connector.remove_member(google_entitlement(), "ann@example.com")
    assert google.groups["eng@example.com"] == []
    with pytest.raises(ConnectorError) as exc:
        connector.remove_member(google_entitlement(), "ann@example.com")
    assert exc.value.kind == "not_found" and "memberKey" in exc.value.reason


def test_google_errors(google, settings):
    with pytest.raises(ConnectorError) as exc:
        get_connector(google_entitlement()).list_members(google_entitlement("missing@example.com"))
    assert exc.value.kind == "not_found" and "groupKey" in exc.value.reason
    settings.GATEHOUSE_GOOGLE_TOKEN = "ya29.nope"
    with pytest.raises(ConnectorError) as exc:
        get_connector(google_entitlement()).list_members(google_entitlement())
    assert exc.value.kind == "auth" and "ya29.nope" not in str(exc.value)


# --- GitLab ----------------------------------------------------------------------------------------------------


def test_gitlab_lists_members_at_the_level_across_pages(gitlab, monkeypatch):
    monkeypatch.setattr("gatehouse.access.connectors.gitlab.PAGE_SIZE", 2)
    for i in range(4):
        gitlab.add_user(f"d{i}@example.com", groups={"acme/eng": 30}, last_activity_on=f"2026-11-2{i}")
    gitlab.add_user("m@example.com", groups={"acme/eng": 40})
    members = get_connector(gitlab_entitlement()).list_members(gitlab_entitlement())
    assert [m.email for m in members] == [f"d{i}@example.com" for i in range(4)]
    assert members[0].role == "developer"
    assert members[1].last_used_at == datetime.datetime(2026, 11, 21, tzinfo=datetime.UTC)
    assert [r["query"]["page"] for r in gitlab.requests] == [["1"], ["2"], ["3"]]
    assert gitlab.requests[0]["path"] == "/api/v4/groups/acme%2Feng/members"  # the path, URL-encoded
    assert gitlab.requests[0]["headers"]["Private-Token"] == GITLAB_TOKEN
    maintainers = get_connector(gitlab_entitlement()).list_members(gitlab_entitlement(role="maintainer"))
    assert [m.email for m in maintainers] == ["m@example.com"]


def test_gitlab_add_sets_level_and_updates_existing_member(gitlab):
    user_id = gitlab.add_user("ann@example.com")
    gitlab.groups["acme/eng"] = {}
    connector = get_connector(gitlab_entitlement())
    answer = connector.add_member(gitlab_entitlement(role="maintainer"), "ann@example.com")
    assert "as maintainer" in answer and "HTTP 201" in answer
    assert gitlab.groups["acme/eng"][user_id]["access_level"] == 40
    answer = connector.add_member(gitlab_entitlement(role="reporter"), "ann@example.com")
    assert "already in" in answer and gitlab.groups["acme/eng"][user_id]["access_level"] == 20
    connector.remove_member(gitlab_entitlement(), "ann@example.com")
    assert gitlab.groups["acme/eng"] == {}


def test_gitlab_errors(gitlab, settings):
    gitlab.groups["acme/eng"] = {}
    connector = get_connector(gitlab_entitlement())
    with pytest.raises(ConnectorError) as exc:
        connector.add_member(gitlab_entitlement(), "ghost@example.com")
    assert exc.value.kind == "not_found" and "ghost@example.com" in exc.value.reason
    with pytest.raises(ConnectorError) as exc:
        connector.list_members(gitlab_entitlement("acme/missing"))
    assert exc.value.kind == "not_found" and "Group Not Found" in exc.value.reason
    settings.GATEHOUSE_GITLAB_TOKEN = "glpat-wrong"
    with pytest.raises(ConnectorError) as exc:
        get_connector(gitlab_entitlement()).list_members(gitlab_entitlement())
    assert exc.value.kind == "auth" and "glpat-wrong" not in exc.value.reason


# --- sync --------------------------------------------------------------------------------------------------------


def test_sync_starts_ends_reports_and_records_last_used(okta):
    entitlement = okta_entitlement()
    ann = PersonFactory(email="ann@example.com")
    bob = PersonFactory(email="bob@example.com")
    gone = PersonFactory(email="gone@example.com")
    leaver = PersonFactory(email="leaver@example.com", status=PersonStatus.TERMINATED)
    kept = GrantFactory(person=bob, entitlement=entitlement)
    stale = GrantFactory(person=gone, entitlement=entitlement)
    okta.add_user("ann@example.com", last_login="2026-11-28T09:00:00.000Z", groups=["00g-eng"])
    okta.add_user("bob@example.com", last_login="2026-11-27T09:00:00.000Z", groups=["00g-eng"])
    okta.add_user("leaver@example.com", groups=["00g-eng"])
    okta.add_user("stranger@example.com", groups=["00g-eng"])
    result = sync_entitlement(entitlement, actor=SYSTEM)
    assert result.started == ["ann@example.com"]
    assert result.ended == ["gone@example.com"]
    assert result.unmatched == ["stranger@example.com"]
    assert result.drift == ["leaver@example.com"]
    new = Grant.objects.get(person=ann, entitlement=entitlement, ended_at__isnull=True)
    assert new.source == "sync" and new.last_used_at == datetime.datetime(
        2026, 11, 28, 9, tzinfo=datetime.UTC
    )
    kept.refresh_from_db()
    stale.refresh_from_db()
    assert kept.ended_at is None and kept.last_used_at.day == 27
    assert stale.ended_at is not None and stale.end_reason == "not in Okta at sync"
    assert not Grant.objects.filter(person=leaver).exists()
    assert AuditEvent.objects.filter(object_id=str(entitlement.pk), changes__has_key="sync").exists()
    # A second sync changes nothing.
    again = sync_entitlement(entitlement, actor=SYSTEM)
    assert (again.started, again.ended, again.last_used_updated) == ([], [], 0)


def test_sync_writes_nothing_when_the_list_fails(okta):
    entitlement = okta_entitlement()
    grant = GrantFactory(entitlement=entitlement)
    okta.script(401, {}, {"errorSummary": "Invalid token provided"})
    with pytest.raises(ConnectorError):
        sync_entitlement(entitlement, actor=SYSTEM)
    grant.refresh_from_db()
    assert grant.ended_at is None


def test_sync_needs_rights(okta, member_user):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        sync_entitlement(okta_entitlement(), actor=member_user)


def test_sync_access_command(okta, gitlab, capsys):
    PersonFactory(email="ann@example.com")
    entitlement = okta_entitlement()
    okta.add_user("ann@example.com", groups=["00g-eng"])
    call_command("sync_access", entitlement.system.slug)
    out = capsys.readouterr()
    assert "1 granted" in out.out and "1 entitlements synced" in out.out
    assert Grant.objects.filter(entitlement=entitlement, ended_at__isnull=True).count() == 1
    broken = gitlab_entitlement("acme/missing")
    with pytest.raises(SystemExit) as exit_:
        call_command("sync_access", broken.system.slug)
    assert exit_.value.code == 1
    assert "Group Not Found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        call_command("sync_access", "no-such-system")


def test_sync_job_skips_unconfigured_connectors(okta, settings):
    settings.GATEHOUSE_GITLAB_TOKEN = ""
    okta.groups["00g-eng"] = []
    okta_entitlement()
    gitlab_entitlement()
    assert sync_access_job.call_local() == {"synced": 1, "failed": 0, "skipped": 1}
