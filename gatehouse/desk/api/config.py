"""/api/v1/desk/calendars and /api/v1/desk/sla-policies: business calendars (with holidays) and SLA policies
(with targets). Every signed-in user reads; admins change. Holidays and targets travel inside their parent:
a list sent on create or update replaces the old one."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from gatehouse.core.api.pagination import LimitOffsetPagination
from gatehouse.core.api.schemas import InputSchema, patch_schema, sent_fields
from gatehouse.desk import sla_config
from gatehouse.desk.models import BusinessCalendar, Priority

calendars_router = Router(tags=["desk: SLA"])
policies_router = Router(tags=["desk: SLA"])

Slug = Field(..., min_length=1, max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")
Name = Field(..., min_length=1, max_length=200)
WeeklyHours = dict[str, list[list[str]]]


class HolidayIO(InputSchema):
    date: datetime.date
    name: str = Field(..., min_length=1, max_length=200)


class CalendarOut(Schema):
    slug: str
    name: str
    time_zone: str
    weekly_hours: dict[str, Any]
    holidays: list[HolidayIO]

    @staticmethod
    def resolve_holidays(obj: BusinessCalendar) -> list[dict[str, Any]]:
        return [{"date": h.date, "name": h.name} for h in obj.holidays.all()]  # prefetched


class CalendarIn(InputSchema):
    slug: str = Slug
    name: str = Name
    time_zone: str = Field("UTC", min_length=1, max_length=64, description="IANA name, e.g. Europe/Berlin.")
    weekly_hours: WeeklyHours = Field(
        default_factory=lambda: {str(d): [["00:00", "24:00"]] for d in range(1, 6)},
        description='Per ISO weekday ("1" Monday ... "7" Sunday), [["HH:MM", "HH:MM"], ...]; "24:00" ends a day.',
    )
    holidays: list[HolidayIO] = Field(default_factory=list, max_length=1000)


CalendarPatch = patch_schema(CalendarIn)


class TargetIO(InputSchema):
    priority: Priority
    tier: int | None = Field(None, ge=1, le=3, description="Blank: every tier. A tier's own target wins.")
    first_response_minutes: int = Field(..., ge=1, le=10_000_000)
    resolution_minutes: int = Field(..., ge=1, le=10_000_000)


class PolicyOut(Schema):
    slug: str
    name: str
    calendar: str
    at_risk_percent: int
    targets: list[TargetIO]

    @staticmethod
    def resolve_calendar(obj) -> str:
        return obj.calendar.slug

    @staticmethod
    def resolve_targets(obj) -> list[dict[str, Any]]:
        return [
            {
                "priority": t.priority,
                "tier": t.tier,
                "first_response_minutes": t.first_response_minutes,
                "resolution_minutes": t.resolution_minutes,
            }
            for t in sla_config.sorted_targets(obj)
        ]


class PolicyIn(InputSchema):
    slug: str = Slug
    name: str = Name
    calendar: str = Field(..., min_length=1, max_length=100, description="The calendar's slug.")
    at_risk_percent: int = Field(80, ge=1, le=99)
    targets: list[TargetIO] = Field(default_factory=list, max_length=100)


PolicyPatch = patch_schema(PolicyIn)


def _calendar_fields(data: dict[str, Any]) -> tuple[dict[str, Any], list | None]:
    holidays = data.pop("holidays", None)
    return data, holidays


def _policy_fields(user, data: dict[str, Any]) -> tuple[dict[str, Any], list | None]:
    targets = data.pop("targets", None)
    if targets is not None:
        targets = [{**t, "priority": str(t["priority"])} for t in targets]
    if "calendar" in data:
        calendar = BusinessCalendar.objects.filter(slug=data["calendar"]).first()
        if calendar is None:
            raise ValidationError({"calendar": f"No calendar with slug {data['calendar']}."})
        data["calendar"] = calendar
    return data, targets


# -- calendars -------------------------------------------------------------------------------------------------


@calendars_router.get("", response=list[CalendarOut], summary="List business calendars")
@paginate(LimitOffsetPagination)
def list_calendars(request: HttpRequest):
    return sla_config.calendar_list(request.user).order_by("name")


@calendars_router.get("/{slug}", response=CalendarOut, summary="Read a business calendar")
def get_calendar(request: HttpRequest, slug: str):
    return sla_config.get_calendar(request.user, slug)


@calendars_router.post("", response={201: CalendarOut}, summary="Create a business calendar")
def create_calendar(request: HttpRequest, payload: CalendarIn):
    fields, holidays = _calendar_fields(sent_fields(payload) | {"weekly_hours": payload.weekly_hours})
    fields.setdefault("time_zone", payload.time_zone)
    calendar = sla_config.create_calendar(actor=request.user, holidays=holidays, **fields)
    return Status(201, sla_config.get_calendar(request.user, calendar.slug))


@calendars_router.patch("/{slug}", response=CalendarOut, summary="Change a business calendar")
def update_calendar(request: HttpRequest, slug: str, payload: CalendarPatch):
    """Send only what changes; `holidays` replaces the calendar's holidays."""
    calendar = sla_config.get_calendar(request.user, slug)
    fields, holidays = _calendar_fields(sent_fields(payload))
    calendar = sla_config.update_calendar(calendar, actor=request.user, holidays=holidays, **fields)
    return sla_config.get_calendar(request.user, calendar.slug)


@calendars_router.delete("/{slug}", response={204: None}, summary="Delete a business calendar")
def delete_calendar(request: HttpRequest, slug: str):
    calendar = sla_config.get_calendar(request.user, slug)
    sla_config.delete_calendar(calendar, actor=request.user)
    return Status(204, None)


# -- SLA policies ----------------------------------------------------------------------------------------------


@policies_router.get("", response=list[PolicyOut], summary="List SLA policies")
@paginate(LimitOffsetPagination)
def list_policies(request: HttpRequest):
    return sla_config.policy_list(request.user).order_by("name")


@policies_router.get("/{slug}", response=PolicyOut, summary="Read an SLA policy")
def get_policy(request: HttpRequest, slug: str):
    return sla_config.get_policy(request.user, slug)


@policies_router.post("", response={201: PolicyOut}, summary="Create an SLA policy")
def create_policy(request: HttpRequest, payload: PolicyIn):
    data = sent_fields(payload)
    data.setdefault("at_risk_percent", payload.at_risk_percent)
    fields, targets = _policy_fields(request.user, data)
    policy = sla_config.create_policy(actor=request.user, targets=targets, **fields)
    return Status(201, sla_config.get_policy(request.user, policy.slug))


@policies_router.patch("/{slug}", response=PolicyOut, summary="Change an SLA policy")
def update_policy(request: HttpRequest, slug: str, payload: PolicyPatch):
    """Send only what changes; `targets` replaces the policy's targets. Open requests keep their due times
    until their next priority, tier or type change."""
    policy = sla_config.get_policy(request.user, slug)
    fields, targets = _policy_fields(request.user, sent_fields(payload))
    policy = sla_config.update_policy(policy, actor=request.user, targets=targets, **fields)
    return sla_config.get_policy(request.user, policy.slug)


@policies_router.delete("/{slug}", response={204: None}, summary="Delete an SLA policy")
def delete_policy(request: HttpRequest, slug: str):
    policy = sla_config.get_policy(request.user, slug)
    sla_config.delete_policy(policy, actor=request.user)
    return Status(204, None)
