"""Calendars (with holidays) and SLA policies (with targets): the API and the pages. Everyone signed in reads,
admins change, bad input is a 422 naming the field and writes nothing, list query counts are pinned."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from gatehouse.audit.models import AuditEvent
from gatehouse.core.api.testing import ApiClient
from gatehouse.desk.models import BusinessCalendar, Holiday, SlaPolicy, SlaTarget
from gatehouse.desk.tests.factories import (
    BusinessCalendarFactory,
    RequestTypeFactory,
    SlaPolicyFactory,
    SlaTargetFactory,
)

pytestmark = pytest.mark.django_db

NINE_TO_FIVE = {str(d): [["09:00", "17:00"]] for d in range(1, 6)}
# The list pages and endpoints: session/user/permission lookups plus a fixed number of data queries.
CALENDAR_PAGE_QUERIES = 8
POLICY_PAGE_QUERIES = 8
CALENDAR_API_QUERIES = 8
POLICY_API_QUERIES = 8


@pytest.fixture
def admin_api(admin_user, token_for):
    return ApiClient(token_for(admin_user))


@pytest.fixture
def member_api(member_user, token_for):
    return ApiClient(token_for(member_user))


def make_calendars(rows: int) -> None:
    for _ in range(rows):
        calendar = BusinessCalendarFactory(weekly_hours=NINE_TO_FIVE)
        Holiday.objects.create(calendar=calendar, date=date(2026, 12, 25), name="Christmas")
        policy = SlaPolicyFactory(calendar=calendar)
        SlaTargetFactory(policy=policy, priority="urgent")
        SlaTargetFactory(policy=policy, priority="urgent", tier=3)


# -- API -------------------------------------------------------------------------------------------------------


def test_everyone_reads_calendars_and_policies(member_api):
    calendars = member_api.get("/desk/calendars").json()["results"]
    default = next(c for c in calendars if c["slug"] == "default")
    assert default["weekly_hours"] == {str(d): [["00:00", "24:00"]] for d in range(1, 6)}
    policies = member_api.get("/desk/sla-policies").json()["results"]
    assert any(p["slug"] == "default" and p["calendar"] == "default" for p in policies)
    assert member_api.get("/desk/calendars/default").status_code == 200
    assert member_api.get("/desk/calendars/nope").status_code == 404
    assert member_api.get("/desk/sla-policies/nope").status_code == 404


def test_admin_creates_a_calendar_with_holidays(admin_api):
    body = {
        "slug": "berlin",
        "name": "Berlin office",
        "time_zone": "Europe/Berlin",
        "weekly_hours": {"1": [["09:00", "12:00"], ["13:00", "17:00"]]},
        "holidays": [
            {"date": "2026-12-25", "name": "Christmas"},
            {"date": "2026-12-26", "name": "Boxing Day"},
        ],
    }
    response = admin_api.post("/desk/calendars", body)
    assert response.status_code == 201, response.json()
    assert response.json()["holidays"] == body["holidays"]
    calendar = BusinessCalendar.objects.get(slug="berlin")
    assert calendar.holidays.count() == 2
    assert AuditEvent.objects.filter(object_type__icontains="holiday").count() == 2
    # Holidays are replaced as a whole list.
    response = admin_api.patch(
        "/desk/calendars/berlin", {"holidays": [{"date": "2026-12-25", "name": "Xmas"}]}
    )
    assert response.status_code == 200
    assert response.json()["holidays"] == [{"date": "2026-12-25", "name": "Xmas"}]
    assert response.json()["time_zone"] == "Europe/Berlin"


@pytest.mark.parametrize(
    ("body", "loc", "text"),
    [
        ({"time_zone": "Mars/Olympus"}, ["body", "time_zone"], "IANA"),
        (
            {"weekly_hours": {"1": [["09:00", "12:00"], ["11:00", "13:00"]]}},
            ["body", "weekly_hours"],
            "overlap",
        ),
        ({"weekly_hours": {"1": [["9", "17"]]}}, ["body", "weekly_hours"], "HH:MM"),
        ({"weekly_hours": {"9": [["09:00", "17:00"]]}}, ["body", "weekly_hours"], "ISO weekday"),
        ({"weekly_hours": {}}, ["body", "weekly_hours"], "open at some time"),
        ({"holidays": [{"date": "2026-13-01", "name": "X"}]}, ["body", "holidays", 0, "date"], ""),
        (
            {"holidays": [{"date": "2026-12-25", "name": "X"}, {"date": "2026-12-25", "name": "Y"}]},
            ["body", "holidays", 1, "date"],
            "twice",
        ),
    ],
)
def test_bad_calendars_are_422_naming_the_field(admin_api, body, loc, text):
    payload = {"slug": "bad", "name": "Bad", **body}
    response = admin_api.post("/desk/calendars", payload)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert any(d["loc"] == loc and text in d["msg"] for d in detail), detail
    assert not BusinessCalendar.objects.filter(slug="bad").exists()
    assert not Holiday.objects.filter(name__in=["X", "Y"]).exists()


def test_bad_patch_changes_nothing(admin_api):
    BusinessCalendarFactory(slug="ny", time_zone="America/New_York")
    response = admin_api.patch(
        "/desk/calendars/ny",
        {"time_zone": "Nowhere", "holidays": [{"date": "2026-01-01", "name": "New Year"}]},
    )
    assert response.status_code == 422
    calendar = BusinessCalendar.objects.get(slug="ny")
    assert calendar.time_zone == "America/New_York"
    assert not calendar.holidays.exists()


def test_members_cannot_change_calendars_or_policies(member_api):
    assert member_api.post("/desk/calendars", {"slug": "x", "name": "X"}).status_code == 403
    assert member_api.patch("/desk/calendars/default", {"name": "Mine"}).status_code == 403
    assert member_api.delete("/desk/sla-policies/default").status_code == 403
    assert BusinessCalendar.objects.get(slug="default").name != "Mine"


def test_admin_creates_and_changes_a_policy_with_targets(admin_api):
    BusinessCalendarFactory(slug="office", weekly_hours=NINE_TO_FIVE)
    body = {
        "slug": "office-sla",
        "name": "Office SLA",
        "calendar": "office",
        "at_risk_percent": 75,
        "targets": [
            {"priority": "urgent", "first_response_minutes": 15, "resolution_minutes": 240},
            {"priority": "urgent", "tier": 3, "first_response_minutes": 30, "resolution_minutes": 480},
        ],
    }
    response = admin_api.post("/desk/sla-policies", body)
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["at_risk_percent"] == 75
    assert data["targets"][0] == {
        "priority": "urgent",
        "tier": None,
        "first_response_minutes": 15,
        "resolution_minutes": 240,
    }
    response = admin_api.patch(
        "/desk/sla-policies/office-sla",
        {"targets": [{"priority": "normal", "first_response_minutes": 60, "resolution_minutes": 480}]},
    )
    assert response.status_code == 200
    assert [t["priority"] for t in response.json()["targets"]] == ["normal"]
    assert SlaTarget.objects.filter(policy__slug="office-sla").count() == 1
    assert AuditEvent.objects.filter(object_type__icontains="slatarget", action="delete").count() == 2


@pytest.mark.parametrize(
    ("body", "loc", "text"),
    [
        ({"calendar": "nope"}, ["body", "calendar"], "No calendar"),
        ({"at_risk_percent": 100}, ["body", "at_risk_percent"], ""),
        (
            {"targets": [{"priority": "asap", "first_response_minutes": 1, "resolution_minutes": 2}]},
            ["body", "targets", 0, "priority"],
            "",
        ),
        (
            {"targets": [{"priority": "low", "first_response_minutes": 0, "resolution_minutes": 2}]},
            ["body", "targets", 0, "first_response_minutes"],
            "",
        ),
        (
            {"targets": [{"priority": "low", "first_response_minutes": 90, "resolution_minutes": 60}]},
            ["body", "targets", 0, "first_response_minutes"],
            "after the resolution",
        ),
        (
            {
                "targets": [
                    {"priority": "low", "first_response_minutes": 1, "resolution_minutes": 2},
                    {"priority": "low", "first_response_minutes": 1, "resolution_minutes": 3},
                ]
            },
            ["body", "targets", 1, "priority"],
            "already",
        ),
    ],
)
def test_bad_policies_are_422_naming_the_field(admin_api, body, loc, text):
    payload = {"slug": "bad", "name": "Bad", "calendar": "default", **body}
    response = admin_api.post("/desk/sla-policies", payload)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert any(d["loc"] == loc and text in d["msg"] for d in detail), detail
    assert not SlaPolicy.objects.filter(slug="bad").exists()


def test_a_calendar_or_policy_in_use_is_not_deleted(admin_api):
    calendar = BusinessCalendarFactory(slug="used")
    policy = SlaPolicyFactory(slug="used-policy", calendar=calendar)
    RequestTypeFactory(sla_policy=policy)
    assert admin_api.delete("/desk/calendars/used").status_code == 422
    response = admin_api.delete("/desk/sla-policies/used-policy")
    assert response.status_code == 422
    assert "request types" in response.json()["detail"][0]["msg"]
    spare = BusinessCalendarFactory(slug="spare")
    Holiday.objects.create(calendar=spare, date=date(2026, 1, 1), name="New Year")
    assert admin_api.delete("/desk/calendars/spare").status_code == 204
    assert not BusinessCalendar.objects.filter(slug="spare").exists()


@pytest.mark.parametrize("rows", [3, 20])
def test_list_endpoints_query_counts_do_not_grow(rows, member_api, django_assert_max_num_queries):
    make_calendars(rows)
    with django_assert_max_num_queries(CALENDAR_API_QUERIES):
        assert member_api.get("/desk/calendars?limit=100").status_code == 200
    with django_assert_max_num_queries(POLICY_API_QUERIES):
        assert member_api.get("/desk/sla-policies?limit=100").status_code == 200


# -- pages -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [3, 20])
def test_list_pages_query_counts_do_not_grow(rows, client_for, member_user, django_assert_max_num_queries):
    make_calendars(rows)
    client = client_for(member_user)
    with django_assert_max_num_queries(CALENDAR_PAGE_QUERIES):
        response = client.get(reverse("desk:calendars"))
    assert response.status_code == 200
    assert b"Add calendar" not in response.content
    with django_assert_max_num_queries(POLICY_PAGE_QUERIES):
        assert client.get(reverse("desk:sla_policies")).status_code == 200


def test_detail_pages(client_for, member_user):
    client = client_for(member_user)
    response = client.get(reverse("desk:calendar", args=["default"]))
    assert response.status_code == 200 and b"Mon" in response.content
    response = client.get(reverse("desk:sla_policy", args=["default"]))
    assert response.status_code == 200 and b"business minutes" in response.content
    assert client.get(reverse("desk:calendar", args=["nope"])).status_code == 404
    assert client.get(reverse("desk:calendar_edit", args=["default"])).status_code == 403
    assert client.get(reverse("desk:sla_policy_add")).status_code == 403


def test_admin_edits_a_calendar_on_the_page(client_for, admin_user):
    client = client_for(admin_user)
    assert client.get(reverse("desk:calendar_add")).status_code == 200
    form = {
        "name": "Office",
        "slug": "office",
        "time_zone": "America/New_York",
        "weekly_hours": "Mon 09:00-12:00 13:00-17:00\nFri 09:00-15:00",
        "holidays": "2026-11-26 Thanksgiving",
    }
    response = client.post(reverse("desk:calendar_add"), form)
    assert response.status_code == 302
    calendar = BusinessCalendar.objects.get(slug="office")
    assert calendar.weekly_hours == {"1": [["09:00", "12:00"], ["13:00", "17:00"]], "5": [["09:00", "15:00"]]}
    assert list(calendar.holidays.values_list("name", flat=True)) == ["Thanksgiving"]
    page = client.get(reverse("desk:calendar_edit", args=["office"]))
    assert b"Mon 09:00-12:00 13:00-17:00" in page.content and b"2026-11-26 Thanksgiving" in page.content


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"time_zone": "Atlantis/Capital"}, "time_zone", "IANA"),
        ({"weekly_hours": "Mon 09:00-12:00 11:00-13:00"}, "weekly_hours", "overlap"),
        ({"weekly_hours": "Someday 09:00-12:00"}, "weekly_hours", "Line 1"),
        ({"weekly_hours": "Mon 9am-5pm"}, "weekly_hours", "not a span"),
        ({"holidays": "2026-12-25 Christmas\n2026-02-30 Nope"}, "holidays", "Line 2"),
        (
            {"holidays": "2026-12-25 Christmas\n2026-12-25 Again"},
            "holidays",
            "Line 2: 2026-12-25 is listed twice",
        ),
    ],
)
def test_bad_calendar_form_shows_inline_errors(client_for, admin_user, change, field, text):
    client = client_for(admin_user)
    form = {
        "name": "Office",
        "slug": "office",
        "time_zone": "UTC",
        "weekly_hours": "Mon 09:00-17:00",
        **change,
    }
    response = client.post(reverse("desk:calendar_add"), form)
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert field in errors and text in " ".join(errors[field]), errors
    assert not BusinessCalendar.objects.filter(slug="office").exists()


def test_admin_edits_a_policy_on_the_page(client_for, admin_user):
    client = client_for(admin_user)
    calendar = BusinessCalendar.objects.get(slug="default")
    form = {
        "name": "Office SLA",
        "slug": "office-sla",
        "calendar": calendar.pk,
        "at_risk_percent": 70,
        "targets": "urgent 15 240\nurgent tier 3 30 480\nnormal 60 960",
    }
    response = client.post(reverse("desk:sla_policy_add"), form)
    assert response.status_code == 302
    policy = SlaPolicy.objects.get(slug="office-sla")
    assert policy.targets.count() == 3 and policy.targets.get(tier=3).resolution_minutes == 480
    page = client.get(reverse("desk:sla_policy_edit", args=["office-sla"]))
    assert b"urgent tier 3 30 480" in page.content
    bad = {**form, "slug": "other", "name": "Other", "targets": "urgent 15 240\nurgent 20 300"}
    response = client.post(reverse("desk:sla_policy_add"), bad)
    assert response.status_code == 422
    assert "Line 2" in " ".join(response.context["form"].errors["targets"])
    bad = {**form, "slug": "other", "name": "Other", "at_risk_percent": 0}
    assert client.post(reverse("desk:sla_policy_add"), bad).status_code == 422
    assert not SlaPolicy.objects.filter(slug="other").exists()
