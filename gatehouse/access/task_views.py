"""Fulfilment pages: the provisioners' task queue, the task page with the evidence form, retry, the security
list, and renew / do-not-renew on grants (templates/access/_grant_actions.html)."""

from __future__ import annotations

import django_filters
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from gatehouse.access import expiry, fulfilment
from gatehouse.access.models import FulfilmentTask, Grant
from gatehouse.catalog.models import System
from gatehouse.core.filtersets import SearchFilterSet
from gatehouse.core.tables import Column, Table
from gatehouse.core.views import ObjectListView

State = FulfilmentTask.State


def shows_tasks(user) -> bool:
    """Fulfilment in the navigation: whoever sees every task, and the roles that provision (by role: no query;
    a provisioner without these roles reaches the queue from the mail that assigns the task)."""
    return user.has_perm(fulfilment.VIEW_ALL) or any(
        user.has_role(role) for role in ("engineer", "system_owner", "helpdesk_analyst")
    )


class TaskFilterSet(SearchFilterSet):
    search_fields = ("person__name", "person__email", "entitlement__name", "entitlement__system__name")
    state = django_filters.MultipleChoiceFilter(choices=State.choices)
    reason = django_filters.MultipleChoiceFilter(choices=FulfilmentTask.Reason.choices)
    kind = django_filters.ChoiceFilter(choices=FulfilmentTask.Kind.choices)
    system = django_filters.ModelChoiceFilter(
        field_name="entitlement__system",
        queryset=System.objects.all(),
        to_field_name="slug",
        label="System (slug)",
    )
    overdue = django_filters.BooleanFilter(method="filter_overdue", label="Overdue")

    class Meta:
        model = FulfilmentTask
        fields = ["q", "state", "reason", "kind", "system", "overdue"]

    def filter_overdue(self, queryset, name, value):
        if value is None:
            return queryset
        condition = Q(state__in=fulfilment.OPEN_STATES, due_at__lt=timezone.now())
        return queryset.filter(condition) if value else queryset.exclude(condition)


def state_badge(task):
    return format_html('<span class="badge task-{}">{}</span>', task.state, task.get_state_display())


def _due(task):
    if task.due_at is None:
        return ""
    if fulfilment.is_overdue(task):
        return format_html('<span class="badge overdue">Overdue</span> {}', f"{task.due_at:%Y-%m-%d %H:%M}")
    return f"{task.due_at:%Y-%m-%d %H:%M}"


def _title(task):
    return format_html('<a href="{}">#{} {}</a>', task.get_absolute_url(), task.pk, task.get_kind_display())


class TaskTable(Table):
    columns = (
        Column("task", "Task", accessor=_title, order_by="id"),
        Column("state", "State", accessor=state_badge, order_by="state"),
        Column("reason", "Reason", accessor=lambda t: t.get_reason_display(), order_by="reason"),
        Column("person", "Person", accessor=lambda t: t.person.name, order_by="person__name"),
        Column(
            "system",
            "System",
            accessor=lambda t: t.entitlement.system.name,
            order_by="entitlement__system__name",
        ),
        Column(
            "entitlement", "Entitlement", accessor=lambda t: t.entitlement.name, order_by="entitlement__name"
        ),
        Column("flag", "Security", accessor=lambda t: "Admin access" if t.security_flag else ""),
        Column("due", "Due", accessor=_due, order_by="due_at"),
    )
    default_order = "due"


class TaskQueueView(ObjectListView):
    title = "Access tasks"
    filterset_class = TaskFilterSet
    table_class = TaskTable
    filter_fields = ("q", "state", "reason", "system", "overdue")
    empty_message = "No access task matches. Tasks appear when access is approved, a person joins, moves or leaves, or a grant expires."

    def get_queryset(self, request):
        return fulfilment.task_list(request.user)


class SecurityListView(TaskQueueView):
    title = "Admin-level access granted (security)"
    permission = fulfilment.VIEW_ALL
    empty_message = "No admin-level access has been granted through Gatehouse."

    def get_queryset(self, request):
        return fulfilment.security_flagged(request.user)


class EvidenceForm(forms.Form):
    evidence = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=fulfilment.EVIDENCE_MAX,
        help_text="What was done, by whom, with a ticket or screenshot link.",
    )


def _get_task(request, pk):
    try:
        return fulfilment.get_task(request.user, pk)
    except FulfilmentTask.DoesNotExist as exc:
        raise Http404("No such task.") from exc


@login_required
def task_detail(request, pk: int):
    task = _get_task(request, pk)
    can_work = fulfilment.can_work(request.user, task)
    form = EvidenceForm()
    if request.method == "POST":
        if not can_work:
            raise PermissionDenied
        form = EvidenceForm(request.POST)
        if form.is_valid():
            try:
                fulfilment.complete_task(task, actor=request.user, evidence=form.cleaned_data["evidence"])
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error("evidence" if field == "evidence" else None, errors)
            else:
                messages.success(request, f"Task #{task.pk} is done.")
                return HttpResponseRedirect(task.get_absolute_url())
    context = {
        "task": task,
        "form": form,
        "can_work": can_work and task.state != State.DONE,
        "can_retry": can_work and task.state == State.FAILED and bool(task.entitlement.connector),
        "overdue": fulfilment.is_overdue(task),
    }
    return render(request, "access/tasks/task_detail.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def task_retry(request, pk: int):
    task = _get_task(request, pk)
    try:
        fulfilment.retry_task(task, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "The connector runs again shortly.")
    return HttpResponseRedirect(task.get_absolute_url())


def _back(request, grant: Grant) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return grant.person.get_absolute_url()


def _get_grant(request, pk) -> Grant:
    from gatehouse.access import grants

    return grants.get_grant(request.user, pk)  # Http404 when not visible


@login_required
@require_POST
def grant_renew(request, pk: int):
    grant = _get_grant(request, pk)
    try:
        days = int(request.POST.get("days", ""))
    except ValueError:
        messages.error(request, "Renew by a whole number of days.")
        return HttpResponseRedirect(_back(request, grant))
    try:
        expiry.renew_grant(grant, actor=request.user, days=days)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Renewed until {grant.ends_at:%Y-%m-%d}.")
    return HttpResponseRedirect(_back(request, grant))


@login_required
@require_POST
def grant_do_not_renew(request, pk: int):
    grant = _get_grant(request, pk)
    value = request.POST.get("value", "true") != "false"
    try:
        expiry.set_do_not_renew(grant, actor=request.user, value=value)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Marked do-not-renew." if value else "Renewal allowed again.")
    return HttpResponseRedirect(_back(request, grant))
