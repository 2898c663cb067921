"""The desk's pages: the requester portal, agent queues, the request page and the dashboard.

Thin over desk.selectors (reads, with permissions in the query: a request the user may not see is a 404) and
desk.services (writes, with the signed-in user as actor, so every change is audited with source web).
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views import View

from gatehouse.catalog.selectors import visible_systems
from gatehouse.core.filtersets import SearchFilterSet
from gatehouse.core.views import ObjectListView
from gatehouse.desk import charts, metrics, selectors, services
from gatehouse.desk.forms import (
    UNASSIGN,
    AssignForm,
    BulkForm,
    EscalateForm,
    NewRequestForm,
    PriorityForm,
    ReplyForm,
    RerouteForm,
    StatusForm,
    WatcherForm,
)
from gatehouse.desk.models import OPEN_STATUSES, Priority, Request, SlaState, Status
from gatehouse.desk.tables import MyRequestTable, QueueTable
from gatehouse.directory.models import Person
from gatehouse.users.models import User


def shows_agent_pages(user) -> bool:
    """Queues and the dashboard in the navigation: agents, system owners, admins and auditors (by role, so the
    check costs no query on every page; the pages themselves show what the selectors allow)."""
    return selectors.is_agent(user) or selectors.sees_all(user) or user.has_role("system_owner")


def _guide_suggestions_url() -> str | None:
    try:
        return reverse("desk:guide_suggestions")
    except NoReverseMatch:
        return None


# --- Requester portal ---------------------------------------------------------------------------------------


class MyRequestFilterSet(SearchFilterSet):
    search_fields = ("subject", "description")
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, label="Status")

    class Meta:
        model = Request
        fields = ["q", "status"]


def my_requests_queryset(user):
    """What the user asked for, filed, or watches (an agent's queue work is on the queue page)."""
    person_id = getattr(user, "person_id", None)
    mine = Q(filed_by=user.pk)
    if person_id is not None:
        watched = Request.watchers.through.objects.filter(person_id=person_id).values("request_id")
        mine |= Q(requester=person_id) | Q(pk__in=watched)
    return selectors.visible_requests(user).filter(mine)


class MyRequestsView(ObjectListView):
    title = "My requests"
    template_name = "desk/my_requests.html"
    filterset_class = MyRequestFilterSet
    table_class = MyRequestTable
    filter_fields = ("q", "status")
    empty_message = "No requests yet. Ask for help with “New request”."

    def get_queryset(self, request):
        return my_requests_queryset(request.user)


class ChooseTypeView(LoginRequiredMixin, View):
    """New request, step 1: what kind of help. The system (and other answers) carry over in the query."""

    def get(self, request):
        types = list(selectors.request_types(request.user))
        query = request.GET.urlencode()
        return render(
            request, "desk/choose_type.html", {"title": "New request", "types": types, "query": query}
        )


class NewRequestView(LoginRequiredMixin, View):
    """New request, step 2: the type's form, prefilled from the query (?system=<slug>&subject=...)."""

    def _setup(self, request, type_slug: str):
        request_type = selectors.get_request_type(request.user, type_slug)
        if not request_type.is_active:
            raise Http404("No such request type.")
        systems = visible_systems(request.user).order_by("name").only("pk", "slug", "name")
        return request_type, systems

    def get(self, request, type_slug: str):
        request_type, systems = self._setup(request, type_slug)
        initial = NewRequestForm.initial_from_query(request_type, request.GET)
        form = NewRequestForm(request_type, systems, initial=initial)
        problem = None
        slug = initial.get("system")
        if slug and "system" in form.fields and slug not in form.systems:
            problem = f"Unknown system {slug!r}: choose one from the list."
            form.initial.pop("system")
        return self.render(request, form, request_type, problem=problem)

    def post(self, request, type_slug: str):
        request_type, systems = self._setup(request, type_slug)
        form = NewRequestForm(request_type, systems, request.POST, request.FILES)
        if form.is_valid():
            try:
                created = services.file_request(
                    actor=request.user,
                    request_type=request_type,
                    subject=form.cleaned_data["subject"],
                    description=form.cleaned_data.get("description", ""),
                    fields=form.answers(),
                    system=form.cleaned_data.get("system"),
                    requester=getattr(request.user, "person", None),
                    watchers=form.cleaned_data.get("watchers") or (),
                    attachments=form.cleaned_data.get("attachments") or (),
                )
            except ValidationError as exc:
                form.apply_service_errors(exc)
            else:
                messages.success(request, f"Filed {created.reference}. {created.routing_note}".strip())
                return HttpResponseRedirect(created.get_absolute_url())
        return self.render(request, form, request_type, status=422)

    def render(self, request, form, request_type, status: int = 200, problem: str | None = None):
        context = {
            "title": f"New request: {request_type.name}",
            "form": form,
            "request_type": request_type,
            "problem": problem,
            "suggestions_url": _guide_suggestions_url(),
            "people_emails": None,
        }
        if any(spec.get("type") == "person" for spec in request_type.form_schema or []):
            context["people_emails"] = list(
                Person.objects.order_by("email").values_list("email", flat=True)[:2000]
            )
        return render(request, "desk/new_request.html", context, status=status)


# --- Agent queues -------------------------------------------------------------------------------------------

SLA_FILTER_CHOICES = [
    (SlaState.BREACHED, "Breached"),
    (SlaState.AT_RISK, "At risk"),
    (SlaState.OK, "On track"),
    (SlaState.NONE, "No target"),
]


class QueueFilterSet(SearchFilterSet):
    search_fields = ("subject", "description")
    queue = django_filters.MultipleChoiceFilter(label="Queue", method="filter_queue")
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, label="Status")
    priority = django_filters.MultipleChoiceFilter(choices=Priority.choices, label="Priority")
    type = django_filters.MultipleChoiceFilter(label="Type", method="filter_type")
    sla = django_filters.MultipleChoiceFilter(choices=SLA_FILTER_CHOICES, label="SLA", method="filter_sla")
    assignee = django_filters.CharFilter(label="Assignee", method="filter_assignee")
    system = django_filters.CharFilter(label="System", method="filter_system")

    class Meta:
        model = Request
        fields = ["q", "queue", "status", "priority", "type", "sla", "assignee", "system"]

    def __init__(self, *args, request=None, queues=(), types=(), **kwargs):
        super().__init__(*args, request=request, **kwargs)
        self.filters["queue"].extra["choices"] = [(q.slug, q.name) for q in queues]
        self.filters["type"].extra["choices"] = [(t.slug, t.name) for t in types]
        self.user = getattr(request, "user", None)

    def filter_queue(self, queryset, name, value):
        return queryset.filter(queue__slug__in=value) if value else queryset

    def filter_type(self, queryset, name, value):
        return queryset.filter(request_type__slug__in=value) if value else queryset

    def filter_sla(self, queryset, name, value):
        if not value:
            return queryset
        condition = Q()
        for state in value:
            if state == SlaState.NONE:
                condition |= Q(first_response_state=SlaState.NONE, resolution_state=SlaState.NONE)
            elif state == SlaState.OK:
                worse = (SlaState.AT_RISK, SlaState.BREACHED)
                condition |= (
                    (Q(first_response_state=SlaState.OK) | Q(resolution_state=SlaState.OK))
                    & ~Q(first_response_state__in=worse)
                    & ~Q(resolution_state__in=worse)
                )
            elif state == SlaState.AT_RISK:
                condition |= (
                    (Q(first_response_state=SlaState.AT_RISK) | Q(resolution_state=SlaState.AT_RISK))
                    & ~Q(first_response_state=SlaState.BREACHED)
                    & ~Q(resolution_state=SlaState.BREACHED)
                )
            else:
                condition |= Q(first_response_state=state) | Q(resolution_state=state)
        return queryset.filter(condition)

    def filter_assignee(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        if value == "me":
            return queryset.filter(assignee=self.user.pk)
        if value in ("none", "-"):
            return queryset.filter(assignee__isnull=True)
        return queryset.filter(assignee__username=value)

    def filter_system(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        if value in ("none", "-"):
            return queryset.filter(system__isnull=True)
        return queryset.filter(system__slug=value)


class QueueView(ObjectListView):
    """Requests across the queues the user works (or one queue); open ones unless a status is ticked."""

    title = "Queues"
    template_name = "desk/queues.html"
    results_template = "desk/_queue_results.html"
    filterset_class = None  # built per request (its choices are the user's queues)
    table_class = QueueTable
    filter_fields = ("q", "queue", "status", "priority", "type", "sla", "assignee", "system")
    empty_message = "No request matches. Open requests are shown unless you tick statuses."

    def get(self, request, *args, **kwargs):
        self.queues = list(selectors.agent_queues(request.user))
        self.queue = None
        if kwargs.get("slug"):
            self.queue = next((q for q in self.queues if q.slug == kwargs["slug"]), None)
            if self.queue is None:
                raise Http404("No such queue, or not one you work.")
            self.title = f"Queue: {self.queue.name}"
        types = list(selectors.request_types(request.user).select_related(None).only("slug", "name"))
        queues, user = self.queues, request.user

        class _FilterSet(QueueFilterSet):
            def __init__(self, *args, **kw):
                super().__init__(*args, queues=queues, types=types, **kw)

        _FilterSet.__name__ = "QueueFilterSet"
        self.filterset_class = _FilterSet
        self.user = user
        return super().get(request, *args, **kwargs)

    def get_queryset(self, request):
        qs = selectors.visible_requests(request.user).filter(queue__in=[q.pk for q in self.queues])
        if self.queue is not None:
            qs = qs.filter(queue=self.queue.pk)
        if not request.GET.getlist("status"):
            qs = qs.filter(status__in=OPEN_STATUSES)
        return qs

    def extra_context(self, request) -> dict[str, Any]:
        agents = (
            User.objects.filter(is_active=True, person__teams__queues__in=[q.pk for q in self.queues])
            .distinct()
            .order_by("username")
            .values_list("username", flat=True)[:500]
        )
        systems = visible_systems(request.user).order_by("slug").values_list("slug", flat=True)
        return {
            "queue": self.queue,
            "queues": self.queues,
            "datalists": {"assignee": ["me", "none", *agents], "system": list(systems)},
            "bulk_form": BulkForm(),
            "can_bulk": not request.user.has_role("auditor"),
            "next_url": request.get_full_path(),
        }


class BulkView(LoginRequiredMixin, View):
    """Assign, set status or priority on the ticked requests (each must be one the user may work)."""

    def post(self, request):
        form = BulkForm(request.POST)
        back = _safe_next(request.POST.get("next"), reverse("desk:queues"))
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
            return HttpResponseRedirect(back)
        rows = list(selectors.visible_requests(request.user).filter(pk__in=form.cleaned_data["ids"]))
        if len(rows) != len(form.cleaned_data["ids"]):
            raise Http404("No such request.")
        changes: dict[str, Any] = {}
        if form.cleaned_data["assignee"]:
            name = form.cleaned_data["assignee"].strip()
            if name == UNASSIGN:
                changes["assignee"] = None
            else:
                user = User.objects.filter(username=name, is_active=True).first()
                if user is None:
                    messages.error(request, f"Assign to: no user named {name!r}.")
                    return HttpResponseRedirect(back)
                changes["assignee"] = user
        if form.cleaned_data["status"]:
            changes["status"] = form.cleaned_data["status"]
        if form.cleaned_data["priority"]:
            changes["priority"] = form.cleaned_data["priority"]
        try:
            count = services.bulk_update(rows, actor=request.user, **changes)
        except PermissionDenied as exc:
            messages.error(request, str(exc) or "You may not change some of these requests.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Updated {count} request{'s' if count != 1 else ''}.")
        return HttpResponseRedirect(back)


def _safe_next(url: str | None, default: str) -> str:
    from django.utils.http import url_has_allowed_host_and_scheme

    if url and url_has_allowed_host_and_scheme(url, allowed_hosts=None) and url.startswith("/"):
        return url
    return default


# --- The request page ---------------------------------------------------------------------------------------


def _sla_clock(obj, now) -> list[dict] | dict | None:
    try:
        from gatehouse.desk import sla
    except ImportError:
        return None
    clock = getattr(sla, "clock", None)
    return clock(obj, now) if clock else None


class RequestView(LoginRequiredMixin, View):
    def get(self, request, pk: int):
        obj = selectors.get_request(request.user, pk)
        return self.render(request, obj)

    def render(self, request, obj, forms_: dict | None = None, status: int = 200):
        user = request.user
        can_work = selectors.can_work(user, obj)
        sees_all = selectors.sees_all(user)
        agent_view = can_work or sees_all
        forms_ = forms_ or {}
        type_fields = {spec["name"]: spec for spec in obj.request_type.form_schema or []}
        answers = [
            (type_fields.get(name, {}).get("label") or name.replace("_", " ").capitalize(), value)
            for name, value in (obj.fields or {}).items()
        ]
        context = {
            "title": f"{obj.reference}: {obj.subject}",
            "object": obj,
            "answers": answers,
            "timeline": selectors.request_timeline(user, obj),
            "attachments": list(selectors.visible_attachments(user, obj)),
            "watchers": list(obj.watchers.all()),
            "escalations": list(obj.escalations.select_related("from_queue", "to_queue", "by")),
            "can_work": can_work,
            "agent_view": agent_view,
            "can_reply": can_work or selectors.is_requester_side(user, obj),
            "clock": _sla_clock(obj, timezone.now()),
            "reply_form": forms_.get("reply") or ReplyForm(),
            "assign_form": forms_.get("assign")
            or AssignForm(initial={"assignee": obj.assignee.username if obj.assignee else ""}),
            "status_form": forms_.get("status") or StatusForm(initial={"status": obj.status}),
            "priority_form": forms_.get("priority") or PriorityForm(initial={"priority": obj.priority}),
            "escalate_form": forms_.get("escalate") or EscalateForm(),
            "reroute_form": forms_.get("reroute") or RerouteForm(initial={"queue": obj.queue.slug}),
            "watcher_form": forms_.get("watcher") or WatcherForm(),
            "agents": list(selectors.queue_agents(obj.queue).values_list("username", flat=True)[:200])
            if can_work
            else [],
        }
        return render(request, "desk/request_detail.html", context, status=status)


class RequestActionView(LoginRequiredMixin, View):
    """A POST from the request page: a form, a service call, back to the page (or the page with errors, 422)."""

    form_class: type[forms.Form]
    form_key = ""
    needs_work = True  # agents, owners, assignee, admins; replies are also open to the requester side

    def allowed(self, user, obj) -> bool:
        return selectors.can_work(user, obj)

    def act(self, request, obj, form) -> str:
        raise NotImplementedError

    def post(self, request, pk: int):
        obj = selectors.get_request(request.user, pk)
        if not self.allowed(request.user, obj):
            raise PermissionDenied
        form = (
            self.form_class(request.POST, request.FILES)
            if self.form_key == "reply"
            else self.form_class(request.POST)
        )
        if form.is_valid():
            try:
                message = self.act(request, obj, form)
            except ValidationError as exc:
                _apply_errors(form, exc)
            else:
                messages.success(request, message)
                return HttpResponseRedirect(obj.get_absolute_url())
        obj = selectors.get_request(request.user, pk)  # fresh: nothing partial was saved
        return RequestView().render(request, obj, {self.form_key: form}, status=422)


def _apply_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for key, errors in exc.message_dict.items():
            target = key if key in form.fields else None
            if key in ("upload", "file", "attachment") and "attachments" in form.fields:
                target = "attachments"
            form.add_error(target, errors)
    else:
        form.add_error(None, exc.messages)


class ReplyView(RequestActionView):
    form_class = ReplyForm
    form_key = "reply"

    def allowed(self, user, obj) -> bool:
        return selectors.can_work(user, obj) or selectors.is_requester_side(user, obj)

    def act(self, request, obj, form) -> str:
        internal = form.cleaned_data["internal"]
        if internal and not selectors.can_work(request.user, obj):
            raise ValidationError({"internal": "Only agents write internal notes."})
        services.reply(
            obj,
            actor=request.user,
            body=form.cleaned_data["body"],
            internal=internal,
            attachments=form.cleaned_data["attachments"],
        )
        return "Note added." if internal else "Reply sent."


class AssignView(RequestActionView):
    form_class = AssignForm
    form_key = "assign"

    def act(self, request, obj, form) -> str:
        name = form.cleaned_data["assignee"].strip()
        assignee = None
        if name:
            assignee = User.objects.filter(username=name, is_active=True).first()
            if assignee is None:
                raise ValidationError({"assignee": f"No user named {name!r}."})
        services.assign(obj, actor=request.user, assignee=assignee)
        return f"Assigned to {assignee}." if assignee else "Unassigned."


class StatusView(RequestActionView):
    form_class = StatusForm
    form_key = "status"

    def act(self, request, obj, form) -> str:
        updated = services.set_status(obj, actor=request.user, status=form.cleaned_data["status"])
        return f"Status: {updated.get_status_display()}."


class PriorityView(RequestActionView):
    form_class = PriorityForm
    form_key = "priority"

    def act(self, request, obj, form) -> str:
        updated = services.update_request(obj, actor=request.user, priority=form.cleaned_data["priority"])
        return f"Priority: {updated.get_priority_display()}."


class EscalateView(RequestActionView):
    form_class = EscalateForm
    form_key = "escalate"

    def act(self, request, obj, form) -> str:
        updated = services.escalate(
            obj, actor=request.user, reason=form.cleaned_data["reason"], queue=form.cleaned_data["queue"]
        )
        return f"Escalated to {updated.queue} (tier {updated.tier})."


class RerouteView(RequestActionView):
    form_class = RerouteForm
    form_key = "reroute"

    def act(self, request, obj, form) -> str:
        updated = services.reroute(
            obj, actor=request.user, queue=form.cleaned_data["queue"], reason=form.cleaned_data["reason"]
        )
        return f"Re-routed to {updated.queue}."


class WatcherView(RequestActionView):
    form_class = WatcherForm
    form_key = "watcher"

    def allowed(self, user, obj) -> bool:
        return selectors.can_work(user, obj) or selectors.is_requester_side(user, obj)

    def act(self, request, obj, form) -> str:
        person = form.cleaned_data["email"]
        if form.cleaned_data["remove"]:
            services.remove_watcher(obj, actor=request.user, person=person)
            return f"{person} no longer watches this request."
        services.add_watcher(obj, actor=request.user, person=person)
        return f"{person} now watches this request."


class AttachmentView(LoginRequiredMixin, View):
    """Download an attachment of a request the user can see (internal notes' files for agents only)."""

    def get(self, request, pk: int, attachment_pk: int):
        obj = selectors.get_request(request.user, pk)
        attachment = selectors.visible_attachments(request.user, obj).filter(pk=attachment_pk).first()
        if attachment is None:
            raise Http404("No such attachment.")
        try:
            handle = attachment.file.open("rb")
        except (FileNotFoundError, OSError) as exc:
            raise Http404("The file is missing.") from exc
        response = FileResponse(handle, as_attachment=True, filename=attachment.name)
        response["Content-Type"] = "application/octet-stream"  # never rendered inline
        response["X-Content-Type-Options"] = "nosniff"
        return response


# --- Dashboard ----------------------------------------------------------------------------------------------


class DashboardView(LoginRequiredMixin, View):
    def get(self, request):
        user = request.user
        if not shows_agent_pages(user) and not selectors.agent_queues(user).exists():
            raise PermissionDenied
        period, errors = metrics.parse_range(request.GET)
        data = metrics.dashboard(selectors.visible_requests(user), period)
        context = {
            "title": "Desk dashboard",
            "period": period,
            "errors": errors,
            "data": data,
            "range_choices": metrics.RANGE_CHOICES,
            "from_value": request.GET.get("from", ""),
            "to_value": request.GET.get("to", ""),
            "day_chart": charts.line_chart(data.by_day),
            "type_chart": charts.bar_chart(data.by_type),
            "system_chart": charts.bar_chart(data.by_system),
            "first_response": {
                "median": metrics.format_duration(data.first_response.median),
                "p90": metrics.format_duration(data.first_response.p90),
                "count": data.first_response.count,
            },
            "resolution": {
                "median": metrics.format_duration(data.resolution.median),
                "p90": metrics.format_duration(data.resolution.p90),
                "count": data.resolution.count,
            },
            "adherence": {
                "rate": metrics.format_percent(data.adherence.rate),
                "first_response": metrics.format_percent(data.adherence.first_response_rate),
                "resolution": metrics.format_percent(data.adherence.resolution_rate),
                "decided": data.adherence.decided,
                "met": data.adherence.met,
            },
            "deflection": {
                "rate": metrics.format_percent(data.deflection.rate),
                "deflections": data.deflection.deflections,
                "requests": data.deflection.requests,
            },
        }
        return render(request, "desk/dashboard.html", context)  # bad dates: shown inline, default range
