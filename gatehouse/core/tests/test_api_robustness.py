"""Malformed input never gets a 500: a fixed battery at every endpoint, then a fuzz driven by the OpenAPI document."""

import json
import re
from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatehouse.catalog.models import ComplianceScope
from gatehouse.catalog.tests.factories import SystemFactory
from gatehouse.core.api.testing import ApiClient
from gatehouse.core.permissions import SYSTEM
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory
from gatehouse.users.services import create_api_token

pytestmark = pytest.mark.django_db

# Values of the wrong type, size or shape, tried in every field of every body.
JUNK_VALUES = [
    None,
    True,
    0,
    -1,
    10**100,
    -(10**100),
    1.5,
    1e308,
    "",
    " ",
    "x" * 100_000,
    "\x00",
    "nul\x00inside",
    "😀 ünïcödé ‮",
    "'; DROP TABLE directory_person; --",
    "not-an-email",
    "@",
    "a@b",
    "2024-13-45",
    [],
    [None],
    [{"person": "ghost@example.com"}],
    [{"team": None}],
    ["\x00"],
    {},
    {"nested": {"deeper": [1, 2, {"x": None}]}},
    {"\x00": 1},
]
RAW_BODIES = [
    "{bad",
    "{",
    '{"name": ',
    "null",
    "[]",
    '"a string"',
    "1e999",
    "NaN",
    '{"extra": {"n": NaN}}',
    '{"extra": {"n": Infinity}}',
    "[" * 5000 + "]" * 5000,
    '{"a": ' * 3000 + "1" + "}" * 3000,
    "\xff\xfe",
    '{"name": "\\ud800"}',
    '{"name": "x", "name": 1}',
]
QUERY_JUNK = [
    {"limit": "abc"},
    {"limit": "0"},
    {"limit": "-5"},
    {"limit": "100000"},
    {"limit": "1.5"},
    {"limit": str(10**40)},
    {"offset": "-1"},
    {"offset": str(10**40)},
    {"offset": "abc"},
    {"limit": ["1", "2"]},
    {"q": "\x00"},
    {"q": "😀" * 1000},
    {"q": "%"},
    {"q": "_"},
]
FILTER_JUNK = ["abc", "-1", str(10**40), "\x00", "😀", "", " ", "true", "2024-13-45", "1e999", "x" * 5000]
PATH_JUNK = ["abc", "-1", "0", str(10**40), "%00", quote("😀"), "x" * 2000, quote("../../etc"), "1.5", "%20"]


@pytest.fixture
def world(admin_user):
    """One of each object for the path parameters, and a spare token to revoke."""
    ComplianceScope.objects.get_or_create(code="sox", defaults={"name": "SOX"})
    person = PersonFactory(email="p@example.com")
    team = TeamFactory(slug="t", members=[person])
    SystemFactory(slug="s", owner_team=team)
    spare, _ = create_api_token(actor=SYSTEM, user=admin_user, name="spare")
    return {"person_id": str(person.pk), "token_id": str(spare.pk)}


@pytest.fixture
def document(db):
    return Client().get("/api/v1/openapi.json").json()


def operations(document):
    """(method, path template, operation) for every operation, writes last and deletes at the very end."""
    ops = [(m, p, op) for p, item in document["paths"].items() for m, op in item.items()]
    order = {"get": 0, "post": 1, "patch": 2, "delete": 3}
    return sorted(ops, key=lambda o: order.get(o[0], 9))


def fill(path: str, world: dict, value: str | None = None) -> str:
    def sub(match):
        name = match.group(1)
        if value is not None:
            return value
        if name == "slug":
            return "s" if "/systems/" in path else "t"
        return world.get(name) or "1"

    return re.sub(r"{(\w+)}", sub, path)


def resolve(document, schema):
    while "$ref" in schema:
        node = document
        for part in schema["$ref"][2:].split("/"):
            node = node[part]
        schema = node
    return schema


def body_fields(document, operation) -> list[str]:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return []
    return list(resolve(document, content["schema"]).get("properties", {}))


def check(response, what):
    assert response.status_code < 500, (what, response.status_code, response.content[:500])
    if response.status_code >= 400 and response.get("Content-Type", "").startswith("application/json"):
        detail = response.json()["detail"]
        if response.status_code == 422:
            assert all({"loc", "msg", "type"} <= set(d) for d in detail), detail


@pytest.fixture
def api(admin_user, token_for):
    return ApiClient(token_for(admin_user))


def test_malformed_requests_never_get_a_500(api, world, document):
    for method, template, operation in operations(document):
        path = fill(template, world)
        fields = body_fields(document, operation)
        if fields:
            for raw in RAW_BODIES:
                check(api.request(method, path, raw=raw), (method, path, raw[:40]))
            check(
                api.request(
                    method,
                    path,
                    raw="name=x",
                ),
                (method, path, "form"),
            )
            check(api.request(method, path, {"no_such_field": 1}), (method, path, "unknown field"))
            for field in fields:
                for value in JUNK_VALUES:
                    check(api.request(method, path, {field: value}), (method, path, field, repr(value)[:40]))
        if method == "get":
            for params in QUERY_JUNK:
                check(api.get(path, **params), (path, params))
            for param in operation.get("parameters", []):
                if param["in"] == "query":
                    for value in FILTER_JUNK:
                        check(api.get(path, **{param["name"]: value}), (path, param["name"], value[:40]))
        if "{" in template:
            for junk in PATH_JUNK:
                check(api.request(method, fill(template, world, junk)), (method, template, junk[:40]))


