"""The OpenAPI document describes every endpoint, and the docs page runs under our CSP."""

import re
from html.parser import HTMLParser

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

pytestmark = pytest.mark.django_db

ENDPOINTS = {
    "/api/v1/people": {"get", "post"},
    "/api/v1/people/{person_id}": {"get", "patch", "delete"},
    "/api/v1/teams": {"get", "post"},
    "/api/v1/teams/{slug}": {"get", "patch", "delete"},
    "/api/v1/systems": {"get", "post"},
    "/api/v1/systems/{slug}": {"get", "patch", "delete"},
    "/api/v1/audit/events": {"get"},
    "/api/v1/users/me": {"get"},
    "/api/v1/users/me/tokens": {"get", "post"},
    "/api/v1/users/me/tokens/{token_id}": {"delete"},
}
LIST_FILTERS = {
    "/api/v1/people": {"q", "status", "employment_type", "department", "manager", "team", "limit", "offset"},
    "/api/v1/teams": {"q", "member", "limit", "offset"},
    "/api/v1/systems": {
        "q",
        "tier",
        "data_classification",
        "scope",
        "owner",
        "owner_team",
        "limit",
        "offset",
    },
    "/api/v1/audit/events": {
        "object_type",
        "object_id",
        "actor",
        "action",
        "source",
        "since",
        "until",
        "limit",
    },
}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def document():
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(document, ref):
    assert ref.startswith("#/"), ref
    node = document
    for part in ref[2:].split("/"):
        assert part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_document_is_well_formed(document):
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Gatehouse API" and document["info"]["version"]
    operation_ids = []
    for path, item in document["paths"].items():
        assert path.startswith("/api/v1/")
        template_params = set(re.findall(r"{(\w+)}", path))
        for method, operation in item.items():
            assert method in METHODS, (path, method)
            operation_ids.append(operation["operationId"])
            assert operation["responses"], (path, method)
            for code in operation["responses"]:
                assert re.fullmatch(r"[1-5]\d\d", code), (path, method, code)
            params = operation.get("parameters", [])
            for param in params:
                assert param["in"] in {"query", "path", "header", "cookie"}
                assert param["name"] and "schema" in param
            path_params = {p["name"] for p in params if p["in"] == "path"}
            assert path_params == template_params, (path, method)
            assert all(p["required"] for p in params if p["in"] == "path")
            # A PATCH always carries a body; a POST may be a bare action (retry, close).
            if method == "patch" or (method == "post" and "requestBody" in operation):
                content = operation["requestBody"]["content"]
                # JSON everywhere, but for file uploads (attachments), which are multipart forms.
                media = "multipart/form-data" if path.endswith("/attachments") else "application/json"
                assert set(content) == {media}, (path, method, set(content))
                schema = content[media]["schema"]
                assert "$ref" in schema or "properties" in schema
            assert operation.get("security"), f"{method} {path} must require authentication"
    assert len(operation_ids) == len(set(operation_ids)), "operation ids must be unique"
    for ref in _refs(document):
        _resolve(document, ref)
    assert {"TokenAuth", "ActiveSessionAuth"} <= set(document["components"]["securitySchemes"])


def test_document_lists_every_endpoint(document):
    for path, methods in ENDPOINTS.items():
        assert path in document["paths"], path
        assert set(document["paths"][path]) == methods, path


def test_list_endpoints_document_their_filters_and_pagination(document):
    for path, names in LIST_FILTERS.items():
        params = {p["name"] for p in document["paths"][path]["get"]["parameters"]}
        assert names <= params, (path, names - params)


def test_input_schemas_refuse_unknown_fields(document):
    for name in (
        "PersonIn",
        "PersonPatch",
        "TeamIn",
        "TeamPatch",
        "SystemIn",
        "SystemPatch",
        "TokenIn",
        "ContactIn",
    ):
        assert document["components"]["schemas"][name]["additionalProperties"] is False, name


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.script_text.append(data)


def test_docs_page_uses_only_our_static_files_and_no_inline_script(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]
    page = _Tags()
    page.feed(response.content.decode())
    urls = [attrs[a] for _, attrs in page.tags for a in ("src", "href") if a in attrs]
    assert urls and all(url.startswith("/static/") for url in urls), urls
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in urls
    assert "/static/vendor/swagger-ui/swagger-ui.css" in urls
    assert "/static/gatehouse/swagger-init.js" in urls
    for url in urls:
        assert client.get(url).status_code == 200, f"{url} is not served"
    for tag, attrs in page.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "style" not in attrs and tag != "style", (tag, attrs)
        if tag == "script" and "src" not in attrs:
            assert attrs.get("type") == "application/json", "inline scripts must be data, never code"
    # The settings block names the OpenAPI document and nothing outside the site.
    assert any('"url": "/api/v1/openapi.json"' in text for text in page.script_text)
    assert "http" not in "".join(page.script_text)


def test_docs_static_files_exist():
    for path in (
        "vendor/swagger-ui/swagger-ui-bundle.js",
        "vendor/swagger-ui/swagger-ui.css",
        "gatehouse/swagger-init.js",
    ):
        assert finders.find(path), f"static file {path} is not found"
