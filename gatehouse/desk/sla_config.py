"""Business calendars (with holidays) and SLA policies (with targets): selectors and audited services.

Everyone signed in reads them; admins change them. Holidays and targets are written as a whole list with their
parent (the list replaces what was there), each row audited on its own. Changing a policy does not move the due
times of open requests; each request picks up the new target at its next retarget (priority, tier or type
change).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Prefetch, QuerySet
from django.http import Http404

from gatehouse.core.permissions import require
from gatehouse.core.services import create_object, delete_object, update_object
from gatehouse.desk.business_time import parse_weekly_hours
from gatehouse.desk.models import BusinessCalendar, Holiday, Priority, SlaPolicy, SlaTarget, Tier

CALENDAR_FIELDS = {"slug", "name", "time_zone", "weekly_hours"}
POLICY_FIELDS = {"slug", "name", "calendar", "at_risk_percent"}

# -- selectors -------------------------------------------------------------------------------------------------


def calendar_list(user) -> QuerySet[BusinessCalendar]:
    require(user, "desk.view_businesscalendar")
    return BusinessCalendar.objects.prefetch_related("holidays").annotate(policy_count=Count("policies"))


def get_calendar(user, slug: str) -> BusinessCalendar:
    calendar = calendar_list(user).filter(slug=slug).first()
    if calendar is None:
        raise Http404("No such calendar.")
    return calendar


def policy_list(user) -> QuerySet[SlaPolicy]:
    require(user, "desk.view_slapolicy")
    return SlaPolicy.objects.select_related("calendar").prefetch_related(
        Prefetch("targets", queryset=SlaTarget.objects.order_by("priority", "tier"))
    )


def get_policy(user, slug: str) -> SlaPolicy:
    policy = policy_list(user).filter(slug=slug).first()
    if policy is None:
        raise Http404("No such SLA policy.")
    return policy


def sorted_targets(policy: SlaPolicy) -> list[SlaTarget]:
    """Targets by priority (urgent first), the tier-less one before tier-specific ones; from the prefetch."""
    order = {p: i for i, p in enumerate(Priority.values)}
    return sorted(policy.targets.all(), key=lambda t: (order.get(t.priority, 99), t.tier or 0))


# -- validation ------------------------------------------------------------------------------------------------


def _unknown(fields: Mapping[str, Any], allowed: set[str]) -> None:
    errors = {name: "Unknown field." for name in sorted(set(fields) - allowed)}
    if errors:
        raise ValidationError(errors)


def clean_holidays(holidays: Iterable[Mapping[str, Any]]) -> list[tuple[date, str]]:
    """[{"date": date, "name": str}] -> [(date, name)], sorted; errors keyed "holidays.<index>.<field>"."""
    errors: dict[str, str] = {}
    result: dict[date, str] = {}
    for index, item in enumerate(holidays):
        day, name = item.get("date"), str(item.get("name") or "").strip()
        if not isinstance(day, date):
            errors[f"holidays.{index}.date"] = "Enter a date as YYYY-MM-DD."
            continue
        if not name:
            errors[f"holidays.{index}.name"] = "Name the holiday."
        elif len(name) > 200:
            errors[f"holidays.{index}.name"] = "At most 200 characters."
        if day in result:
            errors[f"holidays.{index}.date"] = f"{day:%Y-%m-%d} is listed twice."
        result[day] = name
    if errors:
        raise ValidationError(errors)
    return sorted(result.items())


def clean_targets(targets: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validate a policy's targets; errors keyed "targets.<index>.<field>"."""
    errors: dict[str, str] = {}
    seen: set[tuple[str, int | None]] = set()
    result = []
    for index, item in enumerate(targets):
        where = f"targets.{index}"
        priority, tier = item.get("priority"), item.get("tier")
        if priority not in Priority.values:
            errors[f"{where}.priority"] = f"Choose one of: {', '.join(Priority.values)}."
        if tier is not None and tier not in Tier.values:
            errors[f"{where}.tier"] = "Choose tier 1, 2 or 3, or none for every tier."
        minutes = {}
        for field in ("first_response_minutes", "resolution_minutes"):
            value = item.get(field)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000_000:
                errors[f"{where}.{field}"] = "Enter a whole number of business minutes, at least 1."
            minutes[field] = value
        both = f"{where}.first_response_minutes" not in errors and f"{where}.resolution_minutes" not in errors
        if both and minutes["first_response_minutes"] > minutes["resolution_minutes"]:
            errors[f"{where}.first_response_minutes"] = (
                "The first response cannot be due after the resolution."
            )
        if (priority, tier) in seen:
            errors[f"{where}.priority"] = "This priority and tier already have a target."
        seen.add((priority, tier))
        result.append({"priority": priority, "tier": tier, **minutes})
    if errors:
        raise ValidationError(errors)
    return result


def _check_percent(fields: Mapping[str, Any]) -> None:
    value = fields.get("at_risk_percent")
    if "at_risk_percent" in fields and (
        isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 99
    ):
        raise ValidationError({"at_risk_percent": "Enter a whole percent from 1 to 99."})


# -- calendars -------------------------------------------------------------------------------------------------


