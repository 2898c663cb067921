"""Part C: the KPI dashboard page (snapshots only, the target line, range and slice) and the KPI and exception API."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from gatehouse.core.api.testing import ApiClient
from gatehouse.desk import charts
from gatehouse.directory.tests.factories import PersonFactory
from gatehouse.endpoints import kpis
from gatehouse.endpoints.models import Device, DeviceException, KpiSnapshot
from gatehouse.endpoints.tests.factories import CheckedDeviceFactory, DeviceExceptionFactory

pytestmark = pytest.mark.django_db


def today():
    return timezone.localdate()


@pytest.fixture
def history():
    owner = PersonFactory(department="Engineering")
    CheckedDeviceFactory(owner=owner)
    CheckedDeviceFactory(owner=owner, platform="windows", failing_checks=["os"])
    for offset in range(5):
        kpis.take_snapshot(today() - datetime.timedelta(days=offset))


@pytest.fixture
def engineer(make_user):
    return make_user("security_engineer", username="sec-eng")


def test_line_chart_target_line():
    chart = charts.line_chart(
        [(datetime.date(2026, 11, 1), 50.0), (datetime.date(2026, 11, 2), 100.0)], top=100, target=95
    )
    assert chart.top == 100 and chart.target == 95
    assert chart.target_y == pytest.approx(chart.baseline - (chart.baseline - chart.top_y) * 0.95, abs=0.1)
    assert charts.line_chart([]).target_y is None  # the desk's charts are unchanged


def test_dashboard_reads_snapshots_only(history, client_for, engineer, django_assert_num_queries):
    client = client_for(engineer)
    url = reverse("endpoints:kpis")
    client.get(url)  # warm the session
    Device.objects.all().delete()  # the page must not need the devices
    # session, user, groups, 2 x permissions, latest day, current, trend, release adoption's latest day (no
    # release is recent here; with releases it is 3 queries, pinned in test_release_adoption)
    with django_assert_num_queries(9):
        response = client.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert "chart-target" in body and "target 95.0" in body
    assert "50.0%" in body  # patch compliance, company
    assert 'data-testid="slices-platform"' in body and "windows" in body


def test_dashboard_slice_and_range(history, client_for, engineer):
    client = client_for(engineer)
    response = client.get(
        reverse("endpoints:kpis"), {"dimension": "platform", "key": "windows", "range": "7"}
    )
    body = response.content.decode()
    assert "Trend: Platform: windows" in body
    assert body.count('class="chart-dot"') == 10  # 5 days x 2 charts
    bad = client.get(reverse("endpoints:kpis"), {"dimension": "nope", "range": "12"})
    assert bad.status_code == 200 and 'data-testid="range-errors"' in bad.content.decode()


def test_dashboard_without_snapshots(client_for, engineer):
    response = client_for(engineer).get(reverse("endpoints:kpis"))
    assert 'data-testid="no-snapshots"' in response.content.decode()


def test_dashboard_permissions(history, client_for, auditor_user, member_user, admin_user):
    assert client_for(auditor_user).get(reverse("endpoints:kpis")).status_code == 200
    assert client_for(admin_user).get(reverse("endpoints:kpis")).status_code == 200
    assert client_for(member_user).get(reverse("endpoints:kpis")).status_code == 403


# ---------------------------------------------------------------------------------------------- API


def test_api_current_and_snapshots(history, token_for, auditor_user, member_user, django_assert_num_queries):
    api = ApiClient(token_for(auditor_user))
    with django_assert_num_queries(7):  # token, user, groups, 2 x permissions, latest day, current
        body = api.get("/endpoints/kpis").json()
    assert body["day"] == today().isoformat() and body["target"] == 95.0
    company = next(s for s in body["slices"] if s["dimension"] == "company")
    assert company["patch"] == 50.0 and company["patch_met"] is False and company["security_tools"] == 100.0
    assert {s["key"] for s in api.get("/endpoints/kpis", dimension="platform").json()["slices"]} == {
        "macos",
        "windows",
    }
    with django_assert_num_queries(7):  # token, user, groups, 2 x permissions, count, page
        page = api.get("/endpoints/kpis/snapshots", dimension="company", limit=3).json()
    assert page["count"] == 5 and len(page["results"]) == 3
    start = (today() - datetime.timedelta(days=1)).isoformat()
    assert api.get("/endpoints/kpis/snapshots", dimension="company", start=start).json()["count"] == 2
    assert api.get("/endpoints/kpis", dimension="bogus").status_code == 422
    assert api.get("/endpoints/kpis/snapshots", start="yesterday").status_code == 422
    assert ApiClient(token_for(member_user)).get("/endpoints/kpis").status_code == 403
    assert ApiClient().get("/endpoints/kpis").status_code == 401


def test_api_exceptions(token_for, engineer, auditor_user, make_user):
    owner = PersonFactory()
    device = CheckedDeviceFactory(owner=owner)
    api = ApiClient(token_for(engineer))
    expires = (today() + datetime.timedelta(days=14)).isoformat()
    created = api.post("/endpoints/exceptions", {"device": device.pk, "reason": "Lab", "expires_on": expires})
    assert created.status_code == 201, created.content
    exc = created.json()
    assert exc["in_force"] is True and exc["granted_by"] == "sec-eng" and exc["serial"] == device.serial
    bad = api.post("/endpoints/exceptions", {"device": device.pk, "reason": "", "expires_on": "2020-01-01"})
    assert bad.status_code == 422
    assert {tuple(d["loc"])[-1] for d in bad.json()["detail"]} >= {"reason", "expires_on"}
    assert (
        api.post(
            "/endpoints/exceptions", {"device": 999999, "reason": "x", "expires_on": expires}
        ).status_code
        == 422
    )
    assert api.post("/endpoints/exceptions", {"device": "x"}).status_code == 422
    auditor = ApiClient(token_for(auditor_user))
    assert auditor.get(f"/endpoints/exceptions/{exc['id']}").status_code == 200
    assert auditor.post(f"/endpoints/exceptions/{exc['id']}/revoke", {"reason": "no"}).status_code == 403
    assert (
        auditor.post(
            "/endpoints/exceptions", {"device": device.pk, "reason": "x", "expires_on": expires}
        ).status_code
        == 403
    )
    mine = ApiClient(token_for(make_user(person=owner)))
    assert mine.get("/endpoints/exceptions").json()["count"] == 1
    stranger = ApiClient(token_for(make_user()))
    assert stranger.get("/endpoints/exceptions").json()["count"] == 0
    assert stranger.get(f"/endpoints/exceptions/{exc['id']}").status_code == 404
    assert api.get("/endpoints/exceptions/99999999999999999999").status_code in (404, 422)
    revoked = api.post(f"/endpoints/exceptions/{exc['id']}/revoke", {"reason": "Back in use"})
    assert revoked.status_code == 200 and revoked.json()["in_force"] is False
    assert api.get("/endpoints/exceptions", in_force="true").json()["count"] == 0
    assert api.post(f"/endpoints/exceptions/{exc['id']}/revoke", {"reason": "again"}).status_code == 422


def test_api_exception_list_query_count(token_for, engineer, django_assert_num_queries):
    for _ in range(5):
        DeviceExceptionFactory()
    api = ApiClient(token_for(engineer))
    with django_assert_num_queries(7):  # token, user, groups, 2 x permissions, count, page
        assert api.get("/endpoints/exceptions").json()["count"] == 5
    assert DeviceException.objects.count() == 5 and KpiSnapshot.objects.count() == 0
