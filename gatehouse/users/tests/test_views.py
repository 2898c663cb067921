"""Sign-in with throttling, sign-out, and the profile page with API tokens."""

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from gatehouse.users.models import ApiToken
from gatehouse.users.tests.factories import PASSWORD


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
class TestSignIn:
    def test_login_page_is_public(self, client):
        response = client.get(reverse("users:login"))
        assert response.status_code == 200 and 'name="password"' in response.content.decode()

    def test_signs_in_and_goes_to_next(self, client, member_user):
        response = client.post(
            reverse("users:login"),
            {"username": member_user.username, "password": PASSWORD, "next": "/systems/"},
        )
        assert response.status_code == 302 and response["Location"] == "/systems/"
        assert client.get(reverse("core:home")).status_code == 200

    def test_next_cannot_leave_the_site(self, client, member_user):
        response = client.post(
            reverse("users:login"),
            {"username": member_user.username, "password": PASSWORD, "next": "https://evil.example.com/"},
        )
        assert response["Location"] == reverse("core:home")

    def test_wrong_password(self, client, member_user):
        response = client.post(reverse("users:login"), {"username": member_user.username, "password": "nope"})
        assert response.status_code == 200
        assert "Wrong username or password." in response.content.decode()
        assert "_auth_user_id" not in client.session

    @override_settings(LOGIN_FAILURE_LIMIT=3, LOGIN_LOCKOUT_MINUTES=15)
    def test_locks_out_after_the_limit_even_with_the_right_password(self, client, member_user):
        for _ in range(3):
            client.post(reverse("users:login"), {"username": member_user.username, "password": "wrong"})
        response = client.post(
            reverse("users:login"), {"username": member_user.username, "password": PASSWORD}
        )
        assert response.status_code == 429
        assert "Too many failed sign-ins; try again in 15 minutes." in response.content.decode()
        assert "_auth_user_id" not in client.session

    def test_logout_is_post_only(self, member_user):
        client = signed_in(member_user)
        assert client.get(reverse("users:logout")).status_code == 405
        response = client.post(reverse("users:logout"))
        assert response.status_code == 302 and response["Location"] == reverse("users:login")
        assert client.get(reverse("core:home")).status_code == 302


@pytest.mark.django_db
class TestTokens:
    def test_profile_needs_sign_in(self, client):
        assert client.get(reverse("users:profile")).status_code == 302

    def test_new_token_secret_is_shown_once_and_works(self, member_user):
        client = signed_in(member_user)
        response = client.post(reverse("users:token_create"), {"name": "laptop script"})
        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store"
        secret = response.context["secret"]
        assert secret.startswith("gth_") and secret in response.content.decode()
        token = ApiToken.objects.get(user=member_user)
        assert token.name == "laptop script" and token.prefix in response.content.decode()

        body = client.get(reverse("users:profile")).content.decode()
        assert secret not in body  # never shown again
        assert token.prefix in body and "laptop script" in body and "never" in body  # never used

        api = Client()
        assert api.get("/api/v1/users/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
        token.refresh_from_db()
        assert token.last_used_at is not None
        body = client.get(reverse("users:profile")).content.decode()
        assert timezone.localtime(token.last_used_at).strftime("%Y-%m-%d %H:%M") in body

    def test_revoked_token_stops_working(self, member_user):
        client = signed_in(member_user)
        secret = client.post(reverse("users:token_create"), {"name": "ci"}).context["secret"]
        token = ApiToken.objects.get(user=member_user)
        api = Client()
        assert api.get("/api/v1/users/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
        response = client.post(reverse("users:token_revoke", args=[token.pk]))
        assert response.status_code == 302
        token.refresh_from_db()
        assert token.state == "revoked"
        assert api.get("/api/v1/users/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
        assert "revoked" in client.get(reverse("users:profile")).content.decode()

    def test_cannot_revoke_someone_elses_token(self, member_user, make_user):
        other = make_user(username="other")
        signed_in(other).post(reverse("users:token_create"), {"name": "theirs"})
        token = ApiToken.objects.get(user=other)
        assert signed_in(member_user).post(reverse("users:token_revoke", args=[token.pk])).status_code == 404
        token.refresh_from_db()
        assert token.revoked_at is None

    def test_invalid_token_form_shows_errors(self, member_user):
        response = signed_in(member_user).post(
            reverse("users:token_create"), {"name": "", "expires_in_days": "0"}
        )
        assert response.status_code == 422
        assert not ApiToken.objects.exists()

    def test_auditor_gets_read_only_tokens(self, auditor_user):
        signed_in(auditor_user).post(reverse("users:token_create"), {"name": "evidence"})
        assert ApiToken.objects.get(user=auditor_user).read_only
