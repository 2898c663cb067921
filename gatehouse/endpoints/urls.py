"""The endpoints module's pages."""

from django.urls import path

from gatehouse.endpoints import kpi_views, views
from gatehouse.endpoints.feed_views import feeds_page

app_name = "endpoints"

urlpatterns = [
    # devices, mismatch report
    path("devices/", views.DeviceListView.as_view(), name="device_list"),
    path("devices/failing.csv", views.export_failing, name="device_export_failing"),
    path("devices/mine/", views.MyDevicesView.as_view(), name="my_devices"),
    path("devices/<int:pk>/", views.DeviceView.as_view(), name="device"),
    path("mismatches/", views.mismatch_report, name="mismatches"),
    path("os-releases/", views.OsReleaseListView.as_view(), name="os_release_list"),
    path("os-releases/add/", views.OsReleaseEditView.as_view(), name="os_release_add"),
    path("os-releases/<int:pk>/edit/", views.OsReleaseEditView.as_view(), name="os_release_edit"),
    path("os-releases/<int:pk>/delete/", views.OsReleaseDeleteView.as_view(), name="os_release_delete"),
    path("policies/", views.policy_list, name="policy_list"),
    path("policies/<int:pk>/edit/", views.PolicyEditView.as_view(), name="policy_edit"),
    # the KPI dashboard
    path("kpis/", kpi_views.KpiDashboardView.as_view(), name="kpis"),
    # feeds
    path("feeds/", feeds_page, name="feeds"),
]
