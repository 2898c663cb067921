import io

import pytest
from django.core.management import CommandError, call_command
from django.test import RequestFactory, override_settings
from django.utils import timezone

from gatehouse.core.permissions import SYSTEM
from gatehouse.users.models import ApiToken, LoginFailure, hash_token
from gatehouse.users.selectors import active_token_for
from gatehouse.users.services import LockedOut, create_api_token, revoke_api_token, sign_in
from gatehouse.users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def run_create(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_create_api_token_prints_the_secret_once_and_stores_only_its_hash(admin_user):
    raw, err = run_create(admin_user.username)
    assert raw.startswith("gth_") and len(raw) > 40
    token = ApiToken.objects.get()
    assert token.digest == hash_token(raw)
    assert raw not in token.prefix + token.digest + token.name
    assert "read-write" in err and "not shown again" in err
    assert active_token_for(raw) == token


def test_read_only_and_expiring_tokens(admin_user):
    run_create(admin_user.username, "--read-only", "--expires", "30")
    token = ApiToken.objects.get()
    assert token.read_only
    assert 29 <= (token.expires_at - timezone.now()).days <= 30


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody"], "username: no user named 'nobody'"),
        (["{user}", "--expires", "0"], "--expires: Must be 1 day"),
    ],
)
def test_bad_arguments_are_named_and_write_nothing(admin_user, args, message):
    args = [a.format(user=admin_user.username) for a in args]
    with pytest.raises(CommandError, match=message):
        run_create(*args)
    assert ApiToken.objects.count() == 0


def test_an_auditor_only_ever_gets_read_only_tokens(auditor_user):
    token, _ = create_api_token(actor=SYSTEM, user=auditor_user, name="audit", read_only=False)
    assert token.read_only


def test_revoked_and_expired_tokens_stop_working(admin_user, member_user):
    token, raw = create_api_token(actor=admin_user, user=admin_user, name="t")
    with pytest.raises(Exception, match="only revoke your own"):
        revoke_api_token(token, actor=member_user)
    revoke_api_token(token, actor=admin_user)
    assert active_token_for(raw) is None
    token2, raw2 = create_api_token(actor=SYSTEM, user=admin_user, name="t2", expires_in_days=1)
    ApiToken.objects.filter(pk=token2.pk).update(expires_at=timezone.now() - timezone.timedelta(seconds=1))
    assert active_token_for(raw2) is None


def test_a_token_of_a_user_whose_access_expired_stops_working(make_user):
    user = make_user("auditor")
    _, raw = create_api_token(actor=SYSTEM, user=user, name="t")
    user.access_expires_at = timezone.now() - timezone.timedelta(seconds=1)
    user.save()
    assert active_token_for(raw) is None


def test_nobody_creates_tokens_for_someone_else(admin_user, member_user):
    with pytest.raises(Exception, match="only create tokens for yourself"):
        create_api_token(actor=admin_user, user=member_user, name="x")


@override_settings(LOGIN_FAILURE_LIMIT=3, LOGIN_LOCKOUT_MINUTES=15)
def test_sign_in_locks_out_after_repeated_failures(member_user):
    request = RequestFactory().post("/login/", REMOTE_ADDR="10.0.0.1")
    for _ in range(3):
        assert sign_in(request, member_user.username, "wrong") is None
    with pytest.raises(LockedOut):
        sign_in(request, member_user.username, PASSWORD)  # even the right password waits out the lockout
    LoginFailure.objects.update(timestamp=timezone.now() - timezone.timedelta(minutes=16))
    assert sign_in(request, member_user.username, PASSWORD) == member_user
    assert LoginFailure.objects.filter(username=member_user.username).count() == 0
