"""Pages for business calendars (with holidays) and SLA policies (with targets): everyone signed in reads,
admins edit. Weekly hours, holidays and targets are edited as short lines of text, one item a line, and a bad
line is reported inline by its number."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from django import forms
from django.contrib import messages as flash
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from gatehouse.core.conditions import describe
from gatehouse.core.forms import ServiceForm
from gatehouse.core.permissions import require
from gatehouse.core.views import ObjectDeleteView, ObjectEditView, apply_service_errors
from gatehouse.desk import selectors, services, sla_config
from gatehouse.desk.forms_schema import validate_form_schema
from gatehouse.desk.models import (
    OPEN_STATUSES,
    BusinessCalendar,
    Priority,
    Queue,
    RequestType,
    RoutingRule,
    SlaPolicy,
    default_weekly_hours,
)
from gatehouse.desk.routing import validate_rule
from gatehouse.directory.models import Team

DAY_NAMES = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
DAY_LABELS = {v: k.capitalize() for k, v in DAY_NAMES.items()}
_SPAN = re.compile(r"^(\d{1,2}:\d{2})-(\d{1,2}:\d{2})$")


# -- the text formats ------------------------------------------------------------------------------------------


def hours_to_text(weekly_hours: dict) -> str:
    lines = []
    for day in range(1, 8):
        spans = (weekly_hours or {}).get(str(day)) or []
        if spans:
            lines.append(f"{DAY_LABELS[day]} " + " ".join(f"{a}-{b}" for a, b in spans))
    return "\n".join(lines)


def text_to_hours(text: str) -> dict[str, list[list[str]]]:
    """ "Mon 09:00-12:00 13:00-17:00" a line -> {"1": [["09:00", "12:00"], ["13:00", "17:00"]]}."""
    result: dict[str, list[list[str]]] = {}
    errors = []
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        day = DAY_NAMES.get(parts[0][:3].lower()) or (
            int(parts[0]) if parts[0] in "1234567" and parts[0] else None
        )
        if day is None:
            errors.append(f'Line {number}: start with a day (Mon ... Sun), not "{parts[0]}".')
            continue
        if str(day) in result:
            errors.append(f"Line {number}: {DAY_LABELS[day]} is given twice; put all its spans on one line.")
            continue
        spans = []
        for part in parts[1:]:
            match = _SPAN.match(part)
            if not match:
                errors.append(f'Line {number}: "{part}" is not a span like 09:00-17:00.')
                break
            spans.append([match.group(1).zfill(5), match.group(2).zfill(5)])
        result[str(day)] = spans
    if errors:
        raise forms.ValidationError(errors)
    return result


def holidays_to_text(holidays) -> str:
    return "\n".join(f"{h.date:%Y-%m-%d} {h.name}" for h in holidays)


def text_to_holidays(text: str) -> list[dict[str, Any]]:
    """ "2026-12-25 Christmas Day" a line."""
    result, errors = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        day_text, _, name = line.partition(" ")
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            errors.append(f'Line {number}: "{day_text}" is not a date like 2026-12-25.')
            continue
        if not name.strip():
            errors.append(f"Line {number}: name the holiday after its date.")
            continue
        result.append({"date": day, "name": name.strip()})
    if errors:
        raise forms.ValidationError(errors)
    return result


def targets_to_text(targets) -> str:
    return "\n".join(
        f"{t.priority}{f' tier {t.tier}' if t.tier else ''} {t.first_response_minutes} {t.resolution_minutes}"
        for t in targets
    )


def text_to_targets(text: str) -> list[dict[str, Any]]:
    """ "urgent 15 120" or "urgent tier 3 30 240" a line: priority, optional tier, minutes to first response
    and to resolution."""
    result, errors = [], []
    pattern = re.compile(r"^(\w+)(?:\s+tier\s+(\d))?\s+(\d+)\s+(\d+)$", re.IGNORECASE)
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        match = pattern.match(line)
        if not match:
            errors.append(
                f'Line {number}: write "priority [tier N] first-response-minutes resolution-minutes".'
            )
            continue
        priority = match.group(1).lower()
        if priority not in Priority.values:
            errors.append(f'Line {number}: "{priority}" is not a priority ({", ".join(Priority.values)}).')
            continue
        result.append(
            {
                "priority": priority,
                "tier": int(match.group(2)) if match.group(2) else None,
                "first_response_minutes": int(match.group(3)),
                "resolution_minutes": int(match.group(4)),
            }
        )
    if errors:
        raise forms.ValidationError(errors)
    return result


def _by_line(exc: ValidationError, field: str) -> ValidationError:
    """Service errors keyed "holidays.3.date" shown on the form's field as "Line 4: ..."."""
    errors: dict[str, list[str]] = {}
    for key, messages in exc.message_dict.items():
        parts = key.split(".")
        if parts[0] == field and len(parts) >= 2 and parts[1].isdigit():
            errors.setdefault(field, []).extend(f"Line {int(parts[1]) + 1}: {m}" for m in messages)
        else:
            errors.setdefault(key, []).extend(messages)
    return ValidationError(errors)


