"""Device pages and API: visibility by role, filters, the device page, CSV export, mismatches, query pins."""

import csv
import datetime
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from gatehouse.directory.tests.factories import PersonFactory
from gatehouse.endpoints.checks import run_checks
from gatehouse.endpoints.models import OsRelease
from gatehouse.endpoints.selectors import mismatches, visible_devices
from gatehouse.endpoints.tests.factories import DeviceFactory, SourceRecordFactory

pytestmark = pytest.mark.django_db


def recent(days=1):
    return timezone.now() - datetime.timedelta(days=days)


@pytest.fixture
def world(make_user):
    boss = PersonFactory(email="boss@example.com", department="IT")
    jane = PersonFactory(email="jane@example.com", manager=boss, department="Sales")
    other = PersonFactory(email="other@example.com", department="Finance")
    good = DeviceFactory(
        hostname="jane-mbp", platform="macos", os_version="99.0", owner=jane, last_seen_at=recent()
    )
    SourceRecordFactory(device=good, source="jamf", disk_encrypted=True, owner_email="jane@example.com")
    SourceRecordFactory(device=good, source="sentinelone", agent_up_to_date=True)
    stale = DeviceFactory(
        hostname="other-pc", platform="windows", os_version="10.0.26100.1", owner=other, last_seen_at=recent()
    )
    SourceRecordFactory(device=stale, source="jamf", disk_encrypted=True)
    SourceRecordFactory(device=stale, source="sentinelone", last_seen_at=recent(12))
    orphan = DeviceFactory(hostname="lab-box", platform="linux", os_version="24.04.3", last_seen_at=recent())
    SourceRecordFactory(device=orphan, source="crowdstrike")
    run_checks()
    return {
        "boss": make_user(person=boss, username="boss"),
        "jane": make_user(person=jane, username="jane"),
        "other": make_user(person=other, username="other"),
        "engineer": make_user("security_engineer", username="sec"),
        "auditor": make_user("auditor", username="aud"),
        "good": good,
        "stale": stale,
        "orphan": orphan,
    }


def test_visibility_by_role(world):
    assert set(visible_devices(world["jane"])) == {world["good"]}
    assert set(visible_devices(world["boss"])) == {world["good"]}  # a report's device
    assert set(visible_devices(world["other"])) == {world["stale"]}
    assert visible_devices(world["engineer"]).count() == 3
    assert visible_devices(world["auditor"]).count() == 3


def test_device_list_filters_and_pinned_queries(world, client_for, django_assert_num_queries):
    client = client_for(world["engineer"])
    url = reverse("endpoints:device_list")
    client.get(url)
    with django_assert_num_queries(7):
        response = client.get(url)
    assert response.status_code == 200 and "jane-mbp" in response.content.decode()
    for _ in range(5):
        DeviceFactory(owner=PersonFactory(manager=PersonFactory()), last_seen_at=recent())
    with django_assert_num_queries(7):
        assert client.get(url).status_code == 200
    body = client.get(url, {"failing": "agents"}).content.decode()
    assert "other-pc" in body and "jane-mbp" not in body
    body = client.get(url, {"platform": "linux"}).content.decode()
    assert "lab-box" in body and "other-pc" not in body
    body = client.get(url, {"department": "sales"}).content.decode()
    assert "jane-mbp" in body and "other-pc" not in body
    body = client.get(url, {"source": "crowdstrike"}).content.decode()
    assert "lab-box" in body and "jane-mbp" not in body
    body = client.get(url, {"q": "OTHER"}).content.decode()
    assert "other-pc" in body and "lab-box" not in body
    assert (
        client.get(url, {"failing": "nope"}).status_code == 200
    )  # an invalid filter shows nothing, not a 500


