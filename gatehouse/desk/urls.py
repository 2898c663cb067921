"""The desk's pages."""

from django.urls import path

from gatehouse.desk import chat_views, config_views, guide_views, views

app_name = "desk"

urlpatterns = [
    # requests, queues, dashboard (desk/views.py)
    path("", views.MyRequestsView.as_view(), name="my_requests"),
    path("new/", views.ChooseTypeView.as_view(), name="new_request"),
    path("new/<slug:type_slug>/", views.NewRequestView.as_view(), name="new_request_form"),
    path("queues/", views.QueueView.as_view(), name="queues"),
    path("queues/bulk/", views.BulkView.as_view(), name="bulk"),
    path("queues/<slug:slug>/", views.QueueView.as_view(), name="queue"),
    path("requests/<int:pk>/", views.RequestView.as_view(), name="request"),
    path("requests/<int:pk>/reply/", views.ReplyView.as_view(), name="reply"),
    path("requests/<int:pk>/assign/", views.AssignView.as_view(), name="assign"),
    path("requests/<int:pk>/status/", views.StatusView.as_view(), name="status"),
    path("requests/<int:pk>/priority/", views.PriorityView.as_view(), name="priority"),
    path("requests/<int:pk>/escalate/", views.EscalateView.as_view(), name="escalate"),
    path("requests/<int:pk>/reroute/", views.RerouteView.as_view(), name="reroute"),
    path("requests/<int:pk>/watchers/", views.WatcherView.as_view(), name="watchers"),
    path(
        "requests/<int:pk>/attachments/<int:attachment_pk>/",
        views.AttachmentView.as_view(),
        name="attachment",
    ),
    path("dashboard/", views.DashboardView.as_view(), name="dashboard"),
    # end requests, queues, dashboard
    # guides (desk/guide_views.py, part C); "add" and "suggestions" come before the slug and are reserved slugs
    path("guides/", guide_views.GuideListView.as_view(), name="guide_list"),
    path("guides/add/", guide_views.GuideAddView.as_view(), name="guide_add"),
    path("guides/suggestions/", guide_views.GuideSuggestionsView.as_view(), name="guide_suggestions"),
    path("guides/<slug:slug>/", guide_views.GuideView.as_view(), name="guide"),
    path("guides/<slug:slug>/edit/", guide_views.GuideEditView.as_view(), name="guide_edit"),
    path("guides/<slug:slug>/delete/", guide_views.GuideDeleteView.as_view(), name="guide_delete"),
    path("guides/<slug:slug>/solved/", guide_views.DeflectView.as_view(), name="deflect"),
    # end guides
    # SLA calendars and policies (desk/config_views.py, part B); "new" comes before the slug
    path("calendars/", config_views.CalendarListView.as_view(), name="calendars"),
    path("calendars/new/", config_views.CalendarEditView.as_view(), name="calendar_add"),
    path("calendars/<slug:slug>/", config_views.CalendarView.as_view(), name="calendar"),
    path("calendars/<slug:slug>/edit/", config_views.CalendarEditView.as_view(), name="calendar_edit"),
    path("sla-policies/", config_views.PolicyListView.as_view(), name="sla_policies"),
    path("sla-policies/new/", config_views.PolicyEditView.as_view(), name="sla_policy_add"),
    path("sla-policies/<slug:slug>/", config_views.PolicyView.as_view(), name="sla_policy"),
    path("sla-policies/<slug:slug>/edit/", config_views.PolicyEditView.as_view(), name="sla_policy_edit"),
    # desk settings: request types, queues, routing rules (desk/config_views.py); "new" comes before the slug
    path("settings/", config_views.SettingsView.as_view(), name="settings"),
    path("settings/request-types/", config_views.RequestTypeListView.as_view(), name="request_types"),
    path("settings/request-types/new/", config_views.RequestTypeEditView.as_view(), name="request_type_add"),
    path("settings/request-types/<slug:slug>/", config_views.RequestTypeView.as_view(), name="request_type"),
    path(
        "settings/request-types/<slug:slug>/edit/",
        config_views.RequestTypeEditView.as_view(),
        name="request_type_edit",
    ),
    path(
        "settings/request-types/<slug:slug>/active/",
        config_views.RequestTypeActiveView.as_view(),
        name="request_type_active",
    ),
    path("settings/queues/", config_views.QueueListView.as_view(), name="queue_list"),
    path("settings/queues/new/", config_views.QueueEditView.as_view(), name="queue_add"),
    path("settings/queues/<slug:slug>/", config_views.QueueSettingsView.as_view(), name="queue_detail"),
    path("settings/queues/<slug:slug>/edit/", config_views.QueueEditView.as_view(), name="queue_edit"),
    path("settings/routing-rules/", config_views.RoutingRuleListView.as_view(), name="routing_rules"),
    path("settings/routing-rules/new/", config_views.RoutingRuleEditView.as_view(), name="routing_rule_add"),
    path("settings/routing-rules/<int:pk>/", config_views.RoutingRuleView.as_view(), name="routing_rule"),
    path(
        "settings/routing-rules/<int:pk>/edit/",
        config_views.RoutingRuleEditView.as_view(),
        name="routing_rule_edit",
    ),
    path(
        "settings/routing-rules/<int:pk>/delete/",
        config_views.RoutingRuleDeleteView.as_view(),
        name="routing_rule_delete",
    ),
    path(
        "settings/routing-rules/<int:pk>/move/",
        config_views.RoutingRuleMoveView.as_view(),
        name="routing_rule_move",
    ),
    # end desk settings
    # end SLA
    # chat delivery log and webhooks (desk/chat_views.py)
    path("chat/deliveries/", chat_views.chat_deliveries, name="chat_deliveries"),
    path("chat/deliveries/<int:pk>/", chat_views.chat_delivery, name="chat_delivery"),
    path("chat/deliveries/<int:pk>/resend/", chat_views.chat_delivery_resend, name="chat_delivery_resend"),
    path("chat/webhooks/", chat_views.chat_webhooks, name="chat_webhooks"),
    path("chat/webhooks/<slug:slug>/", chat_views.chat_webhook, name="chat_webhook"),
    # end chat
]