# -- forms -----------------------------------------------------------------------------------------------------


class CalendarForm(ServiceForm):
    model = BusinessCalendar
    model_fields = ("name", "slug", "time_zone", "weekly_hours")
    weekly_hours = forms.CharField(
        initial=hours_to_text(default_weekly_hours()),
        widget=forms.Textarea(attrs={"rows": 7}),
        help_text="One day a line: a day and its spans, e.g. Mon 09:00-12:00 13:00-17:00. 24:00 ends a day. "
        "Days not listed are closed.",
    )
    holidays = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="One a line: the date and a name, e.g. 2026-12-25 Christmas Day. The whole local day is closed.",
    )

    def initial_from(self, instance) -> dict[str, Any]:
        initial = super().initial_from(instance)
        initial["weekly_hours"] = hours_to_text(instance.weekly_hours)
        initial["holidays"] = holidays_to_text(instance.holidays.all())
        return initial

    def clean_weekly_hours(self):
        return text_to_hours(self.cleaned_data["weekly_hours"])

    def clean_holidays(self):
        return text_to_holidays(self.cleaned_data.get("holidays") or "")


class PolicyForm(ServiceForm):
    model = SlaPolicy
    model_fields = ("name", "slug", "calendar", "at_risk_percent")
    at_risk_percent = forms.IntegerField(
        min_value=1,
        max_value=99,
        initial=80,
        label="At risk at (%)",
        help_text="Warn at this share of a target.",
    )
    targets = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="One a line: priority, optional tier, business minutes to first response and to resolution, "
        "e.g. urgent 15 240 or urgent tier 3 30 480. A tier's own target wins at that tier.",
    )

    def initial_from(self, instance) -> dict[str, Any]:
        initial = super().initial_from(instance)
        initial["targets"] = targets_to_text(sla_config.sorted_targets(instance))
        return initial

    def clean_targets(self):
        return text_to_targets(self.cleaned_data.get("targets") or "")


# -- views -----------------------------------------------------------------------------------------------------


class CalendarListView(LoginRequiredMixin, View):
    def get(self, request):
        calendars = list(sla_config.calendar_list(request.user).order_by("name"))
        for calendar in calendars:
            calendar.hours_text = hours_to_text(calendar.weekly_hours)
        return render(
            request,
            "desk/config/calendar_list.html",
            {
                "title": "Business calendars",
                "calendars": calendars,
                "can_add": request.user.has_perm("desk.add_businesscalendar"),
            },
        )


class CalendarView(LoginRequiredMixin, View):
    def get(self, request, slug):
        calendar = sla_config.get_calendar(request.user, slug)
        days = [(DAY_LABELS[d], (calendar.weekly_hours or {}).get(str(d)) or []) for d in range(1, 8)]
        return render(
            request,
            "desk/config/calendar_detail.html",
            {
                "object": calendar,
                "days": days,
                "policies": calendar.policies.order_by("name"),
                "can_edit": request.user.has_perm("desk.change_businesscalendar", calendar),
            },
        )


class _WithLinesEditView(ObjectEditView):
    """Edit a calendar or a policy: its fields plus lines of rows (holidays, targets) that replace the old ones.

    Subclasses name the model permission suffix, the selector, the two services and the lines field.
    """

    perm_model = ""
    lines_field = ""
    get_one: Callable  # selector (user, slug) -> object
    create: Callable  # service (*, actor, <lines field>, **fields)
    update: Callable  # service (obj, *, actor, <lines field>, **fields)

    def get_object(self, request, slug=None):
        return self.get_one(request.user, slug) if slug else None

    @property
    def permission(self):  # ObjectEditView reads it as an attribute
        action = "change" if self.kwargs.get("slug") else "add"
        return f"desk.{action}_{self.perm_model}"

    def save(self, request, form, obj):
        fields = form.service_fields()
        lines = {self.lines_field: form.cleaned_data.get(self.lines_field) or []}
        try:
            if obj is None:
                return self.create(actor=request.user, **lines, **fields)
            return self.update(obj, actor=request.user, **lines, **fields)
        except ValidationError as exc:
            raise _by_line(exc, self.lines_field) from exc


