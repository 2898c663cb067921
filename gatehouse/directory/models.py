"""The people directory: persons imported from the HRIS, and teams used as owner groups, queues and pools."""

from __future__ import annotations

import datetime

from django.db import models
from django.urls import reverse
from django.utils import timezone

from gatehouse.core.models import ChangeLoggedModel


class EmploymentType(models.TextChoices):
    EMPLOYEE = "employee", "Employee"
    CONTRACTOR = "contractor", "Contractor"
    TEMPORARY = "temporary", "Temporary service provider"


class PersonStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    LEAVING = "leaving", "Leaving"
    TERMINATED = "terminated", "Terminated"


def status_from_dates(end_date: datetime.date | None, today: datetime.date | None = None) -> str:
    """A person with an end date in the past is terminated; one with an end date ahead is leaving."""
    if end_date is None:
        return PersonStatus.ACTIVE
    today = today or timezone.localdate()
    return PersonStatus.TERMINATED if end_date < today else PersonStatus.LEAVING


class Person(ChangeLoggedModel):
    email = models.EmailField(unique=True, help_text="The key people are matched and imported by.")
    name = models.CharField(max_length=200)
    handle = models.CharField(
        max_length=100,
        blank=True,
        db_index=True,
        help_text="Chat or code-hosting username, without the @; used to match owners named as @handle.",
    )
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    department = models.CharField(max_length=100, blank=True, db_index=True)
    division = models.CharField(max_length=100, blank=True)
    title = models.CharField(max_length=200, blank=True)
    employment_type = models.CharField(
        max_length=20, choices=EmploymentType.choices, default=EmploymentType.EMPLOYEE
    )
    location = models.CharField(max_length=200, blank=True)
    time_zone = models.CharField(max_length=64, blank=True)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=PersonStatus.choices, default=PersonStatus.ACTIVE, db_index=True
    )
    hris_id = models.CharField("HRIS id", max_length=100, blank=True, db_index=True)
    idp_id = models.CharField("IdP id", max_length=100, blank=True)

    class Meta:
        ordering = ["name", "email"]
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return self.name or self.email

    def get_absolute_url(self) -> str:
        return reverse("directory:person", args=[self.pk])

    def save(self, *args, **kwargs):
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)


class Team(ChangeLoggedModel):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    chat_handle = models.CharField(
        max_length=100, blank=True, db_index=True, help_text="Chat group, e.g. @sysowners-okta-sso."
    )
    mention_handle = models.CharField(
        max_length=200, blank=True, db_index=True, help_text="Mention handle, e.g. @corpsec/sys/okta."
    )
    chat_channel = models.CharField(max_length=100, blank=True, help_text="e.g. #it_help")
    members = models.ManyToManyField(Person, blank=True, related_name="teams")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("directory:team", args=[self.slug])
