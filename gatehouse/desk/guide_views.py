"""Guide pages (tier 1): list with search, guide page, add/edit/delete, the suggestions fragment and "This
solved it". Thin over gatehouse.desk.guides (selectors and services)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.html import format_html, format_html_join
from django.views import View

from gatehouse.core.forms import ServiceForm
from gatehouse.core.tables import Column, Table
from gatehouse.core.templatetags.gatehouse import EMPTY
from gatehouse.core.views import (
    ObjectDeleteView,
    ObjectDetailView,
    ObjectEditView,
    ObjectListView,
    wants_partial,
)
from gatehouse.desk import guides
from gatehouse.desk.guide_filtersets import GuideFilterSet
from gatehouse.desk.models import Guide

SUGGESTIONS = 5


def _system_names(guide: Guide):
    systems = list(guide.systems.all())  # prefetched by the selector
    if not systems:
        return EMPTY
    return format_html_join(", ", '<a href="{}">{}</a>', ((s.get_absolute_url(), s.name) for s in systems))


class GuideTable(Table):
    columns = (
        Column("title", "Guide", order_by="title", link=True),
        Column("summary", "Summary"),
        Column("systems", "Systems", accessor=_system_names),
        Column(
            "is_published",
            "Status",
            accessor=lambda g: EMPTY if g.is_published else format_html('<span class="badge">Draft</span>'),
        ),
        Column("last_updated", "Updated", order_by="last_updated"),
    )
    default_order = ""  # search results keep their rank order; otherwise the selector's (title)


class GuideListView(ObjectListView):
    title = "Guides"
    template_name = "desk/guides/guide_list.html"
    filterset_class = GuideFilterSet
    table_class = GuideTable
    filter_fields = ("q",)
    add_url_name = "desk:guide_add"
    add_permission = "desk.add_guide"
    empty_message = "No guide matches. Try other words, or ask the helpdesk."
    permission = "desk.view_guide"

    def get_queryset(self, request):
        return guides.guide_list(request.user)


class GuideView(ObjectDetailView):
    template_name = "desk/guides/guide_detail.html"
    permission = "desk.view_guide"

    def get_object(self, request, slug: str):
        return guides.get_guide(request.user, slug)

    def extra_context(self, request, guide: Guide) -> dict[str, Any]:
        user = request.user
        return {
            "title": guide.title,
            "body_html": guides.render_markdown(guide.body),
            "systems": list(guide.systems.all()),
            "request_types": list(guide.request_types.all()),
            "can_edit": user.has_perm("desk.change_guide", guide),
            "can_delete": user.has_perm("desk.delete_guide", guide),
            "can_deflect": user.has_perm("desk.add_deflection"),
        }


class GuideForm(ServiceForm):
    model = Guide
    model_fields = ("title", "slug", "summary", "body", "systems", "request_types", "is_published")
    widgets = {
        "body": forms.Textarea(attrs={"rows": 18, "class": "markdown"}),
        "systems": forms.CheckboxSelectMultiple,
        "request_types": forms.CheckboxSelectMultiple,
    }
    groups = (
        ("Guide", ("title", "slug", "summary", "body")),
        ("Where it helps", ("systems", "request_types", "is_published")),
    )


class GuideEditView(ObjectEditView):
    form_class = GuideForm
    permission = "desk.change_guide"

    def get_object(self, request, slug: str):
        return guides.get_guide(request.user, slug)

    def save(self, request, form, guide):
        return guides.update_guide(guide, actor=request.user, **form.service_fields())


class GuideAddView(ObjectEditView):
    form_class = GuideForm
    permission = "desk.add_guide"
    title = "Add a guide"
    cancel_url_name = "desk:guide_list"

    def save(self, request, form, guide):
        return guides.create_guide(actor=request.user, **form.service_fields())


class GuideDeleteView(ObjectDeleteView):
    permission = "desk.delete_guide"

    def get_object(self, request, slug: str):
        return guides.get_guide(request.user, slug)

    @property
    def success_url(self) -> str:
        return reverse("desk:guide_list")

    def post(self, request, **kwargs):
        try:
            return super().post(request, **kwargs)
        except ValidationError as exc:
            guide = self._load(request, kwargs)
            for message in exc.messages:
                messages.error(request, message)
            return HttpResponseRedirect(guide.get_absolute_url())

    def delete(self, request, guide) -> None:
        guides.delete_guide(guide, actor=request.user)


class GuideSuggestionsView(LoginRequiredMixin, View):
    """GET ?subject=&system=&type= -> an HTML fragment of matching guides, for htmx under a subject field."""

    template_name = "desk/guides/_suggestions.html"

    def get(self, request):
        if not request.user.has_perm("desk.view_guide"):
            raise PermissionDenied
        subject = request.GET.get("subject", "")[: guides.MAX_QUERY_CHARS]
        system, request_type = (
            _optional(guides.resolve_system, request.GET.get("system")),
            _optional(guides.resolve_request_type, request.GET.get("type")),
        )
        found = guides.search_guides(
            request.user, subject, system=system, request_type=request_type, limit=SUGGESTIONS
        )
        context = {
            "guides": found,
            "subject": subject.strip(),
            "system": system,
            "request_type": request_type,
            "can_deflect": request.user.has_perm("desk.add_deflection"),
        }
        response = render(request, self.template_name, context)
        patch_vary_headers(response, ["HX-Request"])
        return response


def _optional(resolve, value):
    """The suggestions are a typing aid: an unknown system or type just does not steer them."""
    try:
        return resolve(value)
    except ValidationError:
        return None


class DeflectView(LoginRequiredMixin, View):
    """POST "This solved it" for a guide: records a deflection (no request is filed)."""

    def post(self, request, slug: str):
        try:
            guide = guides.get_guide(request.user, slug)
        except ObjectDoesNotExist as exc:
            raise Http404 from exc
        if not request.user.has_perm("desk.add_deflection"):
            raise PermissionDenied
        data = request.POST
        try:
            guides.record_deflection(
                actor=request.user,
                guide=guide,
                subject=data.get("subject", ""),
                system=data.get("system") or None,
                request_type=data.get("type") or None,
            )
        except ValidationError as exc:
            if wants_partial(request):
                return render(
                    request,
                    "desk/guides/_deflected.html",
                    {"guide": guide, "errors": exc.messages},
                    status=422,
                )
            for message in exc.messages:
                messages.error(request, message)
            return HttpResponseRedirect(guide.get_absolute_url())
        if wants_partial(request):
            return render(request, "desk/guides/_deflected.html", {"guide": guide})
        messages.success(request, f"Glad “{guide.title}” solved it. No request was filed.")
        return HttpResponseRedirect(guide.get_absolute_url())
