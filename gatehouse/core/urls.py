from django.urls import path

from gatehouse.core import views_pages

app_name = "core"

urlpatterns = [
    path("", views_pages.home, name="home"),
    path("healthz", views_pages.healthz, name="healthz"),
]
