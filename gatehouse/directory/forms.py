"""Edit forms for people and teams. They validate; the views save through directory.services."""

from __future__ import annotations

from typing import Any

from django import forms

from gatehouse.core.forms import DATE_INPUT, ServiceForm, split_keys
from gatehouse.directory.models import Person, Team


class PersonForm(ServiceForm):
    model = Person
    # Status is not edited: it follows the end date (directory.services sets it).
    model_fields = (
        "name",
        "email",
        "handle",
        "title",
        "department",
        "division",
        "manager",
        "employment_type",
        "location",
        "time_zone",
        "start_date",
        "end_date",
        "hris_id",
        "idp_id",
    )
    widgets = {"start_date": DATE_INPUT, "end_date": DATE_INPUT}
    groups = (
        ("Person", ("name", "email", "handle", "title")),
        ("Organisation", ("department", "division", "manager", "employment_type", "location", "time_zone")),
        ("Dates and ids", ("start_date", "end_date", "hris_id", "idp_id")),
    )

    manager = forms.EmailField(required=False, label="Manager's email", help_text="Empty for no manager.")

    def initial_from(self, instance: Person) -> dict[str, Any]:
        initial = super().initial_from(instance)
        initial["manager"] = instance.manager.email if instance.manager_id else ""
        return initial

    def clean_manager(self) -> Person | None:
        email = (self.cleaned_data.get("manager") or "").strip().lower()
        if not email:
            return None
        manager = Person.objects.filter(email=email).first()
        if manager is None:
            raise forms.ValidationError(f"No person with email {email}.")
        return manager


class TeamForm(ServiceForm):
    model = Team
    model_fields = ("name", "slug", "description", "chat_handle", "mention_handle", "chat_channel")
    groups = (
        ("Team", ("name", "slug", "description")),
        ("Chat", ("chat_handle", "mention_handle", "chat_channel")),
        ("Members", ("members",)),
    )

    members = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Email addresses, separated by commas, spaces or new lines.",
    )

    def initial_from(self, instance: Team) -> dict[str, Any]:
        initial = super().initial_from(instance)
        initial["members"] = ", ".join(instance.members.order_by("name").values_list("email", flat=True))
        return initial

    def clean_members(self) -> list[Person]:
        emails = [e.lower() for e in split_keys(self.cleaned_data.get("members") or "")]
        found = {p.email: p for p in Person.objects.filter(email__in=emails)}
        missing = [e for e in emails if e not in found]
        if missing:
            raise forms.ValidationError(f"No person with email {', '.join(missing)}.")
        return [found[e] for e in emails]
