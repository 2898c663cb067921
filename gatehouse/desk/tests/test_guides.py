"""Guides (tier 1): safe Markdown, full-text search on SQLite and PostgreSQL, suggestions, deflections,
permissions, the API and the demo guides. Run on both databases (see docs/desk-plan.md)."""

from __future__ import annotations

import importlib
from html.parser import HTMLParser

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatehouse.audit.models import AuditEvent
from gatehouse.catalog.tests.factories import SystemFactory
from gatehouse.core.api.testing import ApiClient
from gatehouse.core.permissions import SYSTEM
from gatehouse.desk import guides
from gatehouse.desk.guide_filtersets import GuideFilterSet
from gatehouse.desk.models import Deflection, Guide, Request
from gatehouse.desk.tests.factories import RequestTypeFactory
from gatehouse.directory.tests.factories import PersonFactory

pytestmark = pytest.mark.django_db

GUIDE_LIST_QUERIES = 9
API_LIST_QUERIES = 9


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_guide(slug: str, title: str, body: str = "Steps.\n", **fields) -> Guide:
    return guides.create_guide(actor=SYSTEM, slug=slug, title=title, body=body, **fields)


@pytest.fixture
def vpn_system(db):
    return SystemFactory(slug="nordlayer", name="NordLayer")


@pytest.fixture
def okta(db):
    return SystemFactory(slug="okta-sso", name="Okta")


@pytest.fixture
def library(vpn_system, okta):
    """A few guides with known words in known places."""
    lockout = RequestTypeFactory(slug="account-lockout", name="Account lockout")
    return {
        "vpn": make_guide(
            "connect-to-the-vpn",
            "Connect to the VPN",
            "Install NordLayer and sign in with Okta. If the tunnel drops, reconnect.\n",
            summary="Reach internal tools from anywhere.",
            systems=[vpn_system],
        ),
        "password": make_guide(
            "reset-your-password",
            "Reset your password",
            "Forgot your password? Use the reset link on the sign-in page.\n",
            summary="Locked out? Reset it yourself.",
            systems=[okta],
            request_types=[lockout],
        ),
        "mfa": make_guide(
            "reset-mfa",
            "Reset MFA on a new phone",
            "Move Okta Verify to your new phone. Your password stays the same.\n",
            systems=[okta],
            request_types=[lockout],
        ),
        "phishing": make_guide(
            "report-phishing", "Report a phishing email", "Use Report phishing in Gmail. Mentions vpn once.\n"
        ),
    }


# --- Rendering ----------------------------------------------------------------------------------------------