def test_wrong_content_types_and_methods(api, world):
    for content_type in ("text/plain", "multipart/form-data; boundary=x", "application/xml", ""):
        response = api.client.post(
            "/api/v1/people", data="{}", content_type=content_type, headers=api.headers
        )
        check(response, content_type)
    check(api.request("put", "/people/1"), "put")
    check(api.client.options("/api/v1/people", headers=api.headers), "options")
    check(api.client.head("/api/v1/people", headers=api.headers), "head")


def test_malformed_json_is_a_422_saying_so(api):
    response = api.post("/people", raw="{bad")
    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"loc": ["body"], "msg": "The request body is not valid JSON.", "type": "json_invalid"}]
    }


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": "abc"}, ["query", "limit"]),
        ({"limit": "0"}, ["query", "limit"]),
        ({"limit": "100000"}, ["query", "limit"]),
        ({"offset": "-1"}, ["query", "offset"]),
        ({"offset": str(10**40)}, ["query", "offset"]),
    ],
)
def test_bad_pagination_is_a_422_naming_the_parameter(api, params, loc):
    response = api.get("/people", **params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_unknown_fields_and_nul_characters_are_refused(api):
    response = api.post("/people", {"email": "a@example.com", "name": "A", "is_superuser": True})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["body", "is_superuser"], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}
    ]
    response = api.post("/people", {"email": "a@example.com", "name": "A\x00"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "name"]


# The fuzz: requests built from the OpenAPI document, mixing well-typed values with junk.

PLAIN = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
JSON_JUNK = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def value_for(document, schema, depth: int = 0):
    """A strategy for values of a JSON schema fragment, often valid, sometimes not."""
    schema = resolve(document, schema)
    if depth > 3:
        return JSON_JUNK
    if "enum" in schema:
        valid = st.sampled_from(schema["enum"])
    elif "anyOf" in schema or "oneOf" in schema or "allOf" in schema:
        options = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
        valid = st.one_of([value_for(document, s, depth + 1) for s in options])
    else:
        kind = schema.get("type")
        if kind == "string":
            fmt = schema.get("format")
            if fmt == "email":
                valid = (
                    st.sampled_from(["p@example.com", "P@Example.com", "nobody@example.com"]) | st.emails()
                )
            elif fmt == "date":
                valid = st.dates().map(str)
            else:
                valid = st.text(
                    PLAIN, min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 50) + 2
                )
        elif kind == "integer":
            valid = st.integers(
                min_value=schema.get("minimum", -(2**70)) - 1, max_value=schema.get("maximum", 2**70) + 1
            )
        elif kind == "number":
            valid = st.floats(allow_nan=False)
        elif kind == "boolean":
            valid = st.booleans()
        elif kind == "array":
            valid = st.lists(value_for(document, schema.get("items", {}), depth + 1), max_size=3)
        elif kind == "object" or "properties" in schema:
            properties = {
                n: value_for(document, sub, depth + 1) for n, sub in schema.get("properties", {}).items()
            }
            required = set(schema.get("required", []))
            valid = st.fixed_dictionaries(
                {n: v for n, v in properties.items() if n in required},
                optional={n: v for n, v in properties.items() if n not in required},
            )
        else:
            valid = JSON_JUNK
    # Mostly well-typed, so many requests get past validation into the endpoint; now and then junk.
    return st.integers(0, 9).flatmap(lambda n: JSON_JUNK if n == 9 else valid)


QUERY_TEXT = (
    st.text(max_size=30) | st.integers().map(str) | st.sampled_from(["", "true", "sox", "1", "t", "s"])
)


def request_strategy(document, template, operation):
    params = {
        p["name"]: st.lists(QUERY_TEXT, min_size=1, max_size=3) | QUERY_TEXT
        for p in operation.get("parameters", [])
        if p["in"] == "query"
    }
    junk_path = st.sampled_from(["0", "abc", str(10**30)]) | st.text(min_size=1, max_size=10).map(
        lambda t: quote(t, safe="")
    )
    path_values = st.integers(0, 4).flatmap(
        lambda n: junk_path if n == 4 else st.none()
    )  # None: a real object
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    body = value_for(document, content["schema"]) if content else st.none()
    return st.tuples(st.fixed_dictionaries({}, optional=params), path_values, body)


def _fuzz_operations():
    # Paths and methods known up front so each operation is its own test case.
    from gatehouse.api import api

    schema = api.get_openapi_schema(path_params={})
    return [(m, p) for p, item in schema["paths"].items() for m in item]


@pytest.mark.parametrize(("method", "template"), _fuzz_operations())
def test_fuzz_every_operation_from_the_openapi_document(api, world, document, method, template):
    operation = document["paths"][template][method]

    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(request=request_strategy(document, template, operation))
    def run(request):
        params, path_value, body = request
        path = fill(template, world, path_value)
        if method == "get":
            response = api.get(path, **params)
        elif method == "delete":
            response = api.delete(path)
        else:
            query = "&".join(f"{quote(k)}={quote(str(v))}" for k, v in params.items())
            response = api.request(method, path + ("?" + query if query else ""), raw=json.dumps(body))
        check(response, (method, path, params, body))

    run()
