"""The access lifecycle's pages."""

from django.urls import path

from gatehouse.access import request_views, review_views, task_views
from gatehouse.access import views as grant_views

app_name = "access"

urlpatterns = [
    # entitlements, grants, bundles, joiners/movers/leavers
    path("entitlements/", grant_views.EntitlementListView.as_view(), name="entitlement_list"),
    path("entitlements/add/", grant_views.EntitlementAddView.as_view(), name="entitlement_add"),
    path("entitlements/<int:pk>/", grant_views.EntitlementView.as_view(), name="entitlement"),
    path("entitlements/<int:pk>/edit/", grant_views.EntitlementEditView.as_view(), name="entitlement_edit"),
    path("grants/<int:pk>/end/", grant_views.end_grant, name="grant_end"),
    path("bundles/", grant_views.BundleListView.as_view(), name="bundle_list"),
    path("bundles/add/", grant_views.BundleAddView.as_view(), name="bundle_add"),
    path("bundles/<int:pk>/", grant_views.BundleView.as_view(), name="bundle"),
    path("bundles/<int:pk>/edit/", grant_views.BundleEditView.as_view(), name="bundle_edit"),
    path("lifecycle/", grant_views.LifecycleEventListView.as_view(), name="event_list"),
    path("leavers/", grant_views.leaver_dashboard, name="leavers"),
    # access requests and approvals
    path("requests/", request_views.MyAccessRequestsView.as_view(), name="requests"),
    path("requests/new/", request_views.new_access_request, name="request_new"),
    path("requests/<int:pk>/", request_views.access_request_detail, name="request"),
    path("requests/<int:pk>/cancel/", request_views.cancel_access_request, name="request_cancel"),
    path("approvals/", request_views.ApprovalsView.as_view(), name="approvals"),
    path("approvals/<int:pk>/decide/", request_views.decide_step, name="step_decide"),
    path("approve/<str:token>/", request_views.approval_link, name="approval_link"),
    # fulfilment tasks and time-bound access
    path("tasks/", task_views.TaskQueueView.as_view(), name="tasks"),
    path("tasks/security/", task_views.SecurityListView.as_view(), name="task_security"),
    path("tasks/<int:pk>/", task_views.task_detail, name="task"),
    path("tasks/<int:pk>/retry/", task_views.task_retry, name="task_retry"),
    path("grants/<int:pk>/renew/", task_views.grant_renew, name="grant_renew"),
    path("grants/<int:pk>/do-not-renew/", task_views.grant_do_not_renew, name="grant_do_not_renew"),
    # access reviews
    path("reviews/", review_views.CampaignListView.as_view(), name="review_list"),
    path("reviews/mine/", review_views.MyReviewsView.as_view(), name="my_reviews"),
    path("reviews/start/", review_views.StartCampaignView.as_view(), name="review_start"),
    path("reviews/templates/", review_views.TemplateListView.as_view(), name="review_templates"),
    path("reviews/templates/add/", review_views.TemplateAddView.as_view(), name="review_template_add"),
    path("reviews/templates/<slug:slug>/", review_views.TemplateView.as_view(), name="review_template"),
    path(
        "reviews/templates/<slug:slug>/edit/",
        review_views.TemplateEditView.as_view(),
        name="review_template_edit",
    ),
    path("reviews/<int:pk>/", review_views.CampaignView.as_view(), name="campaign"),
    path("reviews/<int:pk>/items/", review_views.ReviewItemsView.as_view(), name="review_items"),
    path("reviews/<int:pk>/items/decide/", review_views.DecideView.as_view(), name="review_decide"),
    path("reviews/<int:pk>/items/reassign/", review_views.ReassignView.as_view(), name="review_reassign"),
    path("reviews/<int:pk>/close/", review_views.CloseCampaignView.as_view(), name="review_close"),
    path("reviews/<int:pk>/evidence.<str:fmt>", review_views.EvidenceView.as_view(), name="review_evidence"),
]