class CalendarEditView(_WithLinesEditView):
    form_class = CalendarForm
    title = "New business calendar"
    cancel_url_name = "desk:calendars"
    perm_model = "businesscalendar"
    lines_field = "holidays"
    get_one = staticmethod(sla_config.get_calendar)
    create = staticmethod(sla_config.create_calendar)
    update = staticmethod(sla_config.update_calendar)


class PolicyListView(LoginRequiredMixin, View):
    def get(self, request):
        policies = list(sla_config.policy_list(request.user).order_by("name"))
        for policy in policies:
            policy.sorted_targets = sla_config.sorted_targets(policy)
        return render(
            request,
            "desk/config/policy_list.html",
            {
                "title": "SLA policies",
                "policies": policies,
                "can_add": request.user.has_perm("desk.add_slapolicy"),
            },
        )


class PolicyView(LoginRequiredMixin, View):
    def get(self, request, slug):
        policy = sla_config.get_policy(request.user, slug)
        return render(
            request,
            "desk/config/policy_detail.html",
            {
                "object": policy,
                "targets": sla_config.sorted_targets(policy),
                "request_types": policy.requesttype_set.order_by("position", "name"),
                "can_edit": request.user.has_perm("desk.change_slapolicy", policy),
            },
        )


class PolicyEditView(_WithLinesEditView):
    form_class = PolicyForm
    title = "New SLA policy"
    cancel_url_name = "desk:sla_policies"
    perm_model = "slapolicy"
    lines_field = "targets"
    get_one = staticmethod(sla_config.get_policy)
    create = staticmethod(sla_config.create_policy)
    update = staticmethod(sla_config.update_policy)


# -- request types, queues and routing rules (desk settings) ---------------------------------------------------
#
# Everyone who may view them reads (request types and queues: every team member; routing rules: agents, admins
# and auditors); admins write, through the services in desk/services.py. A type's form schema and a rule's
# condition and actions are JSON in a textarea: a syntax error is shown by line and column, a validation error
# by its path inside the JSON (e.g. form_schema[0].choices), and nothing is saved.

MAX_JSON_CHARS = 100_000


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed in JSON")


def parse_json_text(text: str, *, empty: Any) -> Any:
    """Parse a textarea's JSON; a syntax error names its line and column. Empty text is ``empty``."""
    if not text or not text.strip():
        return empty
    if len(text) > MAX_JSON_CHARS:
        raise forms.ValidationError(f"At most {MAX_JSON_CHARS} characters (it has {len(text)}).")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(f"Line {exc.lineno}, column {exc.colno}: {exc.msg}.") from None
    except ValueError as exc:  # NaN, Infinity
        raise forms.ValidationError(f"Not valid JSON: {exc}.") from None
    except RecursionError:
        raise forms.ValidationError("Not valid JSON: nested too deeply.") from None


def json_path(key: str) -> str:
    """ "form_schema.0.choices" -> "form_schema[0].choices"; "condition.all.1.op" -> "condition.all[1].op"."""
    out = ""
    for part in key.split("."):
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _by_path(exc: ValidationError, json_fields: tuple[str, ...]) -> ValidationError:
    """Errors keyed inside a JSON field ("form_schema.0.choices") shown on that field, naming the path."""
    if not hasattr(exc, "error_dict"):
        return exc
    errors: dict[str, list[str]] = {}
    for key, found in exc.message_dict.items():
        root = key.split(".", 1)[0]
        if root in json_fields:
            where = json_path(key)
            errors.setdefault(root, []).extend(f"At {where}: {m}" if where != root else m for m in found)
        else:
            errors.setdefault(key, []).extend(found)
    return ValidationError(errors)


def actions_text(actions: Any) -> str:
    """{"queue": "sec", "labels": ["a", "b"]} -> "queue: sec; labels: a, b"."""
    if not isinstance(actions, dict):
        return ""
    return "; ".join(
        f"{key}: {', '.join(map(str, value)) if isinstance(value, list) else value}"
        for key, value in actions.items()
    )


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