XSS_CASES = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[click](javascript:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "[click](jav&#x61;script:alert(1))",
    "[click](java%0ascript:alert(1))",
    "[click](<java\tscript:alert(1)>)",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![img](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![img](javascript:alert(1))",
    "<javascript:alert(1)>",
    "<data:text/html,<script>alert(1)</script>>",
    "<div>\n<script>alert(1)</script>\n</div>",
    "<iframe src=https://evil.example></iframe>",
    "<svg onload=alert(1)>",
    '[x](https://ok.example "title\\" onmouseover=alert(1) x=\\"")',
    "[ref][1]\n\n[1]: javascript:alert(1)",
    "<style>body{display:none}</style>",
    "<!-- <script>alert(1)</script> -->",
    "`<script>alert(1)</script>`",
]


ALLOWED_TAGS = {
    "p",
    "a",
    "img",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "em",
    "strong",
    "code",
    "pre",
    "ul",
    "ol",
    "li",
    "blockquote",
    "hr",
    "br",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "s",
}
ALLOWED_ATTRIBUTES = {"href", "src", "alt", "title", "rel", "start", "class", "style"}


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def assert_safe(html: str) -> None:
    """What a browser would see: only harmless tags, no event handler, no link or image with a bad scheme."""
    parser = _Tags()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag in ALLOWED_TAGS, (tag, html)
        for name, value in attrs:
            assert name in ALLOWED_ATTRIBUTES and not name.startswith("on"), (name, html)
            if name == "style":
                assert tag in ("th", "td") and value in (
                    "text-align:left",
                    "text-align:right",
                    "text-align:center",
                )
            if name in ("href", "src"):
                assert guides.is_safe_url(value or ""), (value, html)
                lowered = "".join((value or "").split()).lower()
                assert not lowered.startswith(("javascript:", "vbscript:", "data:")), html


@pytest.mark.parametrize("markdown", XSS_CASES)
def test_no_markup_or_unsafe_link_survives(markdown):
    html = str(guides.render_markdown(markdown))
    assert_safe(html)
    assert "<script" not in html.lower() and "<img src=x" not in html.lower()


def test_raw_html_is_shown_as_text_and_safe_markdown_renders():
    html = str(
        guides.render_markdown("# Title\n\n<b>bold?</b> **bold** and [docs](https://docs.example/a?b=1)")
    )
    assert "<h1>Title</h1>" in html
    assert "&lt;b&gt;bold?&lt;/b&gt;" in html
    assert "<strong>bold</strong>" in html
    assert '<a href="https://docs.example/a?b=1" rel="noopener noreferrer nofollow">docs</a>' in html


def test_autolinks_keep_http_and_mailto_only():
    assert '<a href="https://ok.example"' in str(guides.render_markdown("<https://ok.example>"))
    assert '<a href="mailto:help@example.com"' in str(guides.render_markdown("<mailto:help@example.com>"))
    assert "<a" not in str(guides.render_markdown("<javascript:alert(1)>"))
    assert "<a" not in str(guides.render_markdown("<file:///etc/passwd>"))
    assert '<a href="/desk/guides/">' in str(guides.render_markdown("[guides](/desk/guides/)"))


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://a.example", True),
        ("http://a.example", True),
        ("mailto:a@b.example", True),
        ("/desk/", True),
        ("#top", True),
        ("relative/page", True),
        ("javascript:alert(1)", False),
        (" JavaScript:alert(1)", False),
        ("java\nscript:alert(1)", False),
        ("java%09script:alert(1)", False),
        ("vbscript:x", False),
        ("data:text/html,x", False),
        ("file:///etc/passwd", False),
        ("\\\\server\\share", False),
    ],
)
def test_is_safe_url(url, safe):
    assert guides.is_safe_url(url) is safe


@given(
    st.text(alphabet=st.sampled_from(list("<>[]()!:`\"'=/ \n\tajvsciptdonerrimg&#;x")), max_size=120)
    | st.text(max_size=200)
)
@settings(max_examples=200, deadline=None)
def test_rendering_never_emits_unsafe_markup(text):
    assert_safe(str(guides.render_markdown(text)))


# --- Search -------------------------------------------------------------------------------------------------


def slugs(found) -> list[str]:
    return [g.slug for g in found]


def test_search_ranks_title_matches_first(library, admin_user):
    assert slugs(guides.search_guides(admin_user, "vpn"))[:2] == ["connect-to-the-vpn", "report-phishing"]
    assert slugs(guides.search_guides(admin_user, "reset my password"))[0] == "reset-your-password"
    assert slugs(guides.search_guides(admin_user, "MFA reset"))[0] == "reset-mfa"


def test_search_stems_and_completes_the_word_being_typed(library, admin_user):
    assert "reset-your-password" in slugs(guides.search_guides(admin_user, "passwords"))
    assert slugs(guides.search_guides(admin_user, "phish"))[0] == "report-phishing"  # prefix of "phishing"
    assert slugs(guides.search_guides(admin_user, "connecting"))[0] == "connect-to-the-vpn"  # stemmed


def test_stop_words_and_punctuation_alone_match_nothing(library, admin_user):
    for text in ("", "   ", "the", "how do I", "!!!", '"', "AND OR NOT", "*"):
        assert guides.search_guides(admin_user, text) == []


