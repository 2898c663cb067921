"""Fulfilment tasks: by hand with evidence, by connector after commit, permissions, security flag."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from gatehouse.access import fulfilment
from gatehouse.access.models import FulfilmentTask, Grant
from gatehouse.access.tests import fake_servers
from gatehouse.access.tests.factories import EntitlementFactory, GrantFactory
from gatehouse.access.tests.fake_servers import OKTA_TOKEN, unreachable_url
from gatehouse.audit.models import AuditEvent
from gatehouse.catalog.models import SystemContact
from gatehouse.core.permissions import SYSTEM
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory

pytestmark = pytest.mark.django_db

# The fake servers' fixtures, used by name below.
fast_connectors = fake_servers.fast_connectors
okta = fake_servers.okta
State = FulfilmentTask.State


def contact(system, role, *, person=None, team=None):
    return SystemContact.objects.create(system=system, role=role, person=person, team=team)


@pytest.fixture
def provisioner(make_user):
    def make(system, role="provisioner", via_team=False):
        person = PersonFactory()
        if via_team:
            team = TeamFactory()
            team.members.add(person)
            contact(system, role, team=team)
        else:
            contact(system, role, person=person)
        return make_user(person=person, email=person.email)

    return make


def grant_task(entitlement=None, **kw):
    entitlement = entitlement or EntitlementFactory()
    return fulfilment.create_task(
        actor=SYSTEM,
        kind="grant",
        reason="request",
        person=kw.pop("person", None) or PersonFactory(),
        entitlement=entitlement,
        **kw,
    )


def test_without_connector_the_task_needs_manual_work_and_tells_provisioners(
    provisioner, huey_immediate, django_capture_on_commit_callbacks
):
    entitlement = EntitlementFactory()
    prov = provisioner(entitlement.system)
    with django_capture_on_commit_callbacks(execute=True):
        task = grant_task(entitlement)
    assert task.state == State.MANUAL and not task.security_flag
    assert AuditEvent.objects.filter(object_type__icontains="fulfilment", object_id=str(task.pk)).exists()
    [message] = mail.outbox
    assert message.to == [prov.email] and "needs manual work" in message.subject


def test_admin_grant_is_flagged_for_security_and_revoke_is_not():
    admin_ent = EntitlementFactory(privilege="admin")
    assert grant_task(admin_ent).security_flag
    person = PersonFactory()
    revoke = fulfilment.create_task(
        actor=SYSTEM, kind="revoke", reason="leaver", person=person, entitlement=admin_ent
    )
    assert not revoke.security_flag


def test_bad_input_names_the_field():
    with pytest.raises(ValidationError) as exc:
        fulfilment.create_task(
            actor=SYSTEM,
            kind="bogus",
            reason="nope",
            person=PersonFactory(),
            entitlement=EntitlementFactory(),
        )
    assert set(exc.value.message_dict) == {"kind", "reason"}
    other = GrantFactory()
    with pytest.raises(ValidationError) as exc:
        grant_task(grant=other)
    assert "grant" in exc.value.message_dict
    assert FulfilmentTask.objects.count() == 0


def test_complete_by_hand_needs_evidence_and_starts_the_grant(provisioner):
    entitlement = EntitlementFactory()
    prov = provisioner(entitlement.system, via_team=True)
    task = grant_task(entitlement)
    with pytest.raises(ValidationError) as exc:
        fulfilment.complete_task(task, actor=prov, evidence="   ")
    assert "evidence" in exc.value.message_dict
    fulfilment.complete_task(task, actor=prov, evidence="Added in the admin console, ticket IT-42")
    task.refresh_from_db()
    assert (task.state, task.done_by, task.evidence) == (
        State.DONE,
        prov,
        "Added in the admin console, ticket IT-42",
    )
    grant = Grant.objects.get(person=task.person, entitlement=entitlement)
    assert task.grant == grant and grant.source == "request" and grant.ended_at is None
    with pytest.raises(ValidationError):
        fulfilment.complete_task(task, actor=prov, evidence="again")


def test_revoke_by_hand_ends_the_grant_and_only_deprovisioners_may(provisioner):
    grant = GrantFactory()
    system = grant.entitlement.system
    prov = provisioner(system, "provisioner")
    deprov = provisioner(system, "deprovisioner")
    task = fulfilment.create_task(
        actor=SYSTEM, kind="revoke", reason="leaver", person=grant.person, entitlement=grant.entitlement
    )
    assert task.grant == grant  # found by person and entitlement
    with pytest.raises(PermissionDenied):
        fulfilment.complete_task(task, actor=prov, evidence="removed")
    fulfilment.complete_task(task, actor=deprov, evidence="Removed the account")
    grant.refresh_from_db()
    assert grant.ended_at is not None and grant.ended_by == deprov and f"#{task.pk}" in grant.end_reason


def test_who_may_work_and_see(provisioner, admin_user, auditor_user, member_user):
    entitlement = EntitlementFactory()
    prov = provisioner(entitlement.system)
    other = provisioner(EntitlementFactory().system)
    task = grant_task(entitlement)
    assert fulfilment.can_work(prov, task) and fulfilment.can_work(admin_user, task)
    for user in (other, auditor_user, member_user):
        assert not fulfilment.can_work(user, task)
        with pytest.raises(PermissionDenied):
            fulfilment.complete_task(task, actor=user, evidence="x")
    assert list(fulfilment.visible_tasks(prov)) == [task]
    assert list(fulfilment.visible_tasks(other)) == []
    assert list(fulfilment.visible_tasks(member_user)) == []
    assert list(fulfilment.visible_tasks(auditor_user)) == [task]
    with pytest.raises(PermissionDenied):
        fulfilment.security_flagged(prov)


def test_connector_runs_after_commit_and_marks_done_with_the_answer(
    okta, huey_immediate, django_capture_on_commit_callbacks
):
    user_id = okta.add_user("ann@example.com")
    okta.groups["00g-eng"] = []
    entitlement = EntitlementFactory(connector="okta", external_id="00g-eng")
    ann = PersonFactory(email="ann@example.com")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        task = grant_task(entitlement, person=ann)
    assert task.state == State.OPEN and okta.requests == []
    for callback in callbacks:
        callback()
    task.refresh_from_db()
    assert task.state == State.DONE and task.attempts == 1 and task.done_by is None
    assert user_id in task.connector_result and "HTTP 204" in task.connector_result
    assert okta.groups["00g-eng"] == [user_id]
    assert Grant.objects.get(person=ann, entitlement=entitlement).source == "request"


def test_connector_failure_marks_failed_then_retry_succeeds(
    okta, huey_immediate, django_capture_on_commit_callbacks, provisioner
):
    okta.groups["00g-eng"] = []
    entitlement = EntitlementFactory(connector="okta", external_id="00g-eng")
    prov = provisioner(entitlement.system)
    ann = PersonFactory(email="ann@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        task = grant_task(entitlement, person=ann)
    task.refresh_from_db()
    assert task.state == State.FAILED and "no user with the login ann@example.com" in task.connector_result
    assert not Grant.objects.filter(person=ann).exists()
    assert any("failed in the connector" in m.subject for m in mail.outbox)
    okta.add_user("ann@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        fulfilment.retry_task(task, actor=prov)
    task.refresh_from_db()
    assert task.state == State.DONE and task.attempts == 2
    with pytest.raises(ValidationError):
        fulfilment.retry_task(task, actor=prov)


def test_unreachable_connector_never_reports_success(
    fast_connectors, huey_immediate, django_capture_on_commit_callbacks
):
    fast_connectors.GATEHOUSE_OKTA_URL = unreachable_url()
    fast_connectors.GATEHOUSE_OKTA_TOKEN = OKTA_TOKEN
    grant = GrantFactory(entitlement=EntitlementFactory(connector="okta", external_id="00g-eng"))
    with django_capture_on_commit_callbacks(execute=True):
        task = fulfilment.create_task(
            actor=SYSTEM, kind="revoke", reason="expiry", person=grant.person, entitlement=grant.entitlement
        )
    task.refresh_from_db()
    assert task.state == State.FAILED and "cannot reach Okta" in task.connector_result
    assert OKTA_TOKEN not in task.connector_result
    grant.refresh_from_db()
    assert grant.ended_at is None  # still live on our books


def test_revoke_through_connector_ends_the_grant(okta, huey_immediate, django_capture_on_commit_callbacks):
    user_id = okta.add_user("bob@example.com", groups=["00g-eng"])
    bob = PersonFactory(email="bob@example.com")
    grant = GrantFactory(person=bob, entitlement=EntitlementFactory(connector="okta", external_id="00g-eng"))
    with django_capture_on_commit_callbacks(execute=True):
        task = fulfilment.create_task(
            actor=SYSTEM, kind="revoke", reason="review", person=bob, entitlement=grant.entitlement
        )
    task.refresh_from_db()
    grant.refresh_from_db()
    assert task.state == State.DONE and user_id not in okta.groups["00g-eng"]
    assert grant.ended_at is not None and "revoke task" in grant.end_reason


def test_a_failed_connector_task_can_be_completed_by_hand(
    okta, huey_immediate, django_capture_on_commit_callbacks, admin_user
):
    okta.groups["00g-eng"] = []
    entitlement = EntitlementFactory(connector="okta", external_id="00g-eng")
    with django_capture_on_commit_callbacks(execute=True):
        task = grant_task(entitlement)
    task.refresh_from_db()
    assert task.state == State.FAILED
    fulfilment.complete_task(task, actor=admin_user, evidence="Added by hand in Okta")
    task.refresh_from_db()
    assert task.state == State.DONE and "no user" in task.connector_result


def test_fail_task_by_hand(provisioner):
    entitlement = EntitlementFactory()
    prov = provisioner(entitlement.system)
    task = grant_task(entitlement)
    with pytest.raises(ValidationError):
        fulfilment.fail_task(task, actor=prov, reason="")
    fulfilment.fail_task(task, actor=prov, reason="The vendor console is down")
    task.refresh_from_db()
    assert task.state == State.FAILED and task.connector_result == "The vendor console is down"


# --- pages and API ---------------------------------------------------------------------------------------------

from django.urls import reverse  # noqa: E402


def _tasks(n, entitlement=None):
    entitlement = entitlement or EntitlementFactory()
    return [grant_task(entitlement) for _ in range(n)]


def test_queue_page_filters_and_pins_queries(provisioner, client_for, django_assert_num_queries):
    entitlement = EntitlementFactory(privilege="admin")
    prov = provisioner(entitlement.system)
    _tasks(3, entitlement)
    _tasks(2)  # another system's
    client = client_for(prov)
    client.get(reverse("access:tasks"))  # warm the session
    with django_assert_num_queries(7):
        response = client.get(reverse("access:tasks"))
    assert response.status_code == 200 and response.content.decode().count("Admin access") == 3
    _tasks(5, entitlement)
    with django_assert_num_queries(7):
        assert client.get(reverse("access:tasks")).status_code == 200
    response = client.get(reverse("access:tasks"), {"state": "done"})
    assert "No access task matches" in response.content.decode()
    response = client.get(
        reverse("access:tasks"), {"overdue": "true", "reason": "request", "system": entitlement.system.slug}
    )
    assert response.status_code == 200


def test_task_page_evidence_form(provisioner, client_for, member_user):
    entitlement = EntitlementFactory()
    prov = provisioner(entitlement.system)
    task = grant_task(entitlement)
    client = client_for(prov)
    page = client.get(task.get_absolute_url())
    assert page.status_code == 200 and "Mark done" in page.content.decode()
    response = client.post(task.get_absolute_url(), {"evidence": ""})
    assert response.status_code == 400
    response = client.post(task.get_absolute_url(), {"evidence": "Added, IT-7"})
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.state == State.DONE
    assert client_for(member_user).get(task.get_absolute_url()).status_code == 404


def test_security_list_page(admin_user, auditor_user, member_user, client_for):
    grant_task(EntitlementFactory(privilege="admin"))
    grant_task()
    response = client_for(auditor_user).get(reverse("access:task_security"))
    assert response.status_code == 200 and response.content.decode().count("Admin access") == 1
    assert client_for(member_user).get(reverse("access:task_security")).status_code == 403


def test_api_list_detail_complete_and_pins(
    provisioner, token_for, client, django_assert_num_queries, auditor_user
):
    entitlement = EntitlementFactory()
    prov = provisioner(entitlement.system)
    tasks = _tasks(3, entitlement)
    auth = token_for(prov)
    with django_assert_num_queries(7):
        response = client.get("/api/v1/access/tasks", HTTP_AUTHORIZATION=auth)
    assert response.status_code == 200 and response.json()["count"] == 3
    _tasks(4, entitlement)
    with django_assert_num_queries(7):
        assert client.get("/api/v1/access/tasks?state=manual", HTTP_AUTHORIZATION=auth).json()["count"] == 7
    url = f"/api/v1/access/tasks/{tasks[0].pk}"
    assert client.get(url, HTTP_AUTHORIZATION=auth).json()["state"] == "manual"
    bad = client.post(
        f"{url}/complete", {"evidence": " "}, content_type="application/json", HTTP_AUTHORIZATION=auth
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "evidence"]
    ok = client.post(
        f"{url}/complete",
        {"evidence": "done, IT-1"},
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )
    assert ok.status_code == 200 and ok.json()["state"] == "done" and ok.json()["done_by"] == prov.username
    denied = client.post(
        f"/api/v1/access/tasks/{tasks[1].pk}/complete",
        {"evidence": "x"},
        content_type="application/json",
        HTTP_AUTHORIZATION=token_for(auditor_user),
    )
    assert denied.status_code == 403
    assert client.post(f"{url}/retry", HTTP_AUTHORIZATION=auth).status_code == 422
    assert client.get("/api/v1/access/tasks/999999999", HTTP_AUTHORIZATION=auth).status_code == 404
    assert client.get("/api/v1/access/tasks?state=bogus", HTTP_AUTHORIZATION=auth).status_code == 422
