"""The Feeds page and /api/v1/endpoints/feeds: status per source, runs, permissions, pinned query counts."""

from __future__ import annotations

import pytest

from gatehouse.core.permissions import SYSTEM
from gatehouse.endpoints.imports import import_feed
from gatehouse.endpoints.models import FeedImport
from gatehouse.endpoints.tests.test_imports import NOW, jamf_feed

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(settings):
    settings.GATEHOUSE_SENTINELONE_URL = "https://s1.example"
    settings.GATEHOUSE_SENTINELONE_API_TOKEN = "tok"
    settings.GATEHOUSE_JAMF_URL = ""
    settings.GATEHOUSE_CROWDSTRIKE_CLIENT_ID = ""
    ok = import_feed("jamf", jamf_feed(2), actor=SYSTEM, origin="jamf.json", now=NOW)
    failed = FeedImport.objects.create(
        source="sentinelone", origin="https://s1.example", started_at=NOW, state="failed", error="refused"
    )
    return ok, failed


def test_api_status(client, admin_user, token_for, runs, django_assert_num_queries):
    ok, _failed = runs
    auth = token_for(admin_user)
    with django_assert_num_queries(7):  # auth and permissions (5), latest per source, the runs
        response = client.get("/api/v1/endpoints/feeds", headers={"Authorization": auth})
    assert response.status_code == 200
    body = {f["source"]: f for f in response.json()}
    assert body["jamf"]["last_run"]["id"] == ok.pk and body["jamf"]["last_success"]["created"] == 2
    assert body["jamf"]["configured"] is False
    assert body["sentinelone"]["configured"] is True and body["sentinelone"]["last_run"]["state"] == "failed"
    assert body["sentinelone"]["last_success"] is None
    assert body["drivestrike"]["api"] is False and body["drivestrike"]["last_run"] is None


def test_api_imports_list_filter_detail(client, auditor_user, token_for, runs):
    ok, failed = runs
    auth = {"Authorization": token_for(auditor_user)}
    items = client.get("/api/v1/endpoints/feeds/imports", headers=auth).json()["results"]
    assert [i["id"] for i in items] == [failed.pk, ok.pk]
    only = client.get("/api/v1/endpoints/feeds/imports?state=failed", headers=auth).json()["results"]
    assert [i["id"] for i in only] == [failed.pk]
    assert client.get("/api/v1/endpoints/feeds/imports?state=nope", headers=auth).status_code == 422
    assert (
        client.get(f"/api/v1/endpoints/feeds/imports/{ok.pk}", headers=auth).json()["origin"] == "jamf.json"
    )
    assert client.get("/api/v1/endpoints/feeds/imports/999999", headers=auth).status_code == 404
    assert client.get(f"/api/v1/endpoints/feeds/imports/{2**70}", headers=auth).status_code in (404, 422)


def test_api_needs_view_feedimport(client, member_user, token_for, runs):
    auth = {"Authorization": token_for(member_user)}
    assert client.get("/api/v1/endpoints/feeds", headers=auth).status_code == 403
    assert client.get("/api/v1/endpoints/feeds/imports", headers=auth).status_code == 403
    assert client.get("/api/v1/endpoints/feeds").status_code == 401


def test_feeds_page(client_for, make_user, runs, django_assert_max_num_queries):
    client = client_for(make_user("security_engineer"))
    with django_assert_max_num_queries(9):
        response = client.get("/endpoints/feeds/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "jamf.json" in html and "refused" in html and "not configured" in html and "file only" in html


def test_feeds_page_forbidden_for_members(client_for, member_user, runs):
    assert client_for(member_user).get("/endpoints/feeds/").status_code == 403
