"""People and teams as the API reads and writes them. Relations go in by natural key (email, slug)."""

from __future__ import annotations

import datetime

from ninja import Field, Schema

from gatehouse.core.api.schemas import Email, InputSchema, label, patch_schema, web_url
from gatehouse.directory.models import EmploymentType, Person, PersonStatus, Team


class PersonBrief(Schema):
    id: int
    email: str
    name: str


class TeamBrief(Schema):
    slug: str
    name: str


class PersonOut(Schema):
    id: int
    email: str
    name: str
    handle: str
    manager: PersonBrief | None
    department: str
    division: str
    title: str
    employment_type: EmploymentType
    employment_type_label: str
    location: str
    time_zone: str
    start_date: datetime.date | None
    end_date: datetime.date | None
    status: PersonStatus
    status_label: str
    hris_id: str
    idp_id: str
    url: str | None = Field(None, description="The person's page in the web UI.")
    created: datetime.datetime
    last_updated: datetime.datetime

    @staticmethod
    def resolve_employment_type_label(obj: Person) -> str:
        return label(obj, "employment_type")

    @staticmethod
    def resolve_status_label(obj: Person) -> str:
        return label(obj, "status")

    @staticmethod
    def resolve_url(obj: Person) -> str | None:
        return web_url(obj)


class PersonIn(InputSchema):
    email: Email
    name: str = Field(..., min_length=1, max_length=200)
    handle: str = Field("", max_length=100, description="Chat or code-hosting username, without the @.")
    manager_email: Email | None = Field(None, description="The manager's email; null for none.")
    department: str = Field("", max_length=100)
    division: str = Field("", max_length=100)
    title: str = Field("", max_length=200)
    employment_type: EmploymentType = EmploymentType.EMPLOYEE
    location: str = Field("", max_length=200)
    time_zone: str = Field("", max_length=64)
    start_date: datetime.date | None = None
    end_date: datetime.date | None = None
    status: PersonStatus = Field(
        PersonStatus.ACTIVE,
        description="Derived from end_date when not given: leaving, or terminated once past.",
    )
    hris_id: str = Field("", max_length=100)
    idp_id: str = Field("", max_length=100)


PersonPatch = patch_schema(PersonIn)


class TeamOut(Schema):
    id: int
    slug: str
    name: str
    description: str
    chat_handle: str
    mention_handle: str
    chat_channel: str
    member_count: int
    url: str | None = Field(None, description="The team's page in the web UI.")
    created: datetime.datetime
    last_updated: datetime.datetime

    @staticmethod
    def resolve_member_count(obj: Team) -> int:
        count = getattr(obj, "member_count", None)
        return count if count is not None else len(obj.members.all())

    @staticmethod
    def resolve_url(obj: Team) -> str | None:
        return web_url(obj)


class TeamDetailOut(TeamOut):
    members: list[PersonBrief]

    @staticmethod
    def resolve_members(obj: Team) -> list[Person]:
        return list(obj.members.all())


class TeamIn(InputSchema):
    name: str = Field(..., min_length=1, max_length=200)
    slug: str = Field(
        "", max_length=100, pattern=r"^[-a-zA-Z0-9_]*$", description="Made from the name when not given."
    )
    description: str = ""
    chat_handle: str = Field("", max_length=100)
    mention_handle: str = Field("", max_length=200)
    chat_channel: str = Field("", max_length=100)
    members: list[Email] = Field(default_factory=list, max_length=10000, description="Members' emails.")


TeamPatch = patch_schema(TeamIn)
