from django.urls import path

from gatehouse.directory import views

app_name = "directory"

urlpatterns = [
    path("", views.PersonListView.as_view(), name="person_list"),
    path("add/", views.PersonAddView.as_view(), name="person_add"),
    path("<int:pk>/", views.PersonView.as_view(), name="person"),
    path("<int:pk>/edit/", views.PersonEditView.as_view(), name="person_edit"),
    path("teams/", views.TeamListView.as_view(), name="team_list"),
    path("teams/<slug:slug>/", views.TeamView.as_view(), name="team"),
    path("teams/<slug:slug>/edit/", views.TeamEditView.as_view(), name="team_edit"),
]
