"""Pages of access reviews: campaigns, a campaign's progress, the reviewer's items, decisions, reassignment,
closing and the evidence download. Thin over gatehouse.access.reviews and gatehouse.access.evidence.

Who sees what: admins, compliance analysts and auditors read every campaign and its evidence (auditors change
nothing); reviewers see the campaigns they have items in and their own items. Admins and compliance analysts
start, close and reassign.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from gatehouse.access import evidence, reviews
from gatehouse.access.models import Privilege, ReviewCampaign, ReviewItem, ReviewTemplate
from gatehouse.catalog.models import System
from gatehouse.core.forms import ServiceForm, split_keys
from gatehouse.core.views import apply_service_errors
from gatehouse.users.models import User

PAGE_SIZE = 50


def _errors(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


class CampaignListView(LoginRequiredMixin, View):
    def get(self, request):
        campaigns = reviews.visible_campaigns(request.user)
        state = request.GET.get("state", "")
        if state in ReviewCampaign.State.values:
            campaigns = campaigns.filter(state=state)
        page = Paginator(campaigns.order_by("-started_at", "-id"), PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        can_run = request.user.has_perm(reviews.PERM_RUN)
        templates = list(ReviewTemplate.objects.filter(is_active=True).order_by("name")) if can_run else []
        return render(
            request,
            "access/reviews/campaign_list.html",
            {
                "title": "Access reviews",
                "page": page,
                "state": state,
                "states": ReviewCampaign.State.choices,
                "query": urlencode({"state": state}) if state else "",
                "templates": templates,
                "can_run": can_run,
                "pending": reviews.pending_for(request.user),
                "can_see_templates": request.user.has_perm("access.view_reviewtemplate"),
            },
        )


class MyReviewsView(LoginRequiredMixin, View):
    def get(self, request):
        return render(
            request,
            "access/reviews/my_reviews.html",
            {"title": "My access reviews", "pending": reviews.pending_for(request.user)},
        )


class StartCampaignView(LoginRequiredMixin, View):
    def post(self, request):
        if not request.user.has_perm(reviews.PERM_RUN):
            raise PermissionDenied
        template = ReviewTemplate.objects.filter(slug=request.POST.get("template", "")[:100]).first()
        if template is None:
            messages.error(request, "template: choose a review template.")
            return HttpResponseRedirect(reverse("access:review_list"))
        try:
            campaign = reviews.start_campaign(template, actor=request.user)
        except ValidationError as exc:
            messages.error(request, _errors(exc))
            return HttpResponseRedirect(reverse("access:review_list"))
        messages.success(request, f"Started {campaign.name}: {campaign.snapshot_rows} items.")
        return HttpResponseRedirect(campaign.get_absolute_url())


class CampaignView(LoginRequiredMixin, View):
    def get(self, request, pk: int):
        campaign = reviews.get_campaign(request.user, pk)
        user = request.user
        sees_all = reviews.sees_all(user)
        progress = reviews.progress_by_reviewer(campaign) if sees_all else []
        if not sees_all:
            mine = reviews.visible_items(user, campaign)
            total = mine.count()
            undecided = mine.filter(decision=ReviewItem.Decision.PENDING).count()
            summary = {
                "total": total,
                "undecided": undecided,
                "decided": total - undecided,
                "percent": round(100 * (total - undecided) / total) if total else 100,
            }
        else:
            summary = reviews.totals(progress)
        return render(
            request,
            "access/reviews/campaign_detail.html",
            {
                "title": campaign.name,
                "campaign": campaign,
                "progress": progress,
                "summary": summary,
                "sees_all": sees_all,
                "can_manage": reviews.can_manage(user) and campaign.state == ReviewCampaign.State.OPEN,
            },
        )


def _filtered_items(request, campaign):
    """The items of the page: the selector's (permissions in the query) with the page's filters."""
    user = request.user
    items = reviews.item_list(user, campaign)
    filters = {}
    reviewer = request.GET.get("reviewer", "")
    if reviewer == "me" or not reviews.sees_all(user):
        items = items.filter(reviewer=user.pk)
        filters["reviewer"] = "me" if reviewer == "me" else ""
    elif reviewer == "none":
        items = items.filter(reviewer__isnull=True)
        filters["reviewer"] = reviewer
    elif reviewer.isdigit():
        items = items.filter(reviewer=int(reviewer))
        filters["reviewer"] = reviewer
    decision = request.GET.get("decision", "")
    if decision in ReviewItem.Decision.values:
        items = items.filter(decision=decision)
        filters["decision"] = decision
    privilege = request.GET.get("privilege", "")
    if privilege in Privilege.values:
        items = items.filter(privilege=privilege)
        filters["privilege"] = privilege
    system = request.GET.get("system", "")
    if system.isdigit():
        items = items.filter(system_id=int(system))
        filters["system"] = system
    q = request.GET.get("q", "").strip()[:100]
    if q:
        items = items.filter(
            Q(person_email__icontains=q) | Q(person_name__icontains=q) | Q(entitlement_name__icontains=q)
        )
        filters["q"] = q
    return items, filters


class ReviewItemsView(LoginRequiredMixin, View):
    def get(self, request, pk: int):
        campaign = reviews.get_campaign(request.user, pk)
        items, filters = _filtered_items(request, campaign)
        page = Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))
        user = request.user
        can_decide_any = user.has_perm(reviews.PERM_DECIDE_ANY)
        open_campaign = campaign.state == ReviewCampaign.State.OPEN
        for item in page.object_list:
            item.can_decide = (
                open_campaign
                and item.decision == ReviewItem.Decision.PENDING
                and (item.reviewer_id == user.pk or can_decide_any)
                and item.grant.person_id != getattr(user, "person_id", None)
            )
        systems = []
        if reviews.sees_all(user):
            systems = list(
                campaign.items.order_by().values_list("system_id", "system__name").distinct()[:500]
            )
        return render(
            request,
            "access/reviews/items.html",
            {
                "title": f"{campaign.name}: items",
                "campaign": campaign,
                "page": page,
                "filters": filters,
                "query": urlencode(filters),
                "decisions": ReviewItem.Decision.choices,
                "privileges": Privilege.choices,
                "systems": sorted(systems, key=lambda s: s[1]),
                "sees_all": reviews.sees_all(user),
                "can_bulk": open_campaign and any(i.can_decide for i in page.object_list),
                "can_manage": reviews.can_manage(user) and open_campaign,
                "next_url": request.get_full_path(),
            },
        )


def _back(request, campaign) -> str:
    target = request.POST.get("next", "")
    prefix = reverse("access:review_items", args=[campaign.pk])
    return target if target.startswith(prefix) else prefix


def _ids(request) -> list[int]:
    return sorted({int(v) for v in request.POST.getlist("items") if v.isdigit() and len(v) < 19})


class DecideView(LoginRequiredMixin, View):
    """Keep or revoke the ticked items (one reason for all); modify one item with its new entitlement."""

    def post(self, request, pk: int):
        campaign = reviews.get_campaign(request.user, pk)
        ids = _ids(request)
        if not ids or reviews.visible_items(request.user, campaign).filter(pk__in=ids).count() != len(ids):
            messages.error(request, "items: tick at least one of your items.")
            return HttpResponseRedirect(_back(request, campaign))
        decision = request.POST.get("decision", "")
        reason = request.POST.get("reason", "")
        try:
            if decision == ReviewItem.Decision.MODIFY:
                from gatehouse.access.models import Entitlement

                target = request.POST.get("modify_to", "")
                modify_to = Entitlement.objects.filter(pk=int(target)).first() if target.isdigit() else None
                if len(ids) != 1:
                    raise ValidationError({"items": "Modify one item at a time."})
                item = ReviewItem.objects.get(pk=ids[0])
                reviews.decide_item(
                    item, actor=request.user, decision=decision, reason=reason, modify_to=modify_to
                )
                done = 1
            else:
                done = len(reviews.bulk_decide(ids, actor=request.user, decision=decision, reason=reason))
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        except PermissionDenied as exc:
            messages.error(request, str(exc) or "You may not decide these items.")
        else:
            messages.success(request, f"Recorded {decision} for {done} item{'s' if done != 1 else ''}.")
        return HttpResponseRedirect(_back(request, campaign))


class ReassignView(LoginRequiredMixin, View):
    def post(self, request, pk: int):
        campaign = reviews.get_campaign(request.user, pk)
        if not reviews.can_manage(request.user):
            raise PermissionDenied
        username = request.POST.get("reviewer", "").strip()[:150]
        reviewer = User.objects.filter(username=username).first()
        ids = _ids(request)
        if campaign.items.filter(pk__in=ids).count() != len(ids):
            ids = []
        try:
            if reviewer is None:
                raise ValidationError({"reviewer": f"No user {username!r}."})
            count = reviews.reassign(ids, actor=request.user, reviewer=reviewer)
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        else:
            messages.success(request, f"Reassigned {count} item{'s' if count != 1 else ''} to {reviewer}.")
        return HttpResponseRedirect(_back(request, campaign))


class CloseCampaignView(LoginRequiredMixin, View):
    def post(self, request, pk: int):
        campaign = reviews.get_campaign(request.user, pk)
        try:
            result = reviews.close_campaign(campaign, actor=request.user)
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        else:
            if result.closed:
                messages.success(
                    request, f"Closed; the rule '{result.applied}' decided {result.count} items."
                )
            else:
                messages.warning(
                    request,
                    f"{result.count} items are undecided: they went to the fallback reviewer and the campaign "
                    "stays open until they are decided.",
                )
        return HttpResponseRedirect(campaign.get_absolute_url())


class EvidenceView(LoginRequiredMixin, View):
    def get(self, request, pk: int, fmt: str):
        if fmt not in ("csv", "json"):
            raise Http404
        if not reviews.sees_all(request.user):
            raise PermissionDenied
        campaign = reviews.get_campaign(request.user, pk)
        body = evidence.export(campaign, fmt)
        content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{evidence.filename(campaign, fmt)}"'
        return response


# --- review templates: list, detail, add, edit ----------------------------------------------------------------
# Admins and compliance analysts add and change templates (access.add_reviewtemplate / change_reviewtemplate);
# auditors read them (access.view_reviewtemplate). Writes go through reviews.create_template / update_template.

TIER_CHOICES = [(str(t), f"Tier {t}") for t in (1, 2, 3, 4)]


class ReviewTemplateForm(ServiceForm):
    model = ReviewTemplate
    model_fields = (
        "name",
        "slug",
        "scope",
        "reviewer",
        "cadence_months",
        "due_business_days",
        "undecided_rule",
        "next_run_on",
        "is_active",
    )
    widgets = {"next_run_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}
    tiers = forms.MultipleChoiceField(
        choices=TIER_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Systems whose effective tier is one of these; none ticked: any tier.",
    )
    compliance_scopes = forms.CharField(
        required=False,
        max_length=500,
        help_text="Compliance scope codes, e.g. sox, pci; separated by commas or spaces. Empty: any.",
    )
    systems = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="System slugs. When set, tiers and compliance scopes are ignored.",
    )
    fallback_reviewer = forms.CharField(
        required=False,
        max_length=150,
        help_text="Username: gets the items the rule cannot assign, and escalations.",
    )

    def initial_from(self, instance: ReviewTemplate) -> dict:
        initial = super().initial_from(instance)
        initial["tiers"] = [str(t) for t in instance.tiers or []]
        initial["compliance_scopes"] = ", ".join(instance.compliance_scopes or [])
        initial["systems"] = ", ".join(s.slug for s in instance.systems.order_by("slug"))
        initial["fallback_reviewer"] = (
            instance.fallback_reviewer.username if instance.fallback_reviewer_id else ""
        )
        return initial

    def clean_tiers(self) -> list[int]:
        return sorted({int(t) for t in self.cleaned_data.get("tiers") or []})

    def clean_compliance_scopes(self) -> list[str]:
        return [code.lower() for code in split_keys(self.cleaned_data.get("compliance_scopes") or "")]

    def clean_systems(self) -> list[System]:
        slugs = split_keys(self.cleaned_data.get("systems") or "")
        found = {s.slug: s for s in System.objects.filter(slug__in=slugs)}
        unknown = [s for s in slugs if s not in found]
        if unknown:
            raise forms.ValidationError(f"No system with slug {', '.join(unknown[:10])}.")
        return [found[s] for s in slugs]

    def clean_fallback_reviewer(self):
        username = (self.cleaned_data.get("fallback_reviewer") or "").strip()
        if not username:
            return None
        user = User.objects.filter(username=username).first()
        if user is None:
            raise forms.ValidationError(f"No user {username!r}.")
        return user

    def clean(self):
        cleaned = super().clean()
        current = self.instance.pk if self.instance is not None else None
        if cleaned.get("slug") == "add":
            self.add_error("slug", "“add” is reserved; choose another slug.")
        for name in ("slug", "name"):
            value = cleaned.get(name)
            if value and ReviewTemplate.objects.filter(**{name: value}).exclude(pk=current).exists():
                self.add_error(name, f"A template with this {name} exists.")
        return cleaned

    def template_fields(self) -> dict:
        fields = self.service_fields()
        for name in ("tiers", "compliance_scopes", "fallback_reviewer"):
            fields[name] = self.cleaned_data[name]
        return fields


def _template_url(template: ReviewTemplate) -> str:
    return reverse("access:review_template", args=[template.slug])


class TemplateListView(LoginRequiredMixin, View):
    """Every review template with its scope, reviewer rule, cadence and next run (a fixed number of queries)."""

    def get(self, request):
        if not request.user.has_perm("access.view_reviewtemplate"):
            raise PermissionDenied
        templates = list(reviews.visible_templates(request.user).order_by("name"))
        return render(
            request,
            "access/reviews/template_list.html",
            {
                "title": "Review templates",
                "templates": templates,
                "can_add": request.user.has_perm("access.add_reviewtemplate"),
            },
        )


class TemplateView(LoginRequiredMixin, View):
    def get(self, request, slug: str):
        template = reviews.get_template(request.user, slug)
        campaigns = list(
            reviews.visible_campaigns(request.user)
            .filter(template=template)
            .order_by("-started_at", "-id")[:10]
        )
        return render(
            request,
            "access/reviews/template_detail.html",
            {
                "title": template.name,
                "object": template,
                "systems": list(template.systems.all()),
                "campaigns": campaigns,
                "can_edit": request.user.has_perm("access.change_reviewtemplate", template),
            },
        )


class _TemplateEditBase(LoginRequiredMixin, View):
    permission = ""

    def get_object(self, request, slug: str | None):
        return None

    def save(self, request, form, template):
        raise NotImplementedError

    def _load(self, request, slug):
        template = self.get_object(request, slug)
        if not request.user.has_perm(self.permission, template):
            raise PermissionDenied
        return template

    def get(self, request, slug: str | None = None):
        template = self._load(request, slug)
        return self.render(request, ReviewTemplateForm(instance=template), template)

    def post(self, request, slug: str | None = None):
        template = self._load(request, slug)
        form = ReviewTemplateForm(request.POST, instance=template)
        if form.is_valid():
            try:
                saved = self.save(request, form, template)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, f"Saved {saved}.")
                return HttpResponseRedirect(_template_url(saved))
        return self.render(request, form, template, status=422 if form.errors else 200)

    def render(self, request, form, template, status: int = 200):
        return render(
            request,
            "core/object_edit.html",
            {
                "form": form,
                "object": template,
                "title": f"Edit {template}" if template is not None else "Add a review template",
                "cancel_url": _template_url(template) if template else reverse("access:review_templates"),
            },
            status=status,
        )


class TemplateAddView(_TemplateEditBase):
    permission = "access.add_reviewtemplate"

    def save(self, request, form, template):
        fields = form.template_fields()
        return reviews.create_template(actor=request.user, systems=form.cleaned_data["systems"], **fields)


class TemplateEditView(_TemplateEditBase):
    permission = "access.change_reviewtemplate"

    def get_object(self, request, slug):
        return reviews.get_template(request.user, slug)

    def save(self, request, form, template):
        fields = form.template_fields()
        return reviews.update_template(
            template, actor=request.user, systems=form.cleaned_data["systems"], **fields
        )