def test_members_see_only_theirs(world, client_for):
    client = client_for(world["jane"])
    body = client.get(reverse("endpoints:device_list")).content.decode()
    assert "jane-mbp" in body and "other-pc" not in body
    assert client.get(reverse("endpoints:device", args=[world["stale"].pk])).status_code == 404
    mine = client.get(reverse("endpoints:my_devices")).content.decode()
    assert "jane-mbp" in mine
    assert client.get(reverse("endpoints:mismatches")).status_code == 403


def test_device_page_shows_records_and_reasons(world, client_for, django_assert_max_num_queries):
    client = client_for(world["other"])
    url = reverse("endpoints:device", args=[world["stale"].pk])
    client.get(url)
    with django_assert_max_num_queries(9):
        response = client.get(url)
    body = response.content.decode()
    assert response.status_code == 200
    assert "SentinelOne last seen 12 days ago" in body
    assert "Jamf Pro" in body and world["stale"].owner.name in body


def test_device_page_lists_the_remediation_requests_the_viewer_may_read(world, client_for):
    from gatehouse.desk.selectors import visible_requests
    from gatehouse.endpoints.remediation import remediate

    opened = remediate([world["stale"].pk]).opened
    assert opened
    owner_page = client_for(world["other"]).get(reverse("endpoints:device", args=[world["stale"].pk]))
    body = owner_page.content.decode()
    assert 'data-testid="remediations"' in body and f"/desk/requests/{opened[0]}/" in body
    # Others who see the device get a link only to a request the desk lets them read.
    for user in (world["auditor"], world["jane"], world["engineer"]):
        page = client_for(user).get(reverse("endpoints:device", args=[world["stale"].pk]))
        if page.status_code == 200:
            readable = visible_requests(user).filter(pk=opened[0]).exists()
            assert (f"/desk/requests/{opened[0]}/" in page.content.decode()) == readable


def test_navigation(world, client_for):
    body = client_for(world["engineer"]).get(reverse("endpoints:my_devices")).content.decode()
    assert reverse("endpoints:device_list") in body and reverse("endpoints:mismatches") in body
    body = client_for(world["jane"]).get(reverse("endpoints:my_devices")).content.decode()
    assert reverse("endpoints:mismatches") not in body


def test_csv_export_of_failing_devices(world, client_for):
    response = client_for(world["engineer"]).get(reverse("endpoints:device_export_failing"))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    serials = {r[0] for r in rows[1:]}
    assert rows[0][0] == "serial"
    assert world["stale"].serial in serials and world["good"].serial not in serials
    stale = next(r for r in rows if r[0] == world["stale"].serial)
    assert "SentinelOne last seen 12 days ago" in stale[-1]
    # Filters apply, and a member's export holds only what they see.
    response = client_for(world["jane"]).get(reverse("endpoints:device_export_failing"))
    assert len(list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))) == 1


def test_mismatch_report(world, client_for):
    leaver = PersonFactory(
        email="gone@example.com",
        status="terminated",
        end_date=datetime.date.today() - datetime.timedelta(days=10),
    )
    laptop = DeviceFactory(
        hostname="gone-mbp", platform="macos", owner=leaver, is_active=True, last_seen_at=recent()
    )
    SourceRecordFactory(device=laptop, source="jamf", owner_email="gone@example.com")
    SourceRecordFactory(device=laptop, source="sentinelone", owner_email="someone@example.com")
    found = {(m.kind, m.device.hostname) for m in mismatches(world["engineer"])}
    assert ("no_owner", "lab-box") in found
    assert ("missing_feed", "lab-box") in found  # Linux requires DriveStrike
    assert ("leaver_reporting", "gone-mbp") in found
    assert ("serial_conflict", "gone-mbp") in found
    assert ("no_owner", "jane-mbp") not in found
    page = client_for(world["auditor"]).get(reverse("endpoints:mismatches"))
    assert page.status_code == 200 and "No DriveStrike record" in page.content.decode()
    assert mismatches(world["jane"]) == []


