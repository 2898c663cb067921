"""Access request pages (issue 4, part B): ask for access, my access requests, the request page, the approvals
inbox, and the confirmation page of an emailed approval link.

Thin over gatehouse.access.requests: reads through its selectors (a request the user may not see is a 404),
writes through its services with the signed-in user as actor (audited with source web).
"""

from __future__ import annotations

import django_filters
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_http_methods, require_POST

from gatehouse.access import approval_links, requests
from gatehouse.access.models import AccessRequest, ApprovalStep, Entitlement
from gatehouse.core.context import Source, change_context
from gatehouse.core.filtersets import SearchFilterSet
from gatehouse.core.tables import Column, Table
from gatehouse.core.templatetags.gatehouse import EMPTY
from gatehouse.core.views import ObjectListView, apply_service_errors
from gatehouse.directory.models import Person


def shows_approvals(user) -> bool:
    """The Approvals inbox in the navigation: managers, system owners and admins (by role: no query)."""
    return any(user.has_role(r) for r in ("manager", "system_owner", "admin"))


# --- lists ------------------------------------------------------------------------------------------------


def state_badge(obj) -> str:
    return format_html('<span class="badge access-state-{}">{}</span>', obj.state, obj.get_state_display())


def _request_link(obj):
    return format_html('<a href="{}"><strong>{}</strong></a>', obj.get_absolute_url(), obj)


def _items(obj):
    items = list(obj.items.all())  # prefetched
    shown = format_html_join(", ", "{} → {}", ((i.subject, i.entitlement) for i in items[:3]))
    if len(items) > 3:
        shown = format_html("{} and {} more", shown, len(items) - 3)
    return shown


class AccessRequestTable(Table):
    columns = (
        Column("id", "Request", accessor=_request_link, order_by="id"),
        Column("items", "Access", accessor=_items),
        Column("requested_by", "Asked by", accessor=lambda r: str(r.requested_by)),
        Column("state", "State", accessor=state_badge, order_by="state"),
        Column("created", "Asked", order_by="created"),
    )
    default_order = "-id"


class AccessRequestFilterSet(SearchFilterSet):
    search_fields = (
        "justification",
        "items__entitlement__name",
        "items__subject__name",
        "items__subject__email",
    )
    state = django_filters.MultipleChoiceFilter(choices=AccessRequest.State.choices, label="State")
    scope = django_filters.ChoiceFilter(
        method="filter_scope",
        choices=[("mine", "Asked by me or for me"), ("all", "Everything I can see")],
        empty_label="Asked by me or for me",
        label="Scope",
    )
    system = django_filters.CharFilter(method="filter_system", label="System (slug)")
    subject = django_filters.CharFilter(method="filter_subject", label="For (email)")

    class Meta:
        model = AccessRequest
        fields = ["q", "state", "scope", "system", "subject"]

    def search(self, queryset, name, value):
        value = value.strip()
        if value.upper().startswith("AR-") and value[3:].isdigit():
            return queryset.filter(pk=int(value[3:]))
        return queryset.filter(pk__in=super().search(AccessRequest.objects.all(), name, value).values("pk"))

    def filter_scope(self, queryset, name, value):
        return queryset  # applied in filter_queryset: "mine" is also the default when the parameter is absent

    def filter_system(self, queryset, name, value):
        return queryset.filter(
            pk__in=AccessRequest.objects.filter(items__entitlement__system__slug=value).values("pk")
        )

    def filter_subject(self, queryset, name, value):
        value = value.strip().lower()
        return queryset.filter(pk__in=AccessRequest.objects.filter(items__subject__email=value).values("pk"))

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        scope = (
            (self.form.cleaned_data.get("scope") or "mine") if hasattr(self.form, "cleaned_data") else "mine"
        )
        if scope == "mine" and self.request is not None:
            queryset = queryset.filter(mine_q(self.request.user))
        return queryset


