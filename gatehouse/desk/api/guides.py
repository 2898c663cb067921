"""/api/v1/desk/guides: guides (tier 1), their search and "This solved it". Thin over gatehouse.desk.guides.

Systems and request types go in and come out by slug. Everyone signed in reads published guides; admins and
engineers write them (and read drafts); auditors read only.
"""

import datetime

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError
from ninja.pagination import paginate

from gatehouse.catalog.models import System
from gatehouse.core.api.filtering import FilterError, apply_filters, query_schema
from gatehouse.core.api.pagination import LimitOffsetPagination
from gatehouse.core.api.schemas import InputSchema, patch_schema, sent_fields, web_url
from gatehouse.core.permissions import require
from gatehouse.desk import guides
from gatehouse.desk.guide_filtersets import GuideFilterSet
from gatehouse.desk.models import Guide, RequestType

router = Router(tags=["guides"])

GuideQuery = query_schema(GuideFilterSet)
SLUG = r"^[-a-zA-Z0-9_]+$"


class GuideOut(Schema):
    id: int
    slug: str
    title: str
    summary: str
    is_published: bool
    systems: list[str] = Field(description="Slugs of the systems the guide is about.")
    request_types: list[str] = Field(description="Slugs of the request types it answers.")
    url: str | None = Field(None, description="The guide's page in the web UI.")
    created: datetime.datetime
    last_updated: datetime.datetime

    @staticmethod
    def resolve_systems(obj: Guide) -> list[str]:
        return [s.slug for s in obj.systems.all()]

    @staticmethod
    def resolve_request_types(obj: Guide) -> list[str]:
        return [t.slug for t in obj.request_types.all()]

    @staticmethod
    def resolve_url(obj: Guide) -> str | None:
        return web_url(obj)


class GuideDetailOut(GuideOut):
    body: str = Field(description="Markdown.")
    html: str = Field(description="The body rendered safely: no raw HTML, no script, no unsafe link.")

    @staticmethod
    def resolve_html(obj: Guide) -> str:
        return str(guides.render_markdown(obj.body))


class GuideIn(InputSchema):
    slug: str = Field(..., min_length=1, max_length=150, pattern=SLUG)
    title: str = Field(..., min_length=1, max_length=250)
    summary: str = Field("", max_length=500)
    body: str = Field(..., min_length=1, max_length=guides.MAX_BODY_CHARS, description="Markdown.")
    is_published: bool = True
    systems: list[str] = Field(default_factory=list, max_length=500, description="System slugs.")
    request_types: list[str] = Field(default_factory=list, max_length=100, description="Request type slugs.")


GuidePatch = patch_schema(GuideIn)


class DeflectionIn(InputSchema):
    subject: str = Field("", max_length=250, description="What the person was about to ask.")
    system: str | None = Field(None, max_length=100, description="The system's slug, if any.")
    request_type: str | None = Field(None, max_length=100, description="The request type's slug, if any.")


class DeflectionOut(Schema):
    id: int
    guide: str
    person: str | None = Field(description="The person's email.")
    system: str | None
    request_type: str | None
    subject: str
    created: datetime.datetime

    @staticmethod
    def resolve_guide(obj) -> str:
        return obj.guide.slug

    @staticmethod
    def resolve_person(obj) -> str | None:
        return obj.person.email if obj.person_id else None

    @staticmethod
    def resolve_system(obj) -> str | None:
        return obj.system.slug if obj.system_id else None

    @staticmethod
    def resolve_request_type(obj) -> str | None:
        return obj.request_type.slug if obj.request_type_id else None


def _by_slug(model, field: str, slugs: list[str] | None):
    """Rows for the slugs, in order; a 422 naming each unknown one (e.g. systems.2)."""
    if slugs is None:
        return None
    found = {row.slug: row for row in model.objects.filter(slug__in=set(slugs))}
    errors = {
        f"{field}.{i}": f"No {field[:-1].replace('_', ' ')} {s!r}."
        for i, s in enumerate(slugs)
        if s not in found
    }
    if errors:
        raise ValidationError(errors)
    return [found[s] for s in slugs]


def _links(data: dict) -> dict:
    if "systems" in data:
        data["systems"] = _by_slug(System, "systems", data["systems"])
    if "request_types" in data:
        data["request_types"] = _by_slug(RequestType, "request_types", data["request_types"])
    for name in ("systems", "request_types", "slug", "title", "body", "is_published"):
        if name in data and data[name] is None:
            raise ValidationError({name: "Must not be null."})
    return data


def _get(request: HttpRequest, slug: str) -> Guide:
    return guides.get_guide(request.user, slug)


@router.get("", response=list[GuideOut], summary="List or search guides")
@paginate(LimitOffsetPagination)
def list_guides(request: HttpRequest, filters: Query[GuideQuery]):
    """`q` searches title, summary and body (best match first); `system` and `type` keep the guides linked to
    that system or request type (by slug)."""
    return apply_filters(GuideFilterSet, request.GET, guides.guide_list(request.user), request)


@router.get("/suggestions", response=list[GuideOut], summary="Suggest guides for a request being written")
def suggest_guides(
    request: HttpRequest,
    subject: str = Query("", max_length=500),
    system: str | None = Query(None, max_length=100),
    type: str | None = Query(None, max_length=100, description="The request type's slug."),
    limit: int = Query(5, ge=1, le=20),
):
    """What the new-request form shows under the subject: guides linked to the system first, then by rank."""
    try:
        return guides.search_guides(request.user, subject, system=system, request_type=type, limit=limit)
    except ValidationError as exc:  # an unknown system or type: 422 naming the query parameter
        names = {"request_type": "type"}
        raise FilterError({names.get(k, k): v for k, v in exc.message_dict.items()}) from exc


@router.get("/{slug}", response=GuideDetailOut, summary="Read a guide")
def get_guide(request: HttpRequest, slug: str):
    return _get(request, slug)


@router.post("", response={201: GuideDetailOut}, summary="Create a guide")
def create_guide(request: HttpRequest, payload: GuideIn):
    require(request.user, "desk.add_guide")
    guide = guides.create_guide(actor=request.user, **_links(sent_fields(payload)))
    return Status(201, _get(request, guide.slug))


@router.patch("/{slug}", response=GuideDetailOut, summary="Change a guide")
def update_guide(request: HttpRequest, slug: str, payload: GuidePatch):
    """Send only the fields to change; `systems` and `request_types` replace the links (`[]` removes them)."""
    guide = _get(request, slug)
    require(request.user, "desk.change_guide", guide)
    guide = guides.update_guide(guide, actor=request.user, **_links(sent_fields(payload)))
    return _get(request, guide.slug)


@router.delete("/{slug}", response={204: None}, summary="Delete a guide")
def delete_guide(request: HttpRequest, slug: str):
    """A guide that has solved requests is kept for the desk's metrics (409): unpublish it instead."""
    guide = _get(request, slug)
    require(request.user, "desk.delete_guide", guide)
    try:
        guides.delete_guide(guide, actor=request.user)
    except ValidationError as exc:
        raise HttpError(409, " ".join(exc.messages)) from exc
    return Status(204, None)


@router.post("/{slug}/deflect", response={201: DeflectionOut}, summary="This solved it")
def deflect(request: HttpRequest, slug: str, payload: DeflectionIn):
    """Record that the guide answered what would have been a request; no request is filed."""
    guide = _get(request, slug)
    data = sent_fields(payload)
    deflection = guides.record_deflection(
        actor=request.user,
        guide=guide,
        subject=data.get("subject", ""),
        system=data.get("system"),
        request_type=data.get("request_type"),
    )
    return Status(201, deflection)