def test_guides_linked_to_the_system_come_first(library, admin_user, okta, vpn_system):
    # "okta" is in two bodies; the guide linked to the request's system comes first either way.
    assert slugs(guides.search_guides(admin_user, "okta", system=okta)) == ["reset-mfa", "connect-to-the-vpn"]
    assert slugs(guides.search_guides(admin_user, "okta", system=vpn_system)) == [
        "connect-to-the-vpn",
        "reset-mfa",
    ]
    # A title match on another system's guide still comes after a weaker match on this system's.
    assert slugs(guides.search_guides(admin_user, "vpn password", system=okta))[0] == "reset-your-password"
    # Without text, the system's own guides are offered.
    assert slugs(guides.search_guides(admin_user, "", system="nordlayer")) == ["connect-to-the-vpn"]
    assert slugs(guides.search_guides(admin_user, "", request_type="account-lockout")) == [
        "reset-mfa",
        "reset-your-password",
    ]
    assert len(guides.search_guides(admin_user, "reset", limit=1)) == 1


def test_search_follows_updates_and_deletes(library, admin_user):
    guide = library["phishing"]
    guides.update_guide(guide, actor=SYSTEM, title="Report a suspicious message", body="Use the button.\n")
    assert "report-phishing" not in slugs(guides.search_guides(admin_user, "phishing"))
    assert slugs(guides.search_guides(admin_user, "suspicious")) == ["report-phishing"]
    guides.update_guide(guide, actor=SYSTEM, summary="Smishing too")
    assert slugs(guides.search_guides(admin_user, "smishing")) == ["report-phishing"]
    guides.delete_guide(guide, actor=SYSTEM)
    assert guides.search_guides(admin_user, "suspicious") == []
    assert slugs(guides.search_guides(admin_user, "vpn")) == ["connect-to-the-vpn"]
    make_guide("new-one", "Suspicious logins", "Check the sign-in log.\n")
    assert slugs(guides.search_guides(admin_user, "suspicious")) == ["new-one"]


def test_drafts_are_found_by_editors_only(library, admin_user, member_user):
    guides.update_guide(library["vpn"], actor=SYSTEM, is_published=False)
    assert "connect-to-the-vpn" in slugs(guides.search_guides(admin_user, "vpn"))
    assert "connect-to-the-vpn" not in slugs(guides.search_guides(member_user, "vpn"))


@given(st.text(max_size=200))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_text_is_a_valid_query(library, admin_user, text):
    """No text typed by a user is ever a syntax error in FTS5 or tsquery."""
    guides.search_guides(admin_user, text)
    guides.search_guides(admin_user, text, system="okta-sso")
    filterset = GuideFilterSet({"q": text}, queryset=guides.guide_list(admin_user))
    if filterset.is_valid():
        list(filterset.qs)


@pytest.mark.parametrize(
    "text",
    [
        '"',
        "'",
        'a"b',
        "NEAR(a b)",
        "title:vpn",
        "vpn*",
        "-vpn",
        "vpn OR",
        "(",
        ")",
        "^vpn",
        "a & b | !c",
        "x:*",
        "é ü ß",
        "中文",
        "😀",
        "\x00vpn",
        "\ud800",
        "a_b",
        "vpn' OR 1=1 --",
        "%",
        "\\",
    ],
)
def test_query_syntax_in_text_is_just_text(library, admin_user, text):
    found = slugs(guides.search_guides(admin_user, text))
    if "vpn" in text.lower():
        assert "connect-to-the-vpn" in found


def test_the_index_exists_on_this_database():
    migration = importlib.import_module("gatehouse.desk.migrations.0002_guide_search")
    assert guides.GUIDE_VECTOR_SQL.format(t="") == migration.GUIDE_VECTOR
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'desk_guide'"
            )
            names = {row[0] for row in cursor.fetchall()}
            # A later migration that rebuilds desk_guide on SQLite drops these; it must create them again.
            assert names >= {"desk_guide_fts_insert", "desk_guide_fts_update", "desk_guide_fts_delete"}
        else:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'desk_guide_search_idx'")
            (definition,) = cursor.fetchone()
            assert "gin" in definition.lower() and "to_tsvector" in definition


