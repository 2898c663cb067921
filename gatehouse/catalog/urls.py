from django.urls import path

from gatehouse.catalog import views

app_name = "catalog"

# "add" and "help" come before the slug pattern, so they cannot be system slugs.
urlpatterns = [
    path("", views.SystemListView.as_view(), name="system_list"),
    path("add/", views.SystemAddView.as_view(), name="system_add"),
    path("help/", views.GettingHelpView.as_view(), name="getting_help"),
    path("<slug:slug>/", views.SystemView.as_view(), name="system"),
    path("<slug:slug>/edit/", views.SystemEditView.as_view(), name="system_edit"),
]
