"""Part A: the requests engine's services (filing, routing on file, workflow, SLA hooks, attachments, mail)."""

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from gatehouse.audit.models import AuditEvent
from gatehouse.core.permissions import SYSTEM
from gatehouse.desk import selectors, services
from gatehouse.desk.models import Attachment, Comment, Escalation, Queue, Request, SlaState, Status, Tier
from gatehouse.desk.tests.world import ACCESS, CONFIG_CHANGE

pytestmark = pytest.mark.django_db(transaction=False)


def file_config(desk, actor=None, **kwargs):
    kwargs.setdefault("fields", CONFIG_CHANGE)
    kwargs.setdefault("system", "okta")
    return services.file_request(
        actor=actor or desk.alice, request_type="configuration-change", subject="Add SCIM", **kwargs
    )


def events_for(obj):
    return AuditEvent.objects.filter(object_type=obj.audit_label(), object_id=str(obj.pk)).order_by("id")


def test_request_about_a_system_lands_in_its_owner_teams_queue(desk, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = file_config(desk)
    assert request.queue.team == desk.okta_team
    assert request.queue.tier == Tier.ENGINEERING and request.tier == Tier.ENGINEERING
    assert "corpsys::okta" in request.labels
    assert request.requester == desk.alice_person and request.filed_by == desk.alice
    assert request.status == Status.NEW and request.priority == "normal"
    assert "Okta owners" in request.routing_note
    assert request.routing_rule is None
    # The SLA clock started (default policy, normal priority).
    assert request.sla_policy.slug == "default"
    assert request.first_response_due is not None and request.first_response_state == SlaState.OK
    # The queue was created once, audited; the request too.
    assert Queue.objects.filter(team=desk.okta_team).count() == 1
    assert events_for(request.queue).filter(action="create").exists()
    assert events_for(request).filter(action="create").exists()
    # Mail: the requester and the owner team's agents (active sign-ins); never the actor.
    to = sorted(m.to[0] for m in mail.outbox)
    assert "olga@example.com" in to and "eve@example.com" in to
    assert "alice@example.com" not in to
    # Second request reuses the queue.
    assert file_config(desk).queue == request.queue


def test_no_system_goes_to_triage(desk):
    request = services.file_request(
        actor=desk.alice,
        request_type="security-question",
        subject="Can I use a USB stick?",
        fields={"topic": "Policy"},
    )
    assert request.queue == desk.triage and request.tier == Tier.HELPDESK
    assert request.labels == []
    assert "triage" in request.routing_note
    assert request.priority == "low"


def test_system_without_owner_team_goes_to_triage_with_its_label(desk):
    request = file_config(desk, system="orphan")
    assert request.queue == desk.triage
    assert request.labels == ["corpsys::orphan"]
    assert "no owner team" in request.routing_note


def test_routing_rule_fires_and_is_recorded(desk):
    request = services.file_request(
        actor=desk.alice,
        request_type="laptop-or-hardware",
        subject="Lost my laptop on the train",
        fields={"issue_kind": "Lost or stolen"},
    )
    assert request.priority == "urgent"
    assert "lost-device" in request.labels
    assert request.routing_rule.name == "Lost or stolen device is urgent"
    assert "Lost or stolen device is urgent" in request.routing_note


def test_bad_input_is_keyed_by_field_and_saves_nothing(desk):
    before = (Request.objects.count(), AuditEvent.objects.count(), Queue.objects.count())
    with pytest.raises(ValidationError) as exc:
        services.file_request(
            actor=desk.alice,
            request_type="configuration-change",
            subject="",
            system="okta",
            fields={"environment": "Moon", "risk": "Low", "bogus": 1},
        )
    errors = exc.value.message_dict
    assert "subject" in errors
    assert "fields.environment" in errors and "Production" in errors["fields.environment"][0]
    assert "fields.change_summary" in errors and "required" in errors["fields.change_summary"][0]
    assert "fields.bogus" in errors
    assert (Request.objects.count(), AuditEvent.objects.count(), Queue.objects.count()) == before


def test_unknown_type_and_system_are_clear_errors(desk):
    with pytest.raises(ValidationError) as exc:
        services.file_request(actor=desk.alice, request_type="nope", subject="x", system="no-such-system")
    errors = exc.value.message_dict
    assert "No request type 'nope'" in errors["request_type"][0]
    assert "No system 'no-such-system'" in errors["system"][0]


def test_system_required_by_type(desk):
    with pytest.raises(ValidationError) as exc:
        services.file_request(actor=desk.alice, request_type="access-request", subject="x", fields=ACCESS)
    assert "system" in exc.value.message_dict


def test_requester_cannot_file_for_someone_else_but_an_agent_can(desk):
    with pytest.raises(PermissionDenied):
        file_config(desk, requester=desk.bob_person)
    request = file_config(desk, actor=desk.analyst, requester=desk.bob_person)
    assert request.requester == desk.bob_person and request.filed_by == desk.analyst


def test_auditor_cannot_file(desk):
    with pytest.raises(PermissionDenied):
        file_config(desk, actor=desk.auditor)


def test_round_robin_assigns_in_turn(desk, make_user):
    from gatehouse.directory.tests.factories import PersonFactory

    queue = services.queue_for_team(desk.okta_team)
    services.update_queue(queue, actor=desk.admin, round_robin=True)
    # A member without an active sign-in is never picked.
    inactive = PersonFactory(email="gone@example.com")
    desk.okta_team.members.add(inactive)
    make_user(username="gone", person=inactive, is_active=False)
    assignees = [file_config(desk).assignee for _ in range(3)]
    assert assignees == [desk.owner, desk.engineer, desk.owner]


def test_workflow_reply_note_wait_resolve_reopen(desk, django_capture_on_commit_callbacks):
    request = file_config(desk)
    mail.outbox = []
    # An agent's first public reply stops the first-response clock.
    with django_capture_on_commit_callbacks(execute=True):
        services.reply(request, actor=desk.owner, body="Looking at it.")
    request.refresh_from_db()
    assert request.first_responded_at is not None
    assert request.first_response_state == SlaState.MET
    assert request.status == Status.TRIAGED
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    # An internal note never reaches the requester.
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        services.reply(request, actor=desk.owner, body="Secret: needs a change window.", internal=True)
    assert all("alice@example.com" not in m.to for m in mail.outbox)
    assert selectors.request_timeline(desk.alice, request)[-1]["kind"] != "note"
    assert any(e["kind"] == "note" for e in selectors.request_timeline(desk.owner, request))
    with pytest.raises(PermissionDenied):
        services.reply(request, actor=desk.alice, body="let me note", internal=True)
    # Waiting on the requester pauses; the requester's reply resumes.
    request = services.set_status(request, actor=desk.owner, status=Status.WAITING_ON_REQUESTER)
    assert request.paused_at is not None
    services.reply(request, actor=desk.alice, body="Here you go.")
    request.refresh_from_db()
    assert request.status == Status.IN_PROGRESS and request.paused_at is None
    # Resolve, then the requester's reply reopens it.
    request = services.set_status(request, actor=desk.owner, status=Status.RESOLVED)
    assert request.resolved_at is not None and request.resolution_state in (SlaState.MET, SlaState.BREACHED)
    services.reply(request, actor=desk.alice, body="Still broken.")
    request.refresh_from_db()
    assert request.status == Status.IN_PROGRESS and request.resolved_at is None
    # Close; a closed request takes no more replies.
    request = services.set_status(request, actor=desk.owner, status=Status.CLOSED)
    assert request.closed_at is not None
    with pytest.raises(ValidationError):
        services.reply(request, actor=desk.alice, body="again")
    statuses = [
        e["object"]["to"] for e in selectors.request_timeline(desk.owner, request) if e["kind"] == "status"
    ]
    assert statuses == ["triaged", "waiting_on_requester", "in_progress", "resolved", "in_progress", "closed"]


def test_requester_cannot_change_status_except_resolve(desk):
    request = file_config(desk)
    with pytest.raises(PermissionDenied):
        services.set_status(request, actor=desk.alice, status=Status.IN_PROGRESS)
    with pytest.raises(PermissionDenied):
        services.update_request(request, actor=desk.alice, priority="urgent")
    services.update_request(request, actor=desk.alice, subject="Add SCIM please")
    assert services.set_status(request, actor=desk.alice, status=Status.RESOLVED).status == Status.RESOLVED


def test_invalid_status(desk):
    request = file_config(desk)
    with pytest.raises(ValidationError) as exc:
        services.set_status(request, actor=desk.owner, status="done")
    assert "status" in exc.value.message_dict


def test_escalate_to_system_owner_team(desk):
    request = services.file_request(
        actor=desk.alice,
        request_type="account-lockout",
        subject="Locked out",
        fields={"account": "alice", "cause": "Too many attempts"},
    )
    assert request.queue == desk.triage
    with pytest.raises(ValidationError) as exc:
        services.escalate(request, actor=desk.analyst, reason="")
    assert "reason" in exc.value.message_dict
    with pytest.raises(ValidationError):  # no system: the queue must be given
        services.escalate(request, actor=desk.analyst, reason="Needs Okta admin")
    request = services.escalate(
        request, actor=desk.analyst, reason="Needs Okta admin", queue=services.queue_for_team(desk.okta_team)
    )
    assert request.tier == Tier.ENGINEERING and request.queue.team == desk.okta_team
    escalation = Escalation.objects.get(request=request)
    assert (
        escalation.kind == "escalate"
        and escalation.from_queue == desk.triage
        and escalation.by == desk.analyst
    )
    assert escalation.reason == "Needs Okta admin"
    # The analyst no longer works it (not in the owner team); the owner does.
    assert not selectors.can_work(desk.analyst, request)
    assert selectors.can_work(desk.owner, request)


def test_escalate_default_queue_and_reroute_audited(desk):
    request = file_config(desk, system="orphan")
    services.update_request(request, actor=desk.analyst, labels=["x"])
    request.system = desk.okta
    request.save(update_fields=["system"])
    request = services.escalate(request, actor=desk.analyst, reason="Okta really")
    assert request.queue.team == desk.okta_team
    github_queue = services.queue_for_team(desk.github_team)
    with pytest.raises(ValidationError):
        services.reroute(request, actor=desk.owner, queue=github_queue, reason="")
    request = services.reroute(request, actor=desk.owner, queue=github_queue, reason="It is a GitHub thing")
    assert request.queue == github_queue
    assert Escalation.objects.filter(request=request, kind="reroute", reason="It is a GitHub thing").exists()
    event = events_for(request).filter(action="update").last()
    assert "queue_id" in event.changes


def test_assign_must_be_able_to_work(desk):
    request = file_config(desk)
    with pytest.raises(ValidationError) as exc:
        services.assign(request, actor=desk.owner, assignee=desk.outsider_engineer)
    assert "assignee" in exc.value.message_dict
    request = services.assign(request, actor=desk.owner, assignee=desk.engineer)
    assert request.assignee == desk.engineer and request.status == Status.TRIAGED
    with pytest.raises(PermissionDenied):
        services.assign(request, actor=desk.outsider_engineer, assignee=desk.outsider_engineer)


def test_priority_change_retargets_clock(desk):
    request = file_config(desk)
    due = request.resolution_due
    request = services.update_request(request, actor=desk.owner, priority="urgent")
    request.refresh_from_db()
    assert request.priority == "urgent" and request.resolution_due < due


def test_watchers(desk, django_capture_on_commit_callbacks):
    request = file_config(desk)
    services.add_watcher(request, actor=desk.alice, person=desk.bob_person)
    assert selectors.can_see(desk.bob, request)
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        services.reply(request, actor=desk.owner, body="Public update")
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.com", "bob@example.com"]
    services.remove_watcher(request, actor=desk.bob, person=desk.bob_person)
    assert not selectors.can_see(desk.bob, request)


def test_bulk_update_all_or_nothing(desk):
    first, second = file_config(desk), file_config(desk)
    other = file_config(desk, system="github")
    with pytest.raises(PermissionDenied):
        services.bulk_update([first, other], actor=desk.owner, priority="high")
    first.refresh_from_db()
    assert first.priority == "normal"
    assert (
        services.bulk_update([first, second], actor=desk.owner, priority="high", status=Status.IN_PROGRESS)
        == 2
    )
    assert set(Request.objects.filter(pk__in=[first.pk, second.pk]).values_list("priority", "status")) == {
        ("high", "in_progress")
    }


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


def test_attachments_allowed_refused_and_limited(desk, settings):
    settings.MEDIA_ROOT = settings.DATA_DIR / "test-media"
    request = file_config(desk, attachments=[SimpleUploadedFile("screen.png", PNG, content_type="image/png")])
    attachment = Attachment.objects.get(request=request)
    assert (
        attachment.name == "screen.png"
        and attachment.content_type == "image/png"
        and attachment.size == len(PNG)
    )
    assert len(attachment.sha256) == 64
    with pytest.raises(ValidationError) as exc:
        services.add_attachment(
            request, actor=desk.alice, upload=SimpleUploadedFile("run.exe", b"MZ\x90\x00")
        )
    assert "run.exe" in exc.value.messages[0] and "not allowed" in exc.value.messages[0]
    with pytest.raises(ValidationError) as exc:  # the name says PNG, the bytes do not
        services.add_attachment(
            request, actor=desk.alice, upload=SimpleUploadedFile("fake.png", b"MZ\x90\x00")
        )
    assert "fake.png" in exc.value.messages[0] and "PNG" in exc.value.messages[0]
    settings.GATEHOUSE_DESK_ATTACHMENT_MAX_BYTES = 50
    with pytest.raises(ValidationError) as exc:
        services.add_attachment(request, actor=desk.alice, upload=SimpleUploadedFile("big.png", PNG))
    assert "big.png" in exc.value.messages[0] and "at most 50 bytes" in exc.value.messages[0]
    # A refused attachment at filing time saves nothing at all.
    count = Request.objects.count()
    with pytest.raises(ValidationError):
        file_config(desk, attachments=[SimpleUploadedFile("big.png", PNG)])
    assert Request.objects.count() == count
    with pytest.raises(PermissionDenied):
        services.add_attachment(request, actor=desk.bob, upload=SimpleUploadedFile("note.txt", b"hello"))


def test_comment_rows_and_system_actor(desk):
    request = file_config(desk, actor=SYSTEM, requester=desk.bob_person, channel="chat")
    assert request.filed_by is None and request.channel == "chat"
    comment = services.reply(request, actor=SYSTEM, body="Automated note", internal=True)
    assert Comment.objects.get(pk=comment.pk).is_internal
