from django.urls import include, path
from django.views.generic import RedirectView

from gatehouse.api import api

urlpatterns = [
    path("", include("gatehouse.core.urls")),
    path("", include("gatehouse.users.urls")),
    path("people/", include("gatehouse.directory.urls")),
    path("systems/", include("gatehouse.catalog.urls")),
    # A short address to hand out for Getting Help (the page lives at systems/help/).
    path("help/", RedirectView.as_view(pattern_name="catalog:getting_help", query_string=True)),
    path("audit/", include("gatehouse.audit.urls")),
    path("api/v1/", api.urls),
]
