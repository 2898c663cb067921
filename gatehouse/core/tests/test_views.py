"""Every page: sign-in required, 200 for a member, CSP-clean HTML; the shared template helpers."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from gatehouse.audit.models import AuditEvent
from gatehouse.catalog.services import update_system
from gatehouse.catalog.tests.factories import SystemFactory
from gatehouse.core.permissions import SYSTEM
from gatehouse.core.templatetags.gatehouse import link_or_text, md_links, safe_href
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory


@pytest.fixture
def objects(db):
    person = PersonFactory(manager=PersonFactory())
    team = TeamFactory(members=[person])
    system = SystemFactory(owner_team=team, extra={"category": "chat"}, import_problems=["owner: not found"])
    update_system(system, actor=SYSTEM, notes="See [guide](https://guide.example.com/)")  # an audit event
    return {"person": person, "team": team, "system": system}


def member_pages(objects) -> list[str]:
    return [
        reverse("core:home"),
        reverse("users:profile"),
        reverse("directory:person_list"),
        reverse("directory:person", args=[objects["person"].pk]),
        reverse("directory:team_list"),
        reverse("directory:team", args=[objects["team"].slug]),
        reverse("catalog:system_list"),
        reverse("catalog:system", args=[objects["system"].slug]),
        reverse("catalog:getting_help"),
    ]


def edit_pages(objects) -> list[str]:
    return [
        reverse("directory:person_edit", args=[objects["person"].pk]),
        reverse("directory:person_add"),
        reverse("directory:team_edit", args=[objects["team"].slug]),
        reverse("catalog:system_edit", args=[objects["system"].slug]),
        reverse("catalog:system_add"),
    ]


def audit_pages() -> list[str]:
    event = AuditEvent.objects.order_by("id").first()
    return [reverse("audit:event_list"), reverse("audit:event", args=[event.pk]), reverse("audit:export")]


def test_every_page_but_login_needs_sign_in(client, objects):
    for url in [*member_pages(objects), *edit_pages(objects), *audit_pages()]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("users:login") + "?next="), url


def test_member_sees_every_page_and_no_edit_page(member_user, objects):
    client = Client()
    client.force_login(member_user)
    for url in member_pages(objects):
        assert client.get(url).status_code == 200, url
    for url in [*edit_pages(objects), *audit_pages()]:
        assert client.get(url).status_code == 403, url


def test_admin_sees_every_page(admin_user, objects):
    client = Client()
    client.force_login(admin_user)
    for url in [*member_pages(objects), *edit_pages(objects), *audit_pages()]:
        assert client.get(url).status_code == 200, url


INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),  # inline script
    re.compile(r"<style\b", re.IGNORECASE),  # inline style sheet
    re.compile(r"\sstyle\s*=", re.IGNORECASE),  # style attribute
    re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),  # event handler attribute
    re.compile(r"javascript:", re.IGNORECASE),
]


def test_pages_hold_nothing_the_csp_would_block(admin_user, objects):
    """CSP allows 'self' only; an inline script, style or handler would be blocked in the browser."""
    client = Client()
    client.force_login(admin_user)
    anonymous = Client()
    pages = [(client, url) for url in [*member_pages(objects), *edit_pages(objects), *audit_pages()[:2]]]
    pages.append((anonymous, reverse("users:login")))
    for c, url in pages:
        response = c.get(url)
        assert "script-src 'self'" in response["Content-Security-Policy"], url
        body = response.content.decode()
        for pattern in INLINE:
            assert not pattern.search(body), f"{url}: {pattern.pattern} -> {pattern.search(body).group(0)}"


def test_home_shows_counts_and_owned_systems(make_user):
    person = PersonFactory()
    team = TeamFactory(members=[person])
    SystemFactory(name="My System", owner_team=team)
    SystemFactory(name="Their System")
    client = Client()
    client.force_login(make_user(person=person))
    response = client.get(reverse("core:home"))
    body = response.content.decode()
    assert response.context["system_count"] == 2
    assert "My System" in body and "Their System" not in body


class TestLinks:
    def test_markdown_links_are_rendered_safely(self):
        html = md_links("See [Guide](https://h.example.com/g?a=1&b=2) and [Old](/handbook/x/) <b>bold</b>")
        assert (
            '<a href="https://h.example.com/g?a=1&amp;b=2" rel="noopener noreferrer" target="_blank">Guide</a>'
            in html
        )
        assert "Old <span" in html and "<code>/handbook/x/</code>" in html
        assert "&lt;b&gt;bold&lt;/b&gt;" in html

    def test_dangerous_links_are_text(self):
        html = md_links("[click](javascript:alert(1))")
        assert "<a " not in html and "javascript:alert(1" in html
        assert 'href="' not in md_links('[x](https://a.example.com/"onmouseover="alert(1))')
        assert safe_href("javascript:alert(1)") == "" and safe_href("//evil.example.com") == ""
        assert safe_href("/desk/new") == "/desk/new"
        assert "<a " not in link_or_text("data:text/html,hi")

    def test_bare_urls_become_links(self):
        html = md_links("Docs at https://docs.example.com/x. Thanks")
        assert '<a href="https://docs.example.com/x"' in html and "</a>. Thanks" in html

    def test_empty_is_a_dash(self):
        assert "—" in md_links("") and "—" in link_or_text(None)
