"""Generic views every app's pages are built from: list, detail, edit and delete.

They stay thin: reads go through a selector (which applies permissions), writes through a service.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views import View

PAGE_SIZES = (25, 50, 100, 250)


def apply_service_errors(form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form, by field where the form has that field."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def wants_partial(request) -> bool:
    """An htmx request for the results part only; a history restore (back button, cache miss) needs the page."""
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")


def check_permission(request, permission: str | None) -> None:
    if permission and not request.user.has_perm(permission):
        raise PermissionDenied


class ObjectListView(LoginRequiredMixin, View):
    """A filtered, sorted, paginated list. An htmx request gets only the results part."""

    template_name = "core/object_list.html"
    results_template = "core/_table.html"
    filterset_class = None
    table_class = None
    title = ""
    permission: str | None = None  # needed on top of what the selector applies, e.g. the audit trail
    add_url_name: str | None = None
    add_permission: str | None = None
    # Filters shown in the filter bar (all of the filterset's when empty); others stay as hidden inputs.
    filter_fields: tuple[str, ...] = ()
    empty_message = "Nothing matches."
    per_page = 50

    def get_queryset(self, request):
        raise NotImplementedError

    def get(self, request, *args, **kwargs):
        check_permission(request, self.permission)
        queryset = self.get_queryset(request)
        filterset = self.filterset_class(request.GET or None, queryset=queryset, request=request)
        queryset = filterset.qs if filterset.is_bound and filterset.is_valid() else queryset
        if filterset.is_bound and not filterset.is_valid():
            queryset = queryset.none()
        table = self.table_class(None, order=request.GET.get("sort"))
        queryset = table.order_queryset(queryset)
        try:
            per_page = int(request.GET.get("per_page", self.per_page))
        except ValueError:
            per_page = self.per_page
        per_page = per_page if per_page in PAGE_SIZES else self.per_page
        page = Paginator(queryset, per_page).get_page(request.GET.get("page"))
        table.rows = page.object_list
        query = request.GET.copy()
        query.pop("page", None)
        context = {
            "title": self.title,
            "filterset": filterset,
            "table": table,
            "page": page,
            "query": query.urlencode(),
            "sort_query": _without(query, "sort"),
            "filter_fields": self.filter_fields,
            "default_per_page": self.per_page,
            "empty_message": self.empty_message,
            "add_url_name": self.add_url_name
            if self.add_permission and request.user.has_perm(self.add_permission)
            else None,
            **self.extra_context(request),
        }
        template = self.results_template if wants_partial(request) else self.template_name
        response = render(request, template, context)
        patch_vary_headers(response, ["HX-Request"])  # the same URL answers a page or a part
        return response

    def extra_context(self, request) -> dict[str, Any]:
        return {}


def _without(query, key: str) -> str:
    q = query.copy()
    q.pop(key, None)
    return q.urlencode()


class ObjectDetailView(LoginRequiredMixin, View):
    template_name = ""
    permission: str | None = None

    def get_object(self, request, **kwargs):
        raise NotImplementedError

    def get(self, request, **kwargs):
        check_permission(request, self.permission)
        try:
            obj = self.get_object(request, **kwargs)
        except ObjectDoesNotExist as exc:
            raise Http404 from exc
        return render(request, self.template_name, {"object": obj, **self.extra_context(request, obj)})

    def extra_context(self, request, obj) -> dict[str, Any]:
        return {}


class ObjectEditView(LoginRequiredMixin, View):
    """Create (no object) or edit an object through a form and a service call."""

    template_name = "core/object_edit.html"
    form_class = None
    permission: str = ""
    title = ""  # for a new object; an existing one is titled "Edit <object>"
    cancel_url_name: str | None = None  # where Cancel goes for a new object

    def get_object(self, request, **kwargs):
        return None

    def save(self, request, form, obj):
        """Call the service; return the saved object."""
        raise NotImplementedError

    def _load(self, request, kwargs):
        try:
            obj = self.get_object(request, **kwargs)
        except ObjectDoesNotExist as exc:
            raise Http404 from exc
        if not request.user.has_perm(self.permission, obj):
            raise PermissionDenied
        return obj

    def get(self, request, **kwargs):
        obj = self._load(request, kwargs)
        form = self.form_class(instance=obj) if obj is not None else self.form_class()
        return self.render(request, form, obj)

    def post(self, request, **kwargs):
        obj = self._load(request, kwargs)
        form = (
            self.form_class(request.POST, instance=obj) if obj is not None else self.form_class(request.POST)
        )
        if form.is_valid():
            try:
                saved = self.save(request, form, obj)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, f"Saved {saved}.")
                return HttpResponseRedirect(saved.get_absolute_url())
        return self.render(request, form, obj, status=422 if form.errors else 200)

    def render(self, request, form, obj, status: int = 200):
        context = {
            "form": form,
            "object": obj,
            "title": f"Edit {obj}" if obj is not None else self.title,
            "cancel_url": obj.get_absolute_url() if obj is not None else _reverse(self.cancel_url_name),
        }
        return render(request, self.template_name, context, status=status)


def _reverse(name: str | None) -> str:
    from django.urls import reverse

    return reverse(name) if name else "/"


class ObjectDeleteView(LoginRequiredMixin, View):
    template_name = "core/object_delete.html"
    permission: str = ""
    success_url: str = "/"

    def get_object(self, request, **kwargs):
        raise NotImplementedError

    def delete(self, request, obj) -> None:
        raise NotImplementedError

    def _load(self, request, kwargs):
        try:
            obj = self.get_object(request, **kwargs)
        except ObjectDoesNotExist as exc:
            raise Http404 from exc
        if not request.user.has_perm(self.permission, obj):
            raise PermissionDenied
        return obj

    def get(self, request, **kwargs):
        return render(request, self.template_name, {"object": self._load(request, kwargs)})

    def post(self, request, **kwargs):
        obj = self._load(request, kwargs)
        label = str(obj)
        self.delete(request, obj)
        messages.success(request, f"Deleted {label}.")
        return HttpResponseRedirect(self.success_url)
