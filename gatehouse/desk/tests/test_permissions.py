"""Part A: who sees and who changes which request, checked on the server."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from gatehouse.core.api.testing import ApiClient
from gatehouse.desk import selectors, services
from gatehouse.desk.tests.world import CONFIG_CHANGE

pytestmark = pytest.mark.django_db


def file(desk, actor=None, system="okta", **kwargs):
    return services.file_request(
        actor=actor or desk.alice,
        request_type="configuration-change",
        subject="x",
        fields=CONFIG_CHANGE,
        system=system,
        **kwargs,
    )


def test_visibility(desk):
    okta_request = file(desk)
    lockout = services.file_request(
        actor=desk.bob,
        request_type="account-lockout",
        subject="Locked",
        fields={"account": "b", "cause": "Other"},
    )

    def seen(user):
        return set(selectors.visible_requests(user).values_list("pk", flat=True))

    assert seen(desk.alice) == {okta_request.pk}
    assert seen(desk.bob) == {lockout.pk}
    assert seen(desk.analyst) == {lockout.pk}  # the helpdesk team's triage queue
    assert seen(desk.owner) == {okta_request.pk} == seen(desk.engineer)  # the owner team's queue
    assert seen(desk.business_owner) == {okta_request.pk}  # a business owner of the system
    assert seen(desk.outsider_engineer) == set()
    assert seen(desk.admin) == seen(desk.auditor) == {okta_request.pk, lockout.pk}
    with pytest.raises(Http404):
        selectors.get_request(desk.bob, okta_request.pk)
    with pytest.raises(Http404):
        selectors.get_request(desk.alice, "junk")


def test_auditor_reads_all_writes_nothing(desk):
    request = file(desk)
    for call in (
        lambda: services.reply(request, actor=desk.auditor, body="hi"),
        lambda: services.set_status(request, actor=desk.auditor, status="closed"),
        lambda: services.assign(request, actor=desk.auditor, assignee=desk.owner),
        lambda: services.update_request(request, actor=desk.auditor, priority="low"),
        lambda: services.escalate(request, actor=desk.auditor, reason="x"),
        lambda: file(desk, actor=desk.auditor),
    ):
        with pytest.raises(PermissionDenied):
            call()
    assert not selectors.can_work(desk.auditor, request)


def test_other_requesters_and_outsiders_cannot_act(desk):
    request = file(desk)
    with pytest.raises(PermissionDenied):
        services.reply(request, actor=desk.bob, body="hi")
    with pytest.raises(PermissionDenied):
        services.set_status(request, actor=desk.outsider_engineer, status="in_progress")
    with pytest.raises(PermissionDenied):
        services.add_watcher(request, actor=desk.bob, person=desk.bob_person)


def test_api_permissions(desk, token_for):
    request = file(desk)
    bob = ApiClient(token_for(desk.bob))
    assert bob.get(f"/desk/requests/{request.pk}").status_code == 404
    assert bob.post(f"/desk/requests/{request.pk}/comments", {"body": "hi"}).status_code == 404
    assert bob.patch(f"/desk/requests/{request.pk}", {"subject": "mine"}).status_code == 404
    assert bob.get("/desk/requests").json()["count"] == 0
    auditor = ApiClient(token_for(desk.auditor))
    assert auditor.get(f"/desk/requests/{request.pk}").status_code == 200
    assert auditor.get("/desk/requests").json()["count"] == 1
    assert auditor.post(f"/desk/requests/{request.pk}/comments", {"body": "hi"}).status_code == 403
    assert auditor.patch(f"/desk/requests/{request.pk}", {"priority": "low"}).status_code == 403
    assert auditor.post(f"/desk/requests/{request.pk}/escalate", {"reason": "x"}).status_code == 403
    assert auditor.post("/desk/queues", {"slug": "q", "name": "Q"}).status_code == 403
    body = {"request_type": "security-question", "subject": "x", "fields": {"topic": "Policy"}}
    assert auditor.post("/desk/requests", body).status_code == 403
    alice = ApiClient(token_for(desk.alice))
    assert (
        alice.post(f"/desk/requests/{request.pk}/comments", {"body": "n", "internal": True}).status_code
        == 403
    )
    assert alice.patch(f"/desk/requests/{request.pk}", {"priority": "urgent"}).status_code == 403
    assert alice.post("/desk/routing-rules", {"name": "r", "actions": {"priority": "low"}}).status_code == 403
    assert ApiClient().get("/desk/requests").status_code == 401


def test_a_triage_queue_without_a_team_is_worked_by_every_helpdesk_analyst(make_user, settings):
    """A new install's triage queue has no team: the helpdesk analyst role works it, nobody else does."""
    from gatehouse.desk.models import Queue
    from gatehouse.directory.tests.factories import PersonFactory

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    triage = Queue.objects.get(is_triage=True)
    assert triage.team_id is None
    requester = make_user(username="rita", person=PersonFactory(email="rita@example.com"))
    analyst = make_user("helpdesk_analyst", username="ana", person=PersonFactory(email="ana@example.com"))
    engineer = make_user("engineer", username="eve", person=PersonFactory(email="eve@example.com"))
    request = services.file_request(
        actor=requester,
        request_type="account-lockout",
        subject="Locked out",
        fields={"account": "rita", "cause": "Other"},
    )
    assert request.queue == triage
    assert list(selectors.visible_requests(analyst)) == [request]
    assert selectors.can_work(analyst, request)
    assert list(selectors.agent_queues(analyst)) == [triage]
    assert list(selectors.queue_agents(triage)) == [analyst]
    assert not selectors.visible_requests(engineer).exists()
    assert not selectors.can_work(engineer, request)
    with pytest.raises(Http404):
        selectors.get_request(engineer, request.pk)
