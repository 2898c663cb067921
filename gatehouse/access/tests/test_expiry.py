"""Time-bound access: expiry into revoke tasks, warnings, renew and do-not-renew (services, pages, API)."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from gatehouse.access import expiry
from gatehouse.access.models import FulfilmentTask
from gatehouse.access.tests import fake_servers
from gatehouse.access.tests.factories import EntitlementFactory, GrantFactory
from gatehouse.catalog.models import SystemContact
from gatehouse.directory.tests.factories import PersonFactory

pytestmark = pytest.mark.django_db

# The fake servers' fixtures, used by name below.
fast_connectors = fake_servers.fast_connectors
okta = fake_servers.okta
DAY = datetime.timedelta(days=1)


@pytest.fixture
def owner(make_user):
    def make(system):
        person = PersonFactory()
        SystemContact.objects.create(system=system, role="business_owner", person=person)
        return make_user(person=person, email=person.email)

    return make


def test_expired_grant_becomes_one_revoke_task_and_stays_live(django_capture_on_commit_callbacks):
    now = timezone.now()
    grant = GrantFactory(ends_at=now - datetime.timedelta(minutes=5))
    GrantFactory(ends_at=now + 30 * DAY)
    with django_capture_on_commit_callbacks(execute=True):
        counts = expiry.expire_due_grants(now)
    assert counts["revoke_tasks"] == 1
    task = FulfilmentTask.objects.get()
    assert (task.kind, task.reason, task.grant, task.state) == ("revoke", "expiry", grant, "manual")
    assert task.due_at == now + expiry.EXPIRY_TASK_DUE
    grant.refresh_from_db()
    assert grant.ended_at is None  # on our books until the revoke is done
    assert expiry.expire_due_grants(now)["revoke_tasks"] == 0  # not twice


def test_expiry_through_the_connector_ends_the_grant(
    okta, huey_immediate, django_capture_on_commit_callbacks
):
    okta.add_user("ann@example.com", groups=["00g-eng"])
    grant = GrantFactory(
        person=PersonFactory(email="ann@example.com"),
        entitlement=EntitlementFactory(connector="okta", external_id="00g-eng"),
        ends_at=timezone.now() - DAY,
    )
    with django_capture_on_commit_callbacks(execute=True):
        expiry.expire_grants.call_local()
    grant.refresh_from_db()
    assert grant.ended_at is not None and okta.groups["00g-eng"] == []
    assert FulfilmentTask.objects.get().state == "done"


def test_warnings_a_week_and_a_day_before_once_each(
    owner, huey_immediate, django_capture_on_commit_callbacks
):
    now = timezone.now()
    holder = PersonFactory(email="holder@example.com")
    grant = GrantFactory(person=holder, ends_at=now + 6 * DAY)
    boss = owner(grant.entitlement.system)
    with django_capture_on_commit_callbacks(execute=True):
        assert expiry.expire_due_grants(now)["week_warnings"] == 1
    [week] = mail.outbox
    assert set(week.to) == {"holder@example.com", boss.email} and "in a week" in week.subject
    with django_capture_on_commit_callbacks(execute=True):
        assert expiry.expire_due_grants(now + DAY) == {
            "revoke_tasks": 0,
            "week_warnings": 0,
            "day_warnings": 0,
        }
    with django_capture_on_commit_callbacks(execute=True):
        assert expiry.expire_due_grants(now + 5 * DAY + datetime.timedelta(hours=1))["day_warnings"] == 1
    assert len(mail.outbox) == 2 and "in a day" in mail.outbox[1].subject
    grant.refresh_from_db()
    assert set(grant.warnings_sent) == {"week", "day"}
    with django_capture_on_commit_callbacks(execute=True):
        assert expiry.expire_due_grants(now + 5 * DAY + datetime.timedelta(hours=2))["day_warnings"] == 0


def test_renew_by_owner_capped_and_resets_warnings(owner, member_user, auditor_user):
    now = timezone.now()
    grant = GrantFactory(
        entitlement=EntitlementFactory(max_duration_days=60),
        ends_at=now + 2 * DAY,
        warnings_sent={"week": "x"},
        do_not_renew=True,
    )
    boss = owner(grant.entitlement.system)
    for user in (member_user, auditor_user):
        with pytest.raises(PermissionDenied):
            expiry.renew_grant(grant, actor=user, days=30)
    expiry.renew_grant(grant, actor=boss, days=30)
    grant.refresh_from_db()
    assert abs((grant.ends_at - (now + 32 * DAY)).total_seconds()) < 60
    assert grant.warnings_sent == {} and grant.do_not_renew is False
    expiry.renew_grant(grant, actor=boss, days=365)
    grant.refresh_from_db()
    assert abs((grant.ends_at - (now + 60 * DAY)).total_seconds()) < 60  # the cap
    with pytest.raises(ValidationError) as exc:
        expiry.renew_grant(grant, actor=boss, days=0)
    assert "days" in exc.value.message_dict


def test_renew_refuses_open_ended_ended_and_already_revoking(owner, django_capture_on_commit_callbacks):
    open_ended = GrantFactory()
    boss = owner(open_ended.entitlement.system)
    with pytest.raises(ValidationError):
        expiry.renew_grant(open_ended, actor=boss, days=5)
    expired = GrantFactory(entitlement=open_ended.entitlement, ends_at=timezone.now() - DAY)
    with django_capture_on_commit_callbacks(execute=True):
        expiry.expire_due_grants()
    with pytest.raises(ValidationError) as exc:
        expiry.renew_grant(expired, actor=boss, days=5)
    assert "revoke task" in str(exc.value)


def test_do_not_renew(owner, admin_user):
    grant = GrantFactory(ends_at=timezone.now() + 10 * DAY)
    expiry.set_do_not_renew(grant, actor=admin_user, value=True)
    grant.refresh_from_db()
    assert grant.do_not_renew
    with pytest.raises(ValidationError):
        expiry.set_do_not_renew(grant, actor=admin_user, value="yes")


def test_grant_action_pages(owner, client_for, member_user):
    grant = GrantFactory(ends_at=timezone.now() + 10 * DAY)
    boss = owner(grant.entitlement.system)
    client = client_for(boss)
    response = client.post(
        reverse("access:grant_renew", args=[grant.pk]), {"days": "7", "next": "/access/tasks/"}
    )
    assert response.status_code == 302 and response["Location"] == "/access/tasks/"
    grant.refresh_from_db()
    assert grant.ends_at > timezone.now() + 16 * DAY
    response = client.post(
        reverse("access:grant_do_not_renew", args=[grant.pk]), {"next": "https://evil.example.com/"}
    )
    assert response.status_code == 302 and "evil" not in response["Location"]
    grant.refresh_from_db()
    assert grant.do_not_renew
    assert client.get(reverse("access:grant_renew", args=[grant.pk])).status_code == 405
    stranger = client_for(member_user)
    assert stranger.post(reverse("access:grant_renew", args=[grant.pk]), {"days": "7"}).status_code == 404


def test_grant_action_api(owner, token_for, auditor_user, client):
    grant = GrantFactory(ends_at=timezone.now() + 10 * DAY)
    boss = owner(grant.entitlement.system)
    url = f"/api/v1/access/grant-actions/{grant.pk}"
    response = client.post(
        f"{url}/renew", {"days": 5}, content_type="application/json", HTTP_AUTHORIZATION=token_for(boss)
    )
    assert response.status_code == 200, response.content
    assert response.json()["id"] == grant.pk
    response = client.post(
        f"{url}/renew", {"days": 0}, content_type="application/json", HTTP_AUTHORIZATION=token_for(boss)
    )
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "days"
    response = client.post(
        f"{url}/do-not-renew",
        {"value": True},
        content_type="application/json",
        HTTP_AUTHORIZATION=token_for(boss),
    )
    assert response.status_code == 200 and response.json()["do_not_renew"] is True
    response = client.post(
        f"{url}/do-not-renew", {}, content_type="application/json", HTTP_AUTHORIZATION=token_for(auditor_user)
    )
    assert response.status_code == 403