def _orphans(count):
    """Active Linux devices with no owner and only an EDR record: each is no_owner and missing_feed."""
    for n in range(count):
        device = DeviceFactory(
            hostname=f"orphan-{n:03d}", platform="linux", os_version="24.04.3", last_seen_at=recent()
        )
        SourceRecordFactory(device=device, source="sentinelone")
    run_checks()


def test_mismatch_report_pages_in_the_database(world, client_for, django_assert_num_queries):
    from gatehouse.endpoints.selectors import mismatch_report

    _orphans(60)
    report = mismatch_report(world["engineer"])
    counts = report.counts()
    assert counts["no_owner"] == 61 and counts["missing_feed"] == 61  # and lab-box
    assert len(report) == sum(counts.values())
    # A slice across the boundary of two kinds reads the end of one and the start of the next.
    first = counts["missing_feed"]
    rows = report[first - 2 : first + 3]
    assert [m.kind for m in rows] == ["missing_feed"] * 2 + ["no_owner"] * 3
    assert rows[2].device.hostname == "lab-box" and rows[3].device.hostname == "orphan-000"
    assert report[len(report) : len(report) + 10] == []

    client = client_for(world["engineer"])
    url = reverse("endpoints:mismatches")
    body = client.get(url).content.decode()
    assert "(61)" in body and f"All {counts['no_owner']} →" in body and "orphan-030" not in body
    client.get(url, {"kind": "no_owner", "page": 2})
    with django_assert_num_queries(7):  # sign-in and permissions 5, the count, the page's rows
        page2 = client.get(url, {"kind": "no_owner", "page": 2}).content.decode()
    assert "orphan-049" in page2 and "orphan-048" not in page2 and "Page 2 of 2" in page2
    _orphans(20)
    with django_assert_num_queries(7):
        client.get(url, {"kind": "no_owner", "page": 2})
    partial = client.get(url, {"kind": "no_owner", "page": 2}, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and "orphan-" in partial


def test_api_mismatches_page_across_kinds(world, client, token_for, django_assert_num_queries):
    _orphans(30)
    auth = token_for(world["auditor"])
    url = "/api/v1/endpoints/mismatches"
    everything = client.get(url, {"limit": 1000}, HTTP_AUTHORIZATION=auth).json()
    total = everything["count"]
    assert total == len(everything["results"]) and total > 60
    pages, offset = [], 0
    while offset < total:
        body = client.get(url, {"limit": 25, "offset": offset}, HTTP_AUTHORIZATION=auth).json()
        assert body["count"] == total
        pages += body["results"]
        offset += 25
    assert pages == everything["results"]
    client.get(url, {"limit": 25}, HTTP_AUTHORIZATION=auth)
    # token 2, permissions 3, policies, a count per kind 4, a page of rows and its prefetch (25 of missing_feed)
    with django_assert_num_queries(12):
        client.get(url, {"limit": 25}, HTTP_AUTHORIZATION=auth)
    _orphans(30)
    with django_assert_num_queries(12):
        client.get(url, {"limit": 25}, HTTP_AUTHORIZATION=auth)


# --- API ---------------------------------------------------------------------------------------------------------


def test_api_devices(world, client, token_for, django_assert_num_queries):
    auth = token_for(world["engineer"])
    client.get("/api/v1/endpoints/devices", HTTP_AUTHORIZATION=auth)
    with django_assert_num_queries(7):
        response = client.get("/api/v1/endpoints/devices", HTTP_AUTHORIZATION=auth)
    assert response.status_code == 200 and response.json()["count"] == 3
    for _ in range(4):
        DeviceFactory(owner=PersonFactory())
    with django_assert_num_queries(7):
        assert client.get("/api/v1/endpoints/devices", HTTP_AUTHORIZATION=auth).json()["count"] == 7
    failing = client.get("/api/v1/endpoints/devices?failing=agents", HTTP_AUTHORIZATION=auth).json()
    assert [d["hostname"] for d in failing["results"]] == ["lab-box", "other-pc"]
    assert client.get("/api/v1/endpoints/devices?failing=bogus", HTTP_AUTHORIZATION=auth).status_code == 422
    detail = client.get(f"/api/v1/endpoints/devices/{world['stale'].pk}", HTTP_AUTHORIZATION=auth).json()
    assert {r["source"] for r in detail["records"]} == {"jamf", "sentinelone"}
    assert any(c["reason"] == "SentinelOne last seen 12 days ago" for c in detail["checks"])
    checks = client.get(
        f"/api/v1/endpoints/devices/{world['stale'].pk}/checks", HTTP_AUTHORIZATION=auth
    ).json()
    assert len(checks) == 4
    assert client.get("/api/v1/endpoints/devices/0", HTTP_AUTHORIZATION=auth).status_code == 404
    assert client.get(f"/api/v1/endpoints/devices/{2**70}", HTTP_AUTHORIZATION=auth).status_code in (404, 422)


def test_api_visibility(world, client, token_for):
    jane = token_for(world["jane"])
    assert [
        d["hostname"]
        for d in client.get("/api/v1/endpoints/devices", HTTP_AUTHORIZATION=jane).json()["results"]
    ] == ["jane-mbp"]
    assert (
        client.get(f"/api/v1/endpoints/devices/{world['stale'].pk}", HTTP_AUTHORIZATION=jane).status_code
        == 404
    )
    assert client.get("/api/v1/endpoints/mismatches", HTTP_AUTHORIZATION=jane).status_code == 403
    assert client.get("/api/v1/endpoints/devices").status_code == 401


def test_api_mismatches(world, client, token_for):
    auth = token_for(world["auditor"])
    body = client.get("/api/v1/endpoints/mismatches?kind=no_owner", HTTP_AUTHORIZATION=auth).json()
    assert [m["device"]["hostname"] for m in body["results"]] == ["lab-box"]
    assert client.get("/api/v1/endpoints/mismatches?kind=nope", HTTP_AUTHORIZATION=auth).status_code == 422


def test_api_os_releases(world, client, token_for, django_assert_num_queries):
    engineer, auditor, member = (
        token_for(world["engineer"]),
        token_for(world["auditor"]),
        token_for(world["jane"]),
    )
    client.get("/api/v1/endpoints/os-releases", HTTP_AUTHORIZATION=member)
    with django_assert_num_queries(4):
        listed = client.get("/api/v1/endpoints/os-releases?platform=linux", HTTP_AUTHORIZATION=member).json()
    assert listed["count"] == OsRelease.objects.filter(platform="linux").count()
    body = {"platform": "macos", "line": "macOS 27", "version": "27.0", "released_on": "2026-09-15"}
    assert (
        client.post(
            "/api/v1/endpoints/os-releases", body, content_type="application/json", HTTP_AUTHORIZATION=auditor
        ).status_code
        == 403
    )
    created = client.post(
        "/api/v1/endpoints/os-releases", body, content_type="application/json", HTTP_AUTHORIZATION=engineer
    )
    assert created.status_code == 201
    again = client.post(
        "/api/v1/endpoints/os-releases", body, content_type="application/json", HTTP_AUTHORIZATION=engineer
    )
    assert again.status_code == 422
    bad = client.post(
        "/api/v1/endpoints/os-releases",
        {**body, "released_on": "soon"},
        content_type="application/json",
        HTTP_AUTHORIZATION=engineer,
    )
    assert bad.status_code == 422
    url = f"/api/v1/endpoints/os-releases/{created.json()['id']}"
    patched = client.patch(
        url, {"line": "macOS 27 beta"}, content_type="application/json", HTTP_AUTHORIZATION=engineer
    )
    assert patched.json()["line"] == "macOS 27 beta"
    assert (
        client.patch(
            url, {"version": None}, content_type="application/json", HTTP_AUTHORIZATION=engineer
        ).status_code
        == 422
    )
    assert client.delete(url, HTTP_AUTHORIZATION=engineer).status_code == 204
    assert client.get(url, HTTP_AUTHORIZATION=member).status_code == 404
