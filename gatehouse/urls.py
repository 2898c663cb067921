from django.urls import include, path
from django.views.generic import RedirectView

from gatehouse.api import api
from gatehouse.desk import chat_views as desk_chat_views

urlpatterns = [
    path("", include("gatehouse.core.urls")),
    path("", include("gatehouse.users.urls")),
    path("people/", include("gatehouse.directory.urls")),
    path("systems/", include("gatehouse.catalog.urls")),
    # A short address to hand out for Getting Help (the page lives at systems/help/).
    path("help/", RedirectView.as_view(pattern_name="catalog:getting_help", query_string=True)),
    path("audit/", include("gatehouse.audit.urls")),
    path("desk/", include("gatehouse.desk.urls")),
    path("access/", include("gatehouse.access.urls")),
    path("endpoints/", include("gatehouse.endpoints.urls")),
    # Slack calls these (the desk's slash command and buttons, docs/chat.md); verified by its signing secret.
    path("integrations/slack/commands", desk_chat_views.slack_commands, name="slack_commands"),
    path("integrations/slack/interactions", desk_chat_views.slack_interactions, name="slack_interactions"),
    path("api/v1/", api.urls),
]
