import pytest
from django.utils import timezone

from gatehouse.audit.models import AuditEvent
from gatehouse.core.api.testing import ApiClient
from gatehouse.core.permissions import SYSTEM
from gatehouse.directory.tests.factories import PersonFactory
from gatehouse.users.models import ApiToken
from gatehouse.users.services import create_api_token

pytestmark = pytest.mark.django_db


def test_me_says_who_i_am_and_my_roles(make_user, token_for):
    person = PersonFactory(email="ada@example.com", name="Ada")
    user = make_user("auditor", "compliance_analyst", person=person, username="ada")
    data = ApiClient(token_for(user)).get("/users/me").json()
    assert data["username"] == "ada"
    assert data["person"] == {"id": person.pk, "email": "ada@example.com", "name": "Ada"}
    assert data["roles"] == [
        {"name": "auditor", "label": "Auditor"},
        {"name": "compliance_analyst", "label": "Compliance analyst"},
    ]
    assert "audit.view_auditevent" in data["permissions"]
    assert not any(p.split(".")[1].startswith(("add_", "change_", "delete_")) for p in data["permissions"])
    assert data["authenticated_by"] == "token" and data["token_read_only"] is True


def test_me_with_a_session(member_user, client_for):
    data = ApiClient(client=client_for(member_user)).get("/users/me").json()
    assert data["authenticated_by"] == "session" and data["token_read_only"] is None
    assert data["roles"] == []


def test_create_list_and_revoke_tokens(member_user, token_for):
    api = ApiClient(token_for(member_user))
    response = api.post("/users/me/tokens", {"name": "ci", "read_only": True, "expires_in_days": 30})
    assert response.status_code == 201, response.content
    created = response.json()
    secret = created["secret"]
    assert secret.startswith("gth_") and created["read_only"] and created["state"] == "active"
    assert 29 <= (ApiToken.objects.get(pk=created["id"]).expires_at - timezone.now()).days <= 30

    # The secret works, and is never shown again.
    new_api = ApiClient(f"Bearer {secret}")
    assert new_api.get("/users/me").json()["token_read_only"] is True
    listed = api.get("/users/me/tokens").json()
    assert {t["name"] for t in listed} == {"test", "ci"}
    assert all("secret" not in t and "digest" not in t for t in listed)

    assert api.delete(f"/users/me/tokens/{created['id']}").status_code == 204
    assert new_api.get("/users/me").status_code == 401
    assert {t["state"] for t in api.get("/users/me/tokens").json() if t["name"] == "ci"} == {"revoked"}
    event = AuditEvent.objects.filter(object_type="users.apitoken", action="update").get()
    assert event.source == "api" and event.actor_id == member_user.pk


def test_nobody_revokes_someone_elses_token(member_user, admin_user, token_for):
    token, _ = create_api_token(actor=SYSTEM, user=admin_user, name="x")
    assert ApiClient(token_for(member_user)).delete(f"/users/me/tokens/{token.pk}").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "name"]),
        ({"name": ""}, ["body", "name"]),
        ({"name": "x", "expires_in_days": 0}, ["body", "expires_in_days"]),
        ({"name": "x", "expires_in_days": 10**30}, ["body", "expires_in_days"]),
        ({"name": "x", "scope": "all"}, ["body", "scope"]),
    ],
)
def test_bad_token_requests_are_422(member_user, token_for, body, loc):
    response = ApiClient(token_for(member_user)).post("/users/me/tokens", body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_a_read_only_token_cannot_make_or_revoke_tokens(member_user, token_for):
    api = ApiClient(token_for(member_user, read_only=True))
    assert api.post("/users/me/tokens", {"name": "escalate"}).status_code == 403
    token = ApiToken.objects.get()
    assert api.delete(f"/users/me/tokens/{token.pk}").status_code == 403
    assert ApiToken.objects.count() == 1
