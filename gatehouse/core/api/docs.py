"""Interactive API docs served from our own static files, so they work under CSP `script-src 'self'`."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from ninja.openapi.docs import Swagger


class StaticSwagger(Swagger):
    """Swagger UI from npm's swagger-ui-dist (static `vendor/swagger-ui/`) started by our own script.

    Settings travel in a JSON block and data- attributes, which CSP allows because they are never executed.
    """

    template = "api/docs.html"

    def render_page(self, request: HttpRequest, api: Any, **kwargs: Any) -> HttpResponse:
        settings = {**self.settings, "url": self.get_openapi_url(api, kwargs)}
        return render(request, self.template, {"api": api, "swagger_settings": settings})
