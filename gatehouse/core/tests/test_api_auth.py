"""Who may call what: 401 for no or bad credentials, 403 for not allowed, for every endpoint."""

import pytest
from django.test import Client
from django.utils import timezone

from gatehouse.catalog.tests.factories import SystemFactory
from gatehouse.core.api.testing import ApiClient
from gatehouse.core.permissions import SYSTEM
from gatehouse.directory.models import Person
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory
from gatehouse.users.models import ApiToken
from gatehouse.users.services import create_api_token, revoke_api_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def objects(db):
    person = PersonFactory(email="p@example.com")
    team = TeamFactory(slug="t")
    SystemFactory(slug="s")
    return {"person": person.pk, "team": team.slug, "system": "s"}


def reads(o):
    return [
        "/people",
        f"/people/{o['person']}",
        "/teams",
        f"/teams/{o['team']}",
        "/systems",
        f"/systems/{o['system']}",
        "/users/me",
        "/users/me/tokens",
    ]


def writes(o):
    """One valid request per write endpoint of the directory and catalog."""
    return [
        ("post", "/people", {"email": "new@example.com", "name": "New"}),
        ("patch", f"/people/{o['person']}", {"title": "Changed"}),
        ("delete", f"/people/{o['person']}", None),
        ("post", "/teams", {"name": "New team"}),
        ("patch", f"/teams/{o['team']}", {"description": "Changed"}),
        ("delete", f"/teams/{o['team']}", None),
        ("post", "/systems", {"slug": "new", "name": "New"}),
        ("patch", f"/systems/{o['system']}", {"notes": "Changed"}),
        ("delete", f"/systems/{o['system']}", None),
    ]


def call(api, method, path, body):
    return api.delete(path) if method == "delete" else getattr(api, method)(path, body)


def test_anonymous_gets_401_everywhere(objects):
    api = ApiClient()
    for path in [*reads(objects), "/audit/events"]:
        assert api.get(path).status_code == 401, path
    for method, path, body in writes(objects):
        assert call(api, method, path, body).status_code == 401, path
    assert api.post("/users/me/tokens", {"name": "x"}).status_code == 401


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer gth_not-a-real-token",
        "Bearer ",
        "Bearer nonsense",
        "Basic dXNlcjpwYXNz",
        "Token gth_x",
        "gth_abc",
    ],
)
def test_bad_credentials_get_401(objects, authorization):
    assert ApiClient(authorization).get("/people").status_code == 401


def test_revoked_and_expired_tokens_get_401(member_user):
    revoked, raw_revoked = create_api_token(actor=SYSTEM, user=member_user, name="r")
    revoke_api_token(revoked, actor=SYSTEM)
    expiring, raw_expired = create_api_token(actor=SYSTEM, user=member_user, name="e", expires_in_days=1)
    ApiToken.objects.filter(pk=expiring.pk).update(expires_at=timezone.now() - timezone.timedelta(seconds=1))
    assert ApiClient(f"Bearer {raw_revoked}").get("/people").status_code == 401
    assert ApiClient(f"Bearer {raw_expired}").get("/people").status_code == 401


def test_a_user_whose_access_expired_gets_401(make_user, token_for):
    user = make_user("admin")
    authorization = token_for(user)
    user.access_expires_at = timezone.now() - timezone.timedelta(minutes=1)
    user.save()
    assert ApiClient(authorization).get("/people").status_code == 401


def test_member_reads_everything_but_the_audit_trail_and_writes_nothing(objects, member_user, token_for):
    api = ApiClient(token_for(member_user))
    for path in reads(objects):
        assert api.get(path).status_code == 200, path
    assert api.get("/audit/events").status_code == 403
    for method, path, body in writes(objects):
        assert call(api, method, path, body).status_code == 403, (method, path)


def test_auditor_reads_everything_and_every_write_is_403_even_with_a_read_write_token(objects, auditor_user):
    token, raw = create_api_token(actor=SYSTEM, user=auditor_user, name="t")
    # The service never gives an auditor a read-write token; make one anyway to prove the role alone refuses.
    ApiToken.objects.filter(pk=token.pk).update(read_only=False)
    api = ApiClient(f"Bearer {raw}")
    for path in [*reads(objects), "/audit/events"]:
        assert api.get(path).status_code == 200, path
    for method, path, body in writes(objects):
        response = call(api, method, path, body)
        assert response.status_code == 403, (method, path, response.content)
    assert Person.objects.filter(title="Changed").count() == 0


def test_admin_may_do_everything(objects, admin_user, token_for):
    api = ApiClient(token_for(admin_user))
    for path in [*reads(objects), "/audit/events"]:
        assert api.get(path).status_code == 200, path
    expected = {"post": 201, "patch": 200, "delete": 204}
    for method, path, body in writes(objects):
        response = call(api, method, path, body)
        assert response.status_code == expected[method], (method, path, response.content)


def test_a_read_only_token_reads_but_every_write_is_403(objects, admin_user, token_for):
    api = ApiClient(token_for(admin_user, read_only=True))
    assert api.get("/people").status_code == 200
    for method, path, body in writes(objects):
        response = call(api, method, path, body)
        assert response.status_code == 403, (method, path)
        assert response.json() == {"detail": "This API token is read-only."}
    assert Person.objects.filter(email="new@example.com").count() == 0


def test_session_auth_works_and_writes_need_the_csrf_token(objects, admin_user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    api = ApiClient(client=browser)
    assert api.get("/people").status_code == 200
    refused = api.patch(f"/people/{objects['person']}", {"title": "Changed"})
    assert refused.status_code == 403
    # The docs page sets the CSRF cookie and hands its token to Swagger UI.
    browser.get("/api/v1/docs")
    csrf = browser.cookies["csrftoken"].value
    allowed = ApiClient(client=browser, **{"X-CSRFToken": csrf}).patch(
        f"/people/{objects['person']}", {"title": "Changed"}
    )
    assert allowed.status_code == 200, allowed.content


def test_request_id_is_echoed_and_malformed_ones_replaced(member_user, token_for):
    api = ApiClient(token_for(member_user), **{"X-Request-ID": "abc-123"})
    assert api.get("/people")["X-Request-ID"] == "abc-123"
    api = ApiClient(token_for(member_user), **{"X-Request-ID": "bad id with spaces"})
    assert api.get("/people")["X-Request-ID"] not in ("", "bad id with spaces")