def _holiday_writer(holidays: list[tuple[date, str]] | None):
    def write(calendar: BusinessCalendar) -> dict[str, list[Any]]:
        if holidays is None:
            return {}
        existing = {h.date: h for h in calendar.holidays.all()}
        wanted = dict(holidays)
        for day, holiday in existing.items():
            if day not in wanted:
                delete_object(holiday)
            elif holiday.name != wanted[day]:
                update_object(holiday, fields={"name": wanted[day]})
        for day, name in holidays:
            if day not in existing:
                create_object(Holiday, fields={"calendar": calendar, "date": day, "name": name})
        before = [f"{d:%Y-%m-%d} {h.name}" for d, h in sorted(existing.items())]
        after = [f"{d:%Y-%m-%d} {n}" for d, n in holidays]
        return {"holidays": [before, after]} if before != after else {}

    return write


def create_calendar(
    *, actor, holidays: Iterable[Mapping[str, Any]] | None = None, **fields: Any
) -> BusinessCalendar:
    require(actor, "desk.add_businesscalendar")
    _unknown(fields, CALENDAR_FIELDS)
    cleaned = clean_holidays(holidays or [])
    return create_object(BusinessCalendar, fields=fields, related=_holiday_writer(cleaned))


def update_calendar(
    calendar: BusinessCalendar, *, actor, holidays: Iterable[Mapping[str, Any]] | None = None, **fields: Any
) -> BusinessCalendar:
    """Change a calendar; `holidays`, when given, replaces its holidays."""
    require(actor, "desk.change_businesscalendar", calendar)
    _unknown(fields, CALENDAR_FIELDS)
    cleaned = clean_holidays(holidays) if holidays is not None else None
    if "weekly_hours" in fields:
        parse_weekly_hours(fields["weekly_hours"])
    calendar, _ = update_object(calendar, fields=fields, related=_holiday_writer(cleaned))
    return calendar


def delete_calendar(calendar: BusinessCalendar, *, actor) -> None:
    require(actor, "desk.delete_businesscalendar", calendar)
    used = list(SlaPolicy.objects.filter(calendar=calendar).values_list("name", flat=True))
    if used:
        raise ValidationError({"__all__": f"The calendar is used by the SLA policies: {', '.join(used)}."})
    with transaction.atomic():
        for holiday in calendar.holidays.all():
            delete_object(holiday)
        delete_object(calendar)


# -- policies --------------------------------------------------------------------------------------------------


def _target_writer(targets: list[dict[str, Any]] | None):
    def write(policy: SlaPolicy) -> dict[str, list[Any]]:
        if targets is None:
            return {}
        existing = {(t.priority, t.tier): t for t in policy.targets.all()}
        wanted = {(t["priority"], t["tier"]): t for t in targets}
        for key, target in existing.items():
            if key not in wanted:
                delete_object(target)
        for key, values in wanted.items():
            minutes = {k: values[k] for k in ("first_response_minutes", "resolution_minutes")}
            if key in existing:
                update_object(existing[key], fields=minutes)
            else:
                create_object(
                    SlaTarget, fields={"policy": policy, "priority": key[0], "tier": key[1], **minutes}
                )

        def describe(items):
            return sorted(
                f"{p}{f' tier {t}' if t else ''}: {v['first_response_minutes']}/{v['resolution_minutes']} min"
                for (p, t), v in items
            )

        before = describe(
            (
                (
                    k,
                    {
                        "first_response_minutes": t.first_response_minutes,
                        "resolution_minutes": t.resolution_minutes,
                    },
                )
            )
            for k, t in existing.items()
        )
        after = describe(wanted.items())
        return {"targets": [before, after]} if before != after else {}

    return write


def create_policy(*, actor, targets: Iterable[Mapping[str, Any]] | None = None, **fields: Any) -> SlaPolicy:
    require(actor, "desk.add_slapolicy")
    _unknown(fields, POLICY_FIELDS)
    _check_percent(fields)
    cleaned = clean_targets(targets or [])
    return create_object(SlaPolicy, fields=fields, related=_target_writer(cleaned))


def update_policy(
    policy: SlaPolicy, *, actor, targets: Iterable[Mapping[str, Any]] | None = None, **fields: Any
) -> SlaPolicy:
    """Change a policy; `targets`, when given, replaces its targets."""
    require(actor, "desk.change_slapolicy", policy)
    _unknown(fields, POLICY_FIELDS)
    _check_percent(fields)
    cleaned = clean_targets(targets) if targets is not None else None
    policy, _ = update_object(policy, fields=fields, related=_target_writer(cleaned))
    return policy


def delete_policy(policy: SlaPolicy, *, actor) -> None:
    require(actor, "desk.delete_slapolicy", policy)
    from gatehouse.desk.models import RequestType

    used = list(RequestType.objects.filter(sla_policy=policy).values_list("name", flat=True))
    if used:
        raise ValidationError({"__all__": f"The policy is used by the request types: {', '.join(used)}."})
    if policy.request_set.exists():
        raise ValidationError({"__all__": "Requests are measured against this policy; it cannot be deleted."})
    with transaction.atomic():
        for target in policy.targets.all():
            delete_object(target)
        delete_object(policy)
