"""The Feeds page (part A): each source's sync status and the import runs, newest first."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from gatehouse.core.views import check_permission
from gatehouse.endpoints.feeds.status import VIEW_FEEDS, feed_imports, feed_status


@login_required
def feeds_page(request):
    check_permission(request, VIEW_FEEDS)
    page = Paginator(feed_imports(request.user), 50).get_page(request.GET.get("page"))
    return render(request, "endpoints/feeds.html", {"feeds": feed_status(request.user), "page": page})
