"""Systems as the API reads and writes them.

Relations go in by natural key: the owner team by slug, contacts as `{"person": email}` or `{"team": slug}`,
compliance scopes by code. A choice left unknown is `null` both ways (stored as blank).
"""

from __future__ import annotations

import datetime
from typing import Any

from ninja import Field, Schema
from pydantic import model_validator

from gatehouse.catalog.models import Audience, AuthMethod, ContactRole, DataClassification, System, Tier
from gatehouse.core.api.schemas import Email, InputSchema, label, patch_schema, web_url
from gatehouse.directory.api.schemas import PersonBrief, TeamBrief

# The API's name for each contact role's list: business_owner -> business_owners.
CONTACT_LISTS = {f"{role}s": role for role in ContactRole.values}


class ContactOut(Schema):
    """Exactly one of `person` and `team` is set."""

    person: PersonBrief | None
    team: TeamBrief | None


class ContactIn(InputSchema):
    """A person by email or a team by slug, not both."""

    person: Email | None = None
    team: str | None = Field(None, max_length=100)

    @model_validator(mode="after")
    def _one_party(self):
        if (self.person is None) == (self.team is None):
            raise ValueError('Give either "person" (an email) or "team" (a slug).')
        return self


def _contacts(role: str):
    def resolve(obj: System) -> list[Any]:
        # From the rows prefetched by the selector: no query per system.
        return [c for c in obj.contacts.all() if c.role == role]

    return staticmethod(resolve)


def _blank_as_null(field: str):
    return staticmethod(lambda obj: getattr(obj, field) or None)


def _label_of(field: str):
    return staticmethod(lambda obj: label(obj, field))


class SystemOut(Schema):
    id: int
    slug: str
    name: str
    description: str
    label: str
    owner_team: TeamBrief | None
    chat_channel: str
    tier: Tier | None = Field(description="The tier as declared.")
    tier_label: str
    effective_tier: Tier | None = Field(description="The declared tier raised by the tier defaults.")
    effective_tier_label: str
    tier_reasons: list[str]
    data_classification: DataClassification | None
    data_classification_label: str
    auth_method: AuthMethod | None
    auth_method_label: str
    scim_supported: bool | None
    baseline_entitlement: bool | None
    is_subprocessor: bool | None
    compliance_scopes: list[str] = Field(description="Compliance scope codes, e.g. sox, pci.")
    audience: Audience | None
    audience_label: str
    vendor: str
    access_to: str
    handbook_link: str
    access_request_url: str
    issue_template_url: str
    notes: str
    business_owners: list[ContactOut]
    technical_owners: list[ContactOut]
    provisioners: list[ContactOut]
    deprovisioners: list[ContactOut]
    extra: dict[str, Any]
    import_problems: list[Any]
    url: str | None = Field(None, description="The system's page in the web UI.")
    created: datetime.datetime
    last_updated: datetime.datetime

    resolve_tier_label = _label_of("tier")
    resolve_effective_tier_label = _label_of("effective_tier")
    resolve_data_classification = _blank_as_null("data_classification")
    resolve_data_classification_label = _label_of("data_classification")
    resolve_auth_method = _blank_as_null("auth_method")
    resolve_auth_method_label = _label_of("auth_method")
    resolve_audience = _blank_as_null("audience")
    resolve_audience_label = _label_of("audience")
    resolve_business_owners = _contacts(ContactRole.BUSINESS_OWNER)
    resolve_technical_owners = _contacts(ContactRole.TECHNICAL_OWNER)
    resolve_provisioners = _contacts(ContactRole.PROVISIONER)
    resolve_deprovisioners = _contacts(ContactRole.DEPROVISIONER)

    @staticmethod
    def resolve_tier_reasons(obj: System) -> list[str]:
        return obj.tier_reasons()

    @staticmethod
    def resolve_compliance_scopes(obj: System) -> list[str]:
        return [scope.code for scope in obj.compliance_scopes.all()]

    @staticmethod
    def resolve_url(obj: System) -> str | None:
        return web_url(obj)


Contacts = list[ContactIn]


class SystemIn(InputSchema):
    slug: str = Field(..., min_length=1, max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")
    name: str = Field(..., min_length=1, max_length=200)
    description: str = ""
    label: str = Field("", max_length=100, description="e.g. corpsys::okta-sso")
    owner_team: str | None = Field(None, max_length=100, description="The owner team's slug; null for none.")
    chat_channel: str = Field("", max_length=100)
    tier: Tier | None = None
    data_classification: DataClassification | None = None
    auth_method: AuthMethod | None = None
    scim_supported: bool | None = None
    baseline_entitlement: bool | None = None
    is_subprocessor: bool | None = None
    compliance_scopes: list[str] = Field(default_factory=list, max_length=100, description="Scope codes.")
    audience: Audience | None = None
    vendor: str = Field("", max_length=200)
    access_to: str = ""
    handbook_link: str = ""
    access_request_url: str = Field("", max_length=500)
    issue_template_url: str = Field("", max_length=500)
    notes: str = ""
    business_owners: Contacts = Field(default_factory=list, max_length=1000)
    technical_owners: Contacts = Field(default_factory=list, max_length=1000)
    provisioners: Contacts = Field(default_factory=list, max_length=1000)
    deprovisioners: Contacts = Field(default_factory=list, max_length=1000)
    extra: dict[str, Any] = Field(default_factory=dict, description="Fields an import did not know.")


SystemPatch = patch_schema(SystemIn)