class JsonTextarea(forms.CharField):
    def __init__(self, *, rows: int = 12, **kwargs: Any):
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", False)
        super().__init__(
            widget=forms.Textarea(attrs={"rows": rows, "class": "code", "spellcheck": "false"}), **kwargs
        )


class RequestTypeForm(ServiceForm):
    model = RequestType
    model_fields = (
        "name",
        "slug",
        "description",
        "system_field",
        "default_priority",
        "sla_policy",
        "default_queue",
        "position",
        "is_active",
        "form_schema",
    )
    groups = (
        ("Request type", ("name", "slug", "description", "position", "is_active")),
        ("Handling", ("system_field", "default_priority", "sla_policy", "default_queue")),
        ("Form", ("form_schema",)),
    )
    form_schema = JsonTextarea(
        rows=16,
        label="Form fields (JSON)",
        initial="[]",
        help_text='A list of fields, e.g. [{"name": "environment", "label": "Environment", "type": "choice", '
        '"required": true, "choices": ["Production", "Staging"], "help_text": "..."}]. Types: text, textarea, '
        "choice, multichoice, boolean, date, email, person.",
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["sla_policy"].queryset = SlaPolicy.objects.order_by("name")
        self.fields["default_queue"].queryset = Queue.objects.order_by("name")

    def initial_from(self, instance) -> dict[str, Any]:
        initial = super().initial_from(instance)
        initial["form_schema"] = _pretty(instance.form_schema or [])
        return initial

    def clean_form_schema(self):
        schema = parse_json_text(self.cleaned_data.get("form_schema") or "", empty=[])
        try:
            validate_form_schema(schema)
        except ValidationError as exc:
            raise ValidationError(_by_path(exc, ("form_schema",)).message_dict["form_schema"]) from None
        return schema


class QueueForm(ServiceForm):
    model = Queue
    model_fields = ("name", "slug", "team", "tier", "is_triage", "round_robin")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = Team.objects.order_by("name")
        self.fields["team"].help_text = "Its agents are this team's members with a sign-in."


class RoutingRuleForm(ServiceForm):
    model = RoutingRule
    model_fields = ("name", "position", "is_active", "condition", "actions")
    condition = JsonTextarea(
        rows=10,
        label="Condition (JSON)",
        initial="{}",
        help_text='Empty or {} matches every request. {"all": [...]}, {"any": [...]}, {"not": {...}} of '
        '{"field": "type", "op": "eq", "value": "access-request"}. Fields: type, system, system_label, '
        "priority, channel, subject, fields.<name>, requester.<attribute>.",
    )
    actions = JsonTextarea(
        rows=6,
        label="Actions (JSON)",
        help_text='At least one of {"queue": "<queue slug>", "priority": "high", "labels": ["..."], '
        '"assignee": "<username>"}.',
    )

    def initial_from(self, instance) -> dict[str, Any]:
        initial = super().initial_from(instance)
        initial["condition"] = _pretty(instance.condition or {})
        initial["actions"] = _pretty(instance.actions or {})
        return initial

    def clean_condition(self):
        return parse_json_text(self.cleaned_data.get("condition") or "", empty={})

    def clean_actions(self):
        return parse_json_text(self.cleaned_data.get("actions") or "", empty={})

    def clean(self):
        cleaned = super().clean()
        if "condition" in cleaned and "actions" in cleaned:
            try:
                validate_rule(cleaned["condition"], cleaned["actions"])
            except ValidationError as exc:
                apply_service_errors(self, _by_path(exc, ("condition", "actions")))
        return cleaned


# -- reads -----------------------------------------------------------------------------------------------------


def config_request_types(user):
    """Request types for the settings pages: inactive ones only for agents, admins and auditors."""
    require(user, "desk.view_requesttype")
    qs = RequestType.objects.select_related("sla_policy", "default_queue")
    if not user.has_perm("desk.view_routingrule"):
        qs = qs.filter(is_active=True)
    return qs.order_by("position", "name")


def config_get_request_type(user, slug: str) -> RequestType:
    obj = config_request_types(user).filter(slug=slug).first()
    if obj is None:
        raise Http404("No such request type.")
    return obj


def config_queues(user):
    require(user, "desk.view_queue")
    return (
        Queue.objects.select_related("team")
        .annotate(open_count=Count("requests", filter=Q(requests__status__in=OPEN_STATUSES)))
        .order_by("name")
    )


def config_get_queue(user, slug: str) -> Queue:
    obj = config_queues(user).filter(slug=slug).first()
    if obj is None:
        raise Http404("No such queue.")
    return obj


def config_get_rule(user, pk: int) -> RoutingRule:
    obj = selectors.routing_rules(user).filter(pk=pk).first()
    if obj is None:
        raise Http404("No such routing rule.")
    return obj


# -- views -----------------------------------------------------------------------------------------------------


class ConfigEditView(ObjectEditView):
    """ObjectEditView for objects whose settings page is not their get_absolute_url."""

    detail_url_name = ""
    lookup = "slug"

    def detail_url(self, obj) -> str:
        return reverse(self.detail_url_name, args=[getattr(obj, self.lookup)])

    def post(self, request, **kwargs):
        obj = self._load(request, kwargs)
        form = (
            self.form_class(request.POST, instance=obj) if obj is not None else self.form_class(request.POST)
        )
        if form.is_valid():
            try:
                saved = self.save(request, form, obj)
            except ValidationError as exc:
                apply_service_errors(form, _by_path(exc, self.json_fields))
            else:
                flash.success(request, f"Saved {saved}.")
                return HttpResponseRedirect(self.detail_url(saved))
        return self.render(request, form, obj, status=422 if form.errors else 200)

    json_fields: tuple[str, ...] = ()

    def render(self, request, form, obj, status: int = 200):
        context = {
            "form": form,
            "object": obj,
            "title": f"Edit {obj}" if obj is not None else self.title,
            "cancel_url": self.detail_url(obj) if obj is not None else reverse(self.cancel_url_name),
        }
        return render(request, self.template_name, context, status=status)


class SettingsView(LoginRequiredMixin, View):
    """The desk's settings: request types, queues, routing rules, calendars, SLA policies, chat."""

    def get(self, request):
        user = request.user
        require(user, "desk.view_requesttype")
        return render(
            request,
            "desk/config/settings.html",
            {
                "title": "Desk settings",
                "can_rules": user.has_perm("desk.view_routingrule"),
                "can_chat": user.has_perm("desk.view_chatdelivery"),
                "can_webhooks": user.has_perm("desk.view_chatwebhook"),
                "is_admin": user.has_perm("desk.change_requesttype"),
            },
        )


class RequestTypeListView(LoginRequiredMixin, View):
    def get(self, request):
        return render(
            request,
            "desk/config/request_type_list.html",
            {
                "title": "Request types",
                "types": list(config_request_types(request.user)),
                "can_add": request.user.has_perm("desk.add_requesttype"),
            },
        )


class RequestTypeView(LoginRequiredMixin, View):
    def get(self, request, slug):
        obj = config_get_request_type(request.user, slug)
        return render(
            request,
            "desk/config/request_type_detail.html",
            {
                "object": obj,
                "schema_json": _pretty(obj.form_schema or []),
                "can_edit": request.user.has_perm("desk.change_requesttype", obj),
            },
        )


class RequestTypeEditView(ConfigEditView):
    form_class = RequestTypeForm
    title = "New request type"
    cancel_url_name = "desk:request_types"
    detail_url_name = "desk:request_type"
    json_fields = ("form_schema",)

    def get_object(self, request, slug=None):
        return config_get_request_type(request.user, slug) if slug else None

    @property
    def permission(self):  # ObjectEditView reads it as an attribute
        return "desk.change_requesttype" if self.kwargs.get("slug") else "desk.add_requesttype"

    def save(self, request, form, obj):
        fields = form.service_fields()
        if obj is None:
            return services.create_request_type(actor=request.user, **fields)
        return services.update_request_type(obj, actor=request.user, **fields)


class RequestTypeActiveView(LoginRequiredMixin, View):
    """POST is_active=0 deactivates a type (no longer offered to requesters; its requests stay), 1 reactivates."""

    def post(self, request, slug):
        obj = config_get_request_type(request.user, slug)
        if not request.user.has_perm("desk.change_requesttype", obj):
            raise PermissionDenied
        active = request.POST.get("is_active") == "1"
        try:
            services.update_request_type(obj, actor=request.user, is_active=active)
        except ValidationError as exc:
            flash.error(request, " ".join(exc.messages))
        else:
            flash.success(request, f"{obj} is {'offered again' if active else 'no longer offered'}.")
        return HttpResponseRedirect(reverse("desk:request_type", args=[obj.slug]))


class QueueListView(LoginRequiredMixin, View):
    def get(self, request):
        return render(
            request,
            "desk/config/queue_list.html",
            {
                "title": "Queues",
                "queues": list(config_queues(request.user)),
                "can_add": request.user.has_perm("desk.add_queue"),
            },
        )


class QueueSettingsView(LoginRequiredMixin, View):
    def get(self, request, slug):
        obj = config_get_queue(request.user, slug)
        return render(
            request,
            "desk/config/queue_detail.html",
            {
                "object": obj,
                "agents": list(selectors.queue_agents(obj).select_related("person")),
                "request_types": obj.requesttype_set.order_by("position", "name"),
                "can_edit": request.user.has_perm("desk.change_queue", obj),
            },
        )


class QueueEditView(ConfigEditView):
    form_class = QueueForm
    title = "New queue"
    cancel_url_name = "desk:queue_list"
    detail_url_name = "desk:queue_detail"

    def get_object(self, request, slug=None):
        return config_get_queue(request.user, slug) if slug else None

    @property
    def permission(self):
        return "desk.change_queue" if self.kwargs.get("slug") else "desk.add_queue"

    def save(self, request, form, obj):
        fields = form.service_fields()
        if obj is None:
            return services.create_queue(actor=request.user, **fields)
        # The annotation is not a field: update a fresh row so the audit diff sees only real changes.
        return services.update_queue(Queue.objects.get(pk=obj.pk), actor=request.user, **fields)


class RoutingRuleListView(LoginRequiredMixin, View):
    def get(self, request):
        rules = list(selectors.routing_rules(request.user))
        for rule in rules:
            rule.condition_text = describe(rule.condition)
            rule.actions_text = actions_text(rule.actions)
        return render(
            request,
            "desk/config/routing_rule_list.html",
            {
                "title": "Routing rules",
                "rules": rules,
                "can_add": request.user.has_perm("desk.add_routingrule"),
                "can_move": request.user.has_perm("desk.change_routingrule"),
            },
        )


class RoutingRuleView(LoginRequiredMixin, View):
    def get(self, request, pk):
        obj = config_get_rule(request.user, pk)
        return render(
            request,
            "desk/config/routing_rule_detail.html",
            {
                "object": obj,
                "condition_text": describe(obj.condition),
                "actions_text": actions_text(obj.actions),
                "condition_json": _pretty(obj.condition or {}),
                "actions_json": _pretty(obj.actions or {}),
                "can_edit": request.user.has_perm("desk.change_routingrule", obj),
                "can_delete": request.user.has_perm("desk.delete_routingrule", obj),
            },
        )


class RoutingRuleEditView(ConfigEditView):
    form_class = RoutingRuleForm
    title = "New routing rule"
    cancel_url_name = "desk:routing_rules"
    detail_url_name = "desk:routing_rule"
    lookup = "pk"
    json_fields = ("condition", "actions")

    def get_object(self, request, pk=None):
        return config_get_rule(request.user, pk) if pk else None

    @property
    def permission(self):
        return "desk.change_routingrule" if self.kwargs.get("pk") else "desk.add_routingrule"

    def save(self, request, form, obj):
        fields = form.service_fields()
        if obj is None:
            return services.create_routing_rule(actor=request.user, **fields)
        return services.update_routing_rule(obj, actor=request.user, **fields)


class RoutingRuleDeleteView(ObjectDeleteView):
    template_name = "desk/config/routing_rule_delete.html"
    permission = "desk.delete_routingrule"

    @property
    def success_url(self):
        return reverse("desk:routing_rules")

    def get_object(self, request, pk):
        return config_get_rule(request.user, pk)

    def delete(self, request, obj) -> None:
        services.delete_routing_rule(obj, actor=request.user)


class RoutingRuleMoveView(LoginRequiredMixin, View):
    """POST direction=up|down: swap the rule with its neighbour in the order rules run."""

    def post(self, request, pk):
        obj = config_get_rule(request.user, pk)
        if not request.user.has_perm("desk.change_routingrule", obj):
            raise PermissionDenied
        try:
            services.move_routing_rule(obj, actor=request.user, direction=request.POST.get("direction", ""))
        except ValidationError as exc:
            flash.error(request, " ".join(exc.messages))
        return HttpResponseRedirect(reverse("desk:routing_rules") + f"#rule-{obj.pk}")