def mine_q(user) -> Q:
    person_id = getattr(user, "person_id", None)
    condition = Q(filed_by=user.pk)
    if person_id is not None:
        condition |= Q(requested_by=person_id) | Q(
            pk__in=AccessRequest.objects.filter(items__subject=person_id).values("pk")
        )
    return condition


class MyAccessRequestsView(ObjectListView):
    title = "Access requests"
    template_name = "access/requests/list.html"
    filterset_class = AccessRequestFilterSet
    table_class = AccessRequestTable
    filter_fields = ("q", "state", "scope")
    empty_message = "No access requests here. Ask for access with “Request access”."

    def get_queryset(self, request):
        return requests.request_list(request.user)


def _step_request(step):
    return format_html(
        '<a href="{}"><strong>{}</strong></a>',
        step.item.access_request.get_absolute_url(),
        step.item.access_request,
    )


def _step_what(step):
    return format_html("{} → {}", step.item.subject, step.item.entitlement)


def _step_actions(step):
    url = reverse("access:step_decide", args=[step.pk])
    return format_html('<a href="{}" role="button" class="small">Decide</a>', url)


class StepTable(Table):
    columns = (
        Column("request", "Request", accessor=_step_request, order_by="item__access_request_id"),
        Column("what", "Access", accessor=_step_what),
        Column("asked_by", "Asked by", accessor=lambda s: str(s.item.access_request.requested_by)),
        Column("kind", "Step", accessor="get_kind_display", order_by="kind"),
        Column("created", "Waiting since", order_by="created"),
        Column("actions", "", accessor=_step_actions),
    )
    default_order = ""


class StepFilterSet(SearchFilterSet):
    search_fields = ("item__subject__name", "item__subject__email", "item__entitlement__name")
    kind = django_filters.ChoiceFilter(
        choices=ApprovalStep.Kind.choices, empty_label="Step: any", label="Step"
    )

    class Meta:
        model = ApprovalStep
        fields = ["q", "kind"]


class ApprovalsView(ObjectListView):
    title = "My approvals"
    template_name = "access/requests/approvals.html"
    filterset_class = StepFilterSet
    table_class = StepTable
    filter_fields = ("q", "kind")
    empty_message = "Nothing is waiting for your approval."

    def get_queryset(self, request):
        return requests.steps_waiting_for(request.user)


# --- asking for access ------------------------------------------------------------------------------------