# --- Services -----------------------------------------------------------------------------------------------


def test_writes_are_audited_and_checked(library, member_user, make_user):
    events = AuditEvent.objects.filter(object_type="desk.guide")
    assert events.filter(action="create").count() == 4
    guide = library["vpn"]
    guides.update_guide(guide, actor=SYSTEM, title="Connect to the VPN")  # no change: no event
    assert events.filter(action="update").count() == 0
    guides.update_guide(guide, actor=SYSTEM, title="Use the VPN", systems=[])
    update = events.get(action="update")
    assert update.changes["title"] == ["Connect to the VPN", "Use the VPN"]
    assert update.changes["systems"][1] == []
    with pytest.raises(PermissionDenied):
        guides.update_guide(guide, actor=member_user, title="Mine")
    engineer = make_user("engineer")
    guides.update_guide(guide, actor=engineer, title="Engineers edit guides")
    with pytest.raises(ValidationError) as exc:
        make_guide("add", "Reserved", "x")
    assert "slug" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        make_guide("nul", "Bad\x00title", "x")
    assert "title" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        make_guide("connect-to-the-vpn", "Again", "x")
    assert "slug" in exc.value.message_dict
    assert Guide.objects.count() == 4


def test_deflection_is_recorded_instead_of_a_request(library, make_user, okta):
    person = PersonFactory(email="dana@example.com")
    user = make_user(person=person)
    lockout = library["password"].request_types.get()
    deflection = guides.record_deflection(
        actor=user,
        guide=library["password"],
        subject="Locked out of Okta",
        system="okta-sso",
        request_type="account-lockout",
    )
    assert (deflection.person, deflection.system, deflection.request_type, deflection.subject) == (
        person,
        okta,
        lockout,
        "Locked out of Okta",
    )
    assert AuditEvent.objects.filter(object_type="desk.deflection", action="create").count() == 1
    assert Request.objects.count() == 0
    with pytest.raises(ValidationError) as exc:
        guides.record_deflection(actor=user, guide=library["password"], system="no-such-system")
    assert "system" in exc.value.message_dict
    with pytest.raises(ValidationError):
        guides.record_deflection(actor=user, guide=library["password"], subject="x" * 251)
    # A guide that has solved something is kept for the metrics.
    with pytest.raises(ValidationError):
        guides.delete_guide(library["password"], actor=SYSTEM)
    assert Deflection.objects.count() == 1


def test_auditor_cannot_deflect(library, auditor_user):
    with pytest.raises(PermissionDenied):
        guides.record_deflection(actor=auditor_user, guide=library["vpn"])


# --- Pages --------------------------------------------------------------------------------------------------


def test_list_page_searches_and_pins_its_queries(library, member_user, django_assert_num_queries):
    client = signed_in(member_user)
    response = client.get(reverse("desk:guide_list"), {"q": "reset password"})
    assert response.status_code == 200
    rows = [g.slug for g in response.context["table"].rows]
    assert rows[0] == "reset-your-password" and "connect-to-the-vpn" not in rows
    partial = client.get(reverse("desk:guide_list"), {"q": "vpn"}, headers={"HX-Request": "true"})
    assert b"Connect to the VPN" in partial.content and b"<html" not in partial.content
    with django_assert_num_queries(GUIDE_LIST_QUERIES):
        client.get(reverse("desk:guide_list"))
    for n in range(5):
        make_guide(f"extra-{n}", f"Extra {n}", systems=[SystemFactory()])
    with django_assert_num_queries(GUIDE_LIST_QUERIES):
        assert client.get(reverse("desk:guide_list")).status_code == 200
    with django_assert_num_queries(GUIDE_LIST_QUERIES):
        assert client.get(reverse("desk:guide_list"), {"q": "extra"}).status_code == 200


