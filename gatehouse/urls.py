from django.urls import include, path

from gatehouse.api import api

urlpatterns = [
    path("", include("gatehouse.core.urls")),
    path("", include("gatehouse.users.urls")),
    path("people/", include("gatehouse.directory.urls")),
    path("systems/", include("gatehouse.catalog.urls")),
    path("audit/", include("gatehouse.audit.urls")),
    path("api/v1/", api.urls),
]