class AccessRequestForm(forms.Form):
    for_me = forms.BooleanField(label="For me", required=False, initial=True)
    others = forms.CharField(
        label="For others",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Email addresses of the people who need it, one per line or separated by commas.",
    )
    entitlements = forms.ModelMultipleChoiceField(
        queryset=Entitlement.objects.none(),
        label="Access",
        help_text="Hold Ctrl (or ⌘) to choose several. Only entitlements that can be requested are listed.",
    )
    justification = forms.CharField(
        label="Why is it needed?", widget=forms.Textarea(attrs={"rows": 4}), max_length=5000
    )
    duration_days = forms.IntegerField(
        label="For how many days",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Blank: as long as allowed (some access ends after a maximum number of days).",
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["entitlements"].queryset = (
            Entitlement.objects.filter(is_requestable=True)
            .select_related("system")
            .order_by("system__name", "name")
        )
        self.fields["entitlements"].widget.attrs["size"] = 12
        if getattr(user, "person_id", None) is None:
            self.fields["for_me"].disabled = True
            self.fields["for_me"].initial = False
            self.fields["for_me"].help_text = "Your sign-in has no person in the directory."

    def clean_others(self):
        raw = self.cleaned_data.get("others") or ""
        emails = [e.strip().lower() for e in raw.replace(",", "\n").replace(";", "\n").split() if e.strip()]
        emails = list(dict.fromkeys(emails))
        found = {p.email: p for p in Person.objects.filter(email__in=emails)}
        missing = [e for e in emails if e not in found]
        if missing:
            raise ValidationError(f"No person with email {', '.join(missing[:10])}.")
        return [found[e] for e in emails]

    def subjects(self) -> list[Person]:
        people = []
        if self.cleaned_data.get("for_me") and getattr(self.user, "person", None) is not None:
            people.append(self.user.person)
        people += [p for p in self.cleaned_data.get("others") or [] if p not in people]
        return people


def _initial_from_query(query) -> dict:
    initial: dict = {}
    ids = [v for v in query.getlist("entitlement") if v.isdigit()]
    system = query.get("system")
    qs = Entitlement.objects.filter(is_requestable=True)
    if ids:
        initial["entitlements"] = list(qs.filter(pk__in=ids).values_list("pk", flat=True))
    elif system:
        initial["entitlements"] = list(qs.filter(system__slug=system).values_list("pk", flat=True)[:1])
    return initial


@login_required
@require_http_methods(["GET", "POST"])
def new_access_request(request):
    if request.method == "POST":
        form = AccessRequestForm(request.POST, user=request.user)
        if form.is_valid():
            people = form.subjects()
            if not people:
                form.add_error(
                    "others", "Choose who needs the access: tick “For me” or give email addresses."
                )
            else:
                try:
                    created = requests.request_access(
                        actor=request.user,
                        subjects=people,
                        entitlements=list(form.cleaned_data["entitlements"]),
                        justification=form.cleaned_data["justification"],
                        duration_days=form.cleaned_data.get("duration_days"),
                        channel="web",
                    )
                except ValidationError as exc:
                    if hasattr(exc, "error_dict") and "subjects" in exc.error_dict:
                        exc = ValidationError(
                            {("others" if k == "subjects" else k): v for k, v in exc.error_dict.items()}
                        )
                    apply_service_errors(form, exc)
                else:
                    messages.success(request, f"Asked for access: {created}.")
                    return HttpResponseRedirect(created.get_absolute_url())
        status = 422
    else:
        form = AccessRequestForm(user=request.user, initial=_initial_from_query(request.GET))
        status = 200
    return render(
        request, "access/requests/new.html", {"title": "Request access", "form": form}, status=status
    )


# --- the request page -------------------------------------------------------------------------------------


class DecideForm(forms.Form):
    comment = forms.CharField(
        label="Comment",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required when you reject: the requester reads it.",
    )


def _step_rows(user, access_request):
    rows = []
    for item in access_request.items.all():
        steps = []
        for step in item.steps.all():
            step.item = item
            item.access_request = access_request
            why = requests.why_not_decide(user, step, item=item) if step.decision == "pending" else ""
            steps.append({"step": step, "can_decide": step.decision == "pending" and not why, "why": why})
        rows.append({"item": item, "steps": steps})
    return rows


@login_required
def access_request_detail(request, pk: int):
    access_request = requests.get_request(request.user, pk)
    own = access_request.filed_by_id == request.user.pk or (
        request.user.person_id is not None and request.user.person_id == access_request.requested_by_id
    )
    can_cancel = access_request.state == AccessRequest.State.PENDING and (
        own or request.user.has_perm("access.change_accessrequest")
    )
    return render(
        request,
        "access/requests/detail.html",
        {
            "title": str(access_request),
            "object": access_request,
            "rows": _step_rows(request.user, access_request),
            "decide_form": DecideForm(),
            "can_cancel": can_cancel,
        },
    )


@login_required
@require_POST
def cancel_access_request(request, pk: int):
    access_request = requests.get_request(request.user, pk)
    try:
        requests.cancel_request(access_request, actor=request.user, reason=request.POST.get("reason", ""))
    except requests.AlreadyDecided as exc:
        messages.error(request, exc.message)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{access_request} cancelled.")
    return HttpResponseRedirect(access_request.get_absolute_url())


@login_required
@require_http_methods(["GET", "POST"])
def decide_step(request, pk: int):
    """GET: the step with its request and the decision form; POST (approve or reject): decide it."""
    step = requests.get_step(request.user, pk)
    form = DecideForm(request.POST or None)
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action not in ("approve", "reject"):
            form.is_valid()
            form.add_error(None, "Choose Approve or Reject.")
            status = 422
        elif form.is_valid():
            try:
                requests.decide(
                    step,
                    actor=request.user,
                    approve=action == "approve",
                    comment=form.cleaned_data.get("comment", ""),
                    channel="web",
                )
            except requests.AlreadyDecided as exc:
                messages.error(request, exc.message)
                return HttpResponseRedirect(step.item.access_request.get_absolute_url())
            except PermissionDenied as exc:
                messages.error(request, str(exc) or "You may not decide this step.")
                return HttpResponseRedirect(step.item.access_request.get_absolute_url())
            except ValidationError as exc:
                apply_service_errors(form, exc)
                status = 422
            else:
                verb = "Approved" if action == "approve" else "Rejected"
                messages.success(request, f"{verb}: {step.item.entitlement} for {step.item.subject}.")
                return HttpResponseRedirect(reverse("access:approvals"))
        else:
            status = 422
    return render(
        request,
        "access/requests/decide.html",
        {
            "title": f"Decide: {step.item.entitlement} for {step.item.subject}",
            "step": step,
            "item": step.item,
            "access_request": step.item.access_request,
            "why": requests.why_not_decide(request.user, step),
            "days": requests.item_days(step.item),
            "form": form,
            "action_url": reverse("access:step_decide", args=[step.pk]),
        },
        status=status,
    )


# --- emailed links ----------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def approval_link(request, token: str):
    """An emailed link. GET shows what would be decided (mail scanners follow links: nothing is written); POST
    decides as the link's user. Expired, used and tampered links get a page saying so and write nothing."""
    try:
        link = approval_links.read_token(token)
    except approval_links.LinkError as exc:
        return render(
            request,
            "access/requests/link_problem.html",
            {"title": "Approval link", "problem": exc.message, "kind": exc.kind},
            status=410 if exc.kind in ("expired", "used") else 400,
        )
    step, user = link.step, link.user
    signed_in = getattr(request.user, "is_authenticated", False)
    if signed_in and request.user.pk != user.pk:
        return render(
            request,
            "access/requests/link_problem.html",
            {
                "title": "Approval link",
                "problem": f"This link was sent to {user.get_username()}, and you are signed in as "
                f"{request.user.get_username()}. Sign out to use it, or decide on the request's page.",
                "kind": "other-user",
            },
            status=403,
        )
    why = requests.why_not_decide(user, step)
    form = DecideForm(request.POST or None)
    status = 200
    if request.method == "POST" and not why:
        action = request.POST.get("action")
        if action in ("approve", "reject") and form.is_valid():
            try:
                with change_context(
                    source=Source.WEB, actor=user, actor_label=f"email:{user.get_username()}"
                ):
                    requests.decide(
                        step,
                        actor=user,
                        approve=action == "approve",
                        comment=form.cleaned_data.get("comment", ""),
                        channel="email",
                    )
            except requests.AlreadyDecided as exc:
                return render(
                    request,
                    "access/requests/link_problem.html",
                    {"title": "Approval link", "problem": exc.message, "kind": "used"},
                    status=409,
                )
            except PermissionDenied as exc:
                why = str(exc)
                status = 403
            except ValidationError as exc:
                apply_service_errors(form, exc)
                status = 422
            else:
                return render(
                    request,
                    "access/requests/link_done.html",
                    {"title": "Decided", "step": step, "approved": action == "approve"},
                )
        else:
            if action not in ("approve", "reject"):
                form.is_valid()
                form.add_error(None, "Choose Approve or Reject.")
            status = 422
    elif why:
        status = 403
    return render(
        request,
        "access/requests/decide.html",
        {
            "title": f"Decide: {step.item.entitlement} for {step.item.subject}",
            "step": step,
            "item": step.item,
            "access_request": step.item.access_request,
            "why": why,
            "days": requests.item_days(step.item),
            "form": form,
            "action_url": request.path,
            "via_link": True,
            "link_user": user,
        },
        status=status,
    )


__all__ = ["EMPTY"]
