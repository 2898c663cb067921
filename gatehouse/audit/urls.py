from django.urls import path

from gatehouse.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.EventListView.as_view(), name="event_list"),
    path("export.csv", views.export, name="export"),
    path("<int:pk>/", views.EventView.as_view(), name="event"),
]