def test_guide_page_renders_safely_with_its_systems(library, member_user):
    guides.update_guide(
        library["vpn"], actor=SYSTEM, body="# Steps\n\n<script>alert(1)</script>\n[x](javascript:y)"
    )
    response = signed_in(member_user).get(reverse("desk:guide", args=["connect-to-the-vpn"]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Steps</h1>" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert" not in html and 'href="javascript:' not in html
    assert "NordLayer" in html and "This solved it" in html
    assert reverse("desk:guide_edit", args=["connect-to-the-vpn"]) not in html  # members do not edit


def test_team_member_reads_but_cannot_edit(library, member_user):
    client = signed_in(member_user)
    assert client.get(reverse("desk:guide_add")).status_code == 403
    assert client.post(reverse("desk:guide_add"), {"title": "x", "slug": "x", "body": "x"}).status_code == 403
    assert client.get(reverse("desk:guide_edit", args=["reset-mfa"])).status_code == 403
    assert client.post(reverse("desk:guide_delete", args=["reset-mfa"])).status_code == 403
    guides.update_guide(library["mfa"], actor=SYSTEM, is_published=False)
    assert client.get(reverse("desk:guide", args=["reset-mfa"])).status_code == 404
    assert Guide.objects.count() == 4


def test_auditor_reads_only(library, auditor_user):
    client = signed_in(auditor_user)
    assert client.get(reverse("desk:guide_list")).status_code == 200
    response = client.get(reverse("desk:guide", args=["reset-mfa"]))
    assert response.status_code == 200 and b"This solved it" not in response.content
    assert client.get(reverse("desk:guide_edit", args=["reset-mfa"])).status_code == 403
    assert client.post(reverse("desk:deflect", args=["reset-mfa"])).status_code == 403
    assert Deflection.objects.count() == 0


def test_engineer_adds_and_edits_admin_deletes(library, make_user, admin_user, okta):
    client = signed_in(make_user("engineer"))
    data = {
        "title": "Get a YubiKey",
        "slug": "get-a-yubikey",
        "summary": "",
        "body": "Ask.",
        "systems": [okta.pk],
        "is_published": "on",
    }
    response = client.post(reverse("desk:guide_add"), data)
    assert response.status_code == 302
    guide = Guide.objects.get(slug="get-a-yubikey")
    assert list(guide.systems.all()) == [okta]
    bad = client.post(reverse("desk:guide_add"), {**data, "slug": "add", "title": ""})
    assert bad.status_code == 422 and "title" in bad.context["form"].errors
    response = client.post(
        reverse("desk:guide_edit", args=["get-a-yubikey"]), {**data, "title": "Get YubiKeys"}
    )
    assert response.status_code == 302 and Guide.objects.get(pk=guide.pk).title == "Get YubiKeys"
    admin = signed_in(admin_user)
    assert admin.post(reverse("desk:guide_delete", args=["get-a-yubikey"])).status_code == 302
    assert not Guide.objects.filter(slug="get-a-yubikey").exists()


def test_suggestions_fragment(library, member_user):
    client = signed_in(member_user)
    url = reverse("desk:guide_suggestions")
    response = client.get(
        url,
        {"subject": "I forgot my password", "system": "okta-sso", "type": "account-lockout"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.index("Reset your password") < html.index("Reset MFA")
    assert reverse("desk:deflect", args=["reset-your-password"]) in html
    assert 'name="subject" value="I forgot my password"' in html and 'value="okta-sso"' in html
    assert client.get(url, {"subject": ""}).content.strip() == b""
    # An unknown system or type does not steer the suggestions, and is no error for a typing aid.
    response = client.get(url, {"subject": "vpn", "system": "nope", "type": "42"})
    assert response.status_code == 200 and "Connect to the VPN" in response.content.decode()
    subject = '"><script>alert(1)</script>'
    assert b"<script>alert" not in client.get(url, {"subject": subject + " vpn"}).content


def test_this_solved_it_from_the_suggestions(library, make_user, okta):
    person = PersonFactory()
    client = signed_in(make_user(person=person))
    url = reverse("desk:deflect", args=["reset-your-password"])
    data = {"subject": "Locked out", "system": "okta-sso", "type": "account-lockout"}
    response = client.post(url, data, headers={"HX-Request": "true"})
    assert response.status_code == 200 and b"No request was filed" in response.content
    deflection = Deflection.objects.get()
    assert (deflection.person, deflection.system, deflection.subject) == (person, okta, "Locked out")
    assert deflection.request_type.slug == "account-lockout"
    response = client.post(url, {"subject": "again"})  # without htmx: back to the guide with a message
    assert response.status_code == 302 and response["Location"] == library["password"].get_absolute_url()
    bad = client.post(url, {"system": "no-such"}, headers={"HX-Request": "true"})
    assert bad.status_code == 422 and Deflection.objects.count() == 2
    assert client.get(url).status_code == 405
    assert Request.objects.count() == 0


# --- API ----------------------------------------------------------------------------------------------------


@pytest.fixture
def api(admin_user, token_for):
    return ApiClient(token_for(admin_user))


def test_api_list_search_and_pagination(library, api, django_assert_num_queries):
    body = api.get("/desk/guides", limit=2).json()
    assert body["count"] == 4 and len(body["results"]) == 2 and body["next"]
    found = api.get("/desk/guides", q="reset password").json()["results"]
    assert found[0]["slug"] == "reset-your-password" and found[0]["systems"] == ["okta-sso"]
    assert [g["slug"] for g in api.get("/desk/guides", system="nordlayer").json()["results"]] == [
        "connect-to-the-vpn"
    ]
    with django_assert_num_queries(API_LIST_QUERIES):
        assert api.get("/desk/guides").status_code == 200
    for n in range(5):
        make_guide(f"more-{n}", f"More {n}", systems=[SystemFactory()], request_types=[RequestTypeFactory()])
    with django_assert_num_queries(API_LIST_QUERIES):
        assert len(api.get("/desk/guides").json()["results"]) == 9


def test_api_detail_create_update_delete(library, api, okta):
    detail = api.get("/desk/guides/reset-mfa").json()
    assert detail["request_types"] == ["account-lockout"] and detail["html"].startswith("<p>")
    created = api.post(
        "/desk/guides",
        {
            "slug": "vpn-on-linux",
            "title": "VPN on Linux",
            "body": "<script>x</script>",
            "systems": ["nordlayer"],
        },
    )
    assert created.status_code == 201, created.content
    assert "&lt;script&gt;" in created.json()["html"]
    changed = api.patch("/desk/guides/vpn-on-linux", {"title": "VPN on Ubuntu", "systems": ["okta-sso"]})
    assert changed.status_code == 200 and changed.json()["systems"] == ["okta-sso"]
    assert api.get("/desk/guides", q="ubuntu").json()["results"][0]["slug"] == "vpn-on-linux"
    assert api.delete("/desk/guides/vpn-on-linux").status_code == 204
    assert api.get("/desk/guides/vpn-on-linux").status_code == 404
    assert api.get("/desk/guides", q="ubuntu").json()["count"] == 0


def test_api_bad_input_is_422_naming_the_field(library, api):
    before = AuditEvent.objects.count()
    cases = [
        ({"slug": "bad slug", "title": "x", "body": "x"}, ["body", "slug"]),
        ({"slug": "x", "title": "", "body": "x"}, ["body", "title"]),
        ({"slug": "x", "title": "x", "body": "x", "systems": ["okta-sso", "nope"]}, ["body", "systems", 1]),
        ({"slug": "x", "title": "x", "body": "x", "request_types": ["nope"]}, ["body", "request_types", 0]),
        ({"slug": "suggestions", "title": "x", "body": "x"}, ["body", "slug"]),
        ({"slug": "reset-mfa", "title": "x", "body": "x"}, ["body", "slug"]),
        ({"slug": "x", "title": "x", "body": "x", "colour": "red"}, ["body", "colour"]),
    ]
    for payload, loc in cases:
        response = api.post("/desk/guides", payload)
        assert response.status_code == 422, (payload, response.content)
        assert loc in [d["loc"] for d in response.json()["detail"]], (payload, response.json())
    assert api.patch("/desk/guides/reset-mfa", {"title": None}).status_code == 422
    response = api.get("/desk/guides/suggestions", subject="x", system="nope")
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "system"]
    response = api.post("/desk/guides/reset-mfa/deflect", {"system": "nope"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "system"]
    assert AuditEvent.objects.count() == before and Guide.objects.count() == 4


def test_api_permissions_and_deflect(library, member_user, auditor_user, token_for):
    member = ApiClient(token_for(member_user))
    assert member.get("/desk/guides").json()["count"] == 4
    assert member.post("/desk/guides", {"slug": "x", "title": "x", "body": "x"}).status_code == 403
    assert member.patch("/desk/guides/reset-mfa", {"title": "x"}).status_code == 403
    assert member.delete("/desk/guides/reset-mfa").status_code == 403
    response = member.post("/desk/guides/reset-mfa/deflect", {"subject": "New phone", "system": "okta-sso"})
    assert response.status_code == 201, response.content
    assert response.json()["guide"] == "reset-mfa" and response.json()["system"] == "okta-sso"
    suggestions = member.get("/desk/guides/suggestions", subject="new phone", system="okta-sso").json()
    assert suggestions[0]["slug"] == "reset-mfa"
    auditor = ApiClient(token_for(auditor_user))
    assert auditor.get("/desk/guides/reset-mfa").status_code == 200
    assert auditor.post("/desk/guides/reset-mfa/deflect", {}).status_code == 403
    assert auditor.delete("/desk/guides/connect-to-the-vpn").status_code == 403
    assert Deflection.objects.count() == 1


def test_api_delete_of_a_guide_that_solved_something_is_a_409(library, api, member_user):
    guides.record_deflection(actor=member_user, guide=library["vpn"])
    response = api.delete("/desk/guides/connect-to-the-vpn")
    assert response.status_code == 409 and "unpublish" in response.json()["detail"]


# --- Demo ---------------------------------------------------------------------------------------------------


@pytest.fixture
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.usefixtures("_fast_password_hashing")
def test_demo_guides_load_once_and_are_searchable(db):
    from gatehouse.demo.guides import plan_guides
    from gatehouse.demo.services import load_demo

    summary = load_demo(actor=SYSTEM)
    plans = plan_guides()
    assert summary.totals["guides"] == summary.created["guides"] == len(plans) >= 8
    assert {
        "reset-your-password",
        "set-up-your-laptop",
        "connect-to-the-vpn",
        "reset-mfa",
        "how-to-request-access",
    } <= {p.slug for p in plans}
    vpn = Guide.objects.get(slug="connect-to-the-vpn")
    assert [s.slug for s in vpn.systems.all()] == ["nordlayer"]
    assert slugs(guides.search_guides(SYSTEM, "vpn"))[0] == "connect-to-the-vpn"
    assert slugs(guides.search_guides(SYSTEM, "locked out", system="okta-sso"))[0] in {
        "reset-your-password",
        "reset-mfa",
    }
    for guide in Guide.objects.all():
        assert "<script" not in str(guides.render_markdown(guide.body))
    events = AuditEvent.objects.count()
    again = load_demo(actor=SYSTEM)
    assert again.created["guides"] == 0 and again.audit_events == 0 and AuditEvent.objects.count() == events


def test_demo_guide_files_parse_and_render_safely():
    from gatehouse.demo.guides import plan_guides

    plans = plan_guides()
    assert len(plans) >= 8 and all(p.title and p.summary and p.systems for p in plans)
    for plan in plans:
        assert_safe(str(guides.render_markdown(plan.body)))
