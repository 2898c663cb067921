"""The system edit form. It validates and resolves names to rows; the views save through catalog.services."""

from __future__ import annotations

from typing import Any

from django import forms

from gatehouse.catalog.models import ComplianceScope, ContactRole, System
from gatehouse.catalog.selectors import contacts_by_role
from gatehouse.core.forms import ServiceForm, split_keys
from gatehouse.directory.models import Person, Team

# Form field name -> contact role.
CONTACT_FIELDS = {
    "business_owners": ContactRole.BUSINESS_OWNER,
    "technical_owners": ContactRole.TECHNICAL_OWNER,
    "provisioners": ContactRole.PROVISIONER,
    "deprovisioners": ContactRole.DEPROVISIONER,
}
CONTACT_HELP = "Emails of people or slugs of teams (team:slug also works), separated by commas."


def contact_key(contact) -> str:
    return contact.person.email if contact.person_id else f"team:{contact.team.slug}"


def resolve_parties(text: str) -> list[Person | Team]:
    """People by email and teams by slug, in the order given; a ValidationError names the unknown ones."""
    keys = split_keys(text)
    emails = [k.lower() for k in keys if "@" in k and not k.startswith("@")]
    slugs = [k.removeprefix("team:") for k in keys if k not in emails and k.lower() not in emails]
    people = {p.email: p for p in Person.objects.filter(email__in=emails)}
    teams = {t.slug: t for t in Team.objects.filter(slug__in=slugs)}
    parties, unknown = [], []
    for key in keys:
        if "@" in key and not key.startswith("@"):
            party = people.get(key.lower())
        else:
            party = teams.get(key.removeprefix("team:"))
        if party is None:
            unknown.append(key)
        else:
            parties.append(party)
    if unknown:
        raise forms.ValidationError(f"Unknown person or team: {', '.join(unknown)}.")
    return parties


class SystemForm(ServiceForm):
    model = System
    model_fields = (
        "name",
        "description",
        "label",
        "vendor",
        "tier",
        "data_classification",
        "auth_method",
        "scim_supported",
        "baseline_entitlement",
        "is_subprocessor",
        "audience",
        "owner_team",
        "chat_channel",
        "handbook_link",
        "access_request_url",
        "issue_template_url",
        "access_to",
        "notes",
    )
    widgets = {
        "description": forms.Textarea(attrs={"rows": 3}),
        "handbook_link": forms.Textarea(attrs={"rows": 2}),
        "access_to": forms.Textarea(attrs={"rows": 2}),
        "notes": forms.Textarea(attrs={"rows": 3}),
    }
    groups = (
        ("System", ("name", "slug", "description", "label", "vendor")),
        (
            "Risk",
            ("tier", "data_classification", "compliance_scopes", "is_subprocessor", "audience"),
        ),
        ("Access", ("auth_method", "scim_supported", "baseline_entitlement", "access_to")),
        ("Owners", ("owner_team", *CONTACT_FIELDS)),
        (
            "Help links",
            ("chat_channel", "handbook_link", "access_request_url", "issue_template_url", "notes"),
        ),
    )

    owner_team = forms.CharField(required=False, label="Owner team (slug)", max_length=100)
    compliance_scopes = forms.ModelMultipleChoiceField(
        queryset=ComplianceScope.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    business_owners = forms.CharField(required=False, help_text=CONTACT_HELP)
    technical_owners = forms.CharField(required=False, help_text=CONTACT_HELP)
    provisioners = forms.CharField(required=False, help_text=CONTACT_HELP)
    deprovisioners = forms.CharField(required=False, help_text=CONTACT_HELP)

    def initial_from(self, instance: System) -> dict[str, Any]:
        initial = super().initial_from(instance)
        initial["owner_team"] = instance.owner_team.slug if instance.owner_team_id else ""
        initial["compliance_scopes"] = [s.code for s in instance.compliance_scopes.all()]
        grouped = contacts_by_role(instance)
        for name, role in CONTACT_FIELDS.items():
            initial[name] = ", ".join(contact_key(c) for c in grouped[role])
        return initial

    def clean_owner_team(self) -> Team | None:
        slug = (self.cleaned_data.get("owner_team") or "").strip().removeprefix("team:")
        if not slug:
            return None
        team = Team.objects.filter(slug=slug).first()
        if team is None:
            raise forms.ValidationError(f"No team with slug {slug}.")
        return team

    def _clean_contacts(self, name: str) -> list[Person | Team]:
        return resolve_parties(self.cleaned_data.get(name) or "")

    def clean_business_owners(self):
        return self._clean_contacts("business_owners")

    def clean_technical_owners(self):
        return self._clean_contacts("technical_owners")

    def clean_provisioners(self):
        return self._clean_contacts("provisioners")

    def clean_deprovisioners(self):
        return self._clean_contacts("deprovisioners")

    def service_fields(self) -> dict[str, Any]:
        """Everything update_system and create_system take: fields, contacts by role and scope codes."""
        return {
            **super().service_fields(),
            "contacts": {role: self.cleaned_data[name] for name, role in CONTACT_FIELDS.items()},
            "compliance_scopes": [s.code for s in self.cleaned_data["compliance_scopes"]],
        }


class SystemCreateForm(SystemForm):
    model_fields = ("slug", *SystemForm.model_fields)
