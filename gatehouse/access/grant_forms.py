"""Forms for entitlements, bundles and ending a grant. They validate; the views save through the services."""

from __future__ import annotations

from typing import Any

from django import forms

from gatehouse.access.models import Bundle, Entitlement
from gatehouse.catalog.models import System
from gatehouse.core.forms import ServiceForm, split_keys
from gatehouse.directory.models import Person


class EntitlementForm(ServiceForm):
    model = Entitlement
    model_fields = (
        "name",
        "slug",
        "description",
        "privilege",
        "is_requestable",
        "is_baseline",
        "max_duration_days",
        "approval_policy",
        "owner",
        "connector",
        "external_id",
        "external_role",
    )
    widgets = {"description": forms.Textarea(attrs={"rows": 3})}
    groups = (
        ("Entitlement", ("system", "name", "slug", "description", "owner")),
        ("Policy", ("privilege", "is_requestable", "is_baseline", "max_duration_days", "approval_policy")),
        ("Connector", ("connector", "external_id", "external_role")),
    )

    owner = forms.CharField(required=False, label="Owner (email)", max_length=254)

    def initial_from(self, instance: Entitlement) -> dict[str, Any]:
        initial = super().initial_from(instance)
        initial["owner"] = instance.owner.email if instance.owner_id else ""
        return initial

    def clean_owner(self) -> Person | None:
        email = (self.cleaned_data.get("owner") or "").strip().lower()
        if not email:
            return None
        person = Person.objects.filter(email=email).first()
        if person is None:
            raise forms.ValidationError(f"No person with the email {email}.")
        return person


class EntitlementCreateForm(EntitlementForm):
    """The add page: the system too, among the ones the user may add entitlements to."""

    model_fields = ("system", *EntitlementForm.model_fields)

    def __init__(self, *args, systems=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["system"] = forms.ModelChoiceField(
            queryset=systems if systems is not None else System.objects.none(), to_field_name="slug"
        )
        self.fields = {"system": self.fields.pop("system"), **self.fields}

    def service_fields(self) -> dict[str, Any]:
        fields = super().service_fields()
        return fields


class BundleForm(ServiceForm):
    model = Bundle
    model_fields = ("name", "slug", "department", "title")
    entitlements = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="system-slug/entitlement-slug, separated by commas or new lines.",
    )

    def initial_from(self, instance: Bundle) -> dict[str, Any]:
        initial = super().initial_from(instance)
        initial["entitlements"] = ", ".join(
            f"{e.system.slug}/{e.slug}" for e in instance.entitlements.select_related("system")
        )
        return initial

    def clean_entitlements(self) -> list[Entitlement]:
        keys = split_keys(self.cleaned_data.get("entitlements") or "")
        found, unknown = [], []
        for key in keys:
            system_slug, _, slug = key.partition("/")
            entitlement = Entitlement.objects.filter(system__slug=system_slug, slug=slug).first()
            (found if entitlement else unknown).append(entitlement or key)
        if unknown:
            raise forms.ValidationError(f"Unknown entitlement: {', '.join(unknown)}.")
        return found


class EndGrantForm(forms.Form):
    reason = forms.CharField(
        max_length=300, widget=forms.TextInput(attrs={"placeholder": "Why the access ends"})
    )
