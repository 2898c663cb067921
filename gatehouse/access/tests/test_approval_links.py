# ruff: noqa: F811  (the `world` fixture is imported from request_world)
"""Emailed approval links (signed, single use, expiring), the approval pages, Slack buttons, and the API."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from unittest import mock
from urllib.parse import urlencode

import pytest
from django.core import mail, signing
from django.urls import reverse

from gatehouse.access import approval_links
from gatehouse.access import requests as svc
from gatehouse.access.models import AccessRequest, ApprovalStep, FulfilmentTask
from gatehouse.access.tests.request_world import world  # noqa: F401

pytestmark = pytest.mark.django_db


def ask(world, actor=None, ents=None, subjects=None):
    actor = actor or world.users.member
    return svc.request_access(
        actor=actor,
        subjects=subjects or [actor.person],
        entitlements=ents or [world.ents.user],
        justification="Needed for the Q4 audit.",
    )


def first_step(ar):
    return ApprovalStep.objects.filter(item__access_request=ar).order_by("position").first()


# --- links --------------------------------------------------------------------------------------------------


def test_the_mailed_link_shows_a_confirmation_then_decides_once(
    world, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ar = ask(world)
    message = next(m for m in mail.outbox if m.to == ["mona@example.com"])
    path = next(line for line in message.body.splitlines() if "/access/approve/" in line).removeprefix(
        "https://gatehouse.example.com"
    )
    step = first_step(ar)
    response = client.get(path)
    assert response.status_code == 200
    assert b"Approve" in response.content and b"Needed for the Q4 audit." in response.content
    step.refresh_from_db()
    assert step.decision == "pending"  # GET writes nothing (mail scanners follow links)
    response = client.post(path, {"action": "approve", "comment": "ok"})
    assert response.status_code == 200 and b"You approved" in response.content
    step.refresh_from_db()
    assert (step.decision, step.decided_by, step.channel, step.link_nonce) == (
        "approved",
        world.users.manager,
        "email",
        "",
    )
    # Used: a second GET or POST says so and writes nothing.
    again = client.post(path, {"action": "reject", "comment": "changed my mind"})
    assert again.status_code == 410 and b"already used" in again.content
    step.refresh_from_db()
    assert step.decision == "approved"


def test_a_tampered_link_is_refused(world, client):
    ar = ask(world)
    step = first_step(ar)
    token = approval_links.make_token(step, world.users.manager)
    forged = signing.dumps({"s": step.pk, "u": world.users.outsider.pk, "n": step.link_nonce}, salt="other")
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), forged, "nonsense"):
        response = client.post(reverse("access:approval_link", args=[bad]), {"action": "approve"})
        assert response.status_code == 400
        assert b"not valid" in response.content
    step.refresh_from_db()
    assert step.decision == "pending"


def test_an_expired_link_is_refused(world, client, settings):
    ar = ask(world)
    step = first_step(ar)
    token = approval_links.make_token(step, world.users.manager)
    later = time.time() + 8 * 86400
    with mock.patch("django.core.signing.time.time", return_value=later):
        response = client.post(reverse("access:approval_link", args=[token]), {"action": "approve"})
    assert response.status_code == 410 and b"expired" in response.content
    step.refresh_from_db()
    assert step.decision == "pending"


def test_a_link_stops_working_when_the_request_closes(world, client):
    ar = ask(world)
    step = first_step(ar)
    token = approval_links.make_token(step, world.users.manager)
    svc.cancel_request(ar, actor=world.users.member)
    response = client.get(reverse("access:approval_link", args=[token]))
    assert response.status_code == 410 and b"no longer valid" in response.content


def test_a_link_used_by_another_signed_in_user_is_refused(world, client):
    ar = ask(world)
    step = first_step(ar)
    token = approval_links.make_token(step, world.users.manager)
    client.force_login(world.users.outsider)
    response = client.post(reverse("access:approval_link", args=[token]), {"action": "approve"})
    assert response.status_code == 403
    step.refresh_from_db()
    assert step.decision == "pending"


def test_a_link_to_someone_who_may_not_decide_shows_why(world, client):
    ar = ask(world)
    step = first_step(ar)
    token = approval_links.make_token(step, world.users.member)  # the requester's own link (never mailed)
    response = client.post(reverse("access:approval_link", args=[token]), {"action": "approve"})
    assert response.status_code == 403 and b"filed" in response.content
    step.refresh_from_db()
    assert step.decision == "pending"


# --- pages --------------------------------------------------------------------------------------------------


def test_member_asks_for_access_on_the_page(world, client):
    client.force_login(world.users.member)
    page = client.get(reverse("access:request_new") + f"?entitlement={world.ents.user.pk}")
    assert page.status_code == 200
    assert world.ents.closed.name.encode() not in page.content  # not requestable: not offered
    bad = client.post(reverse("access:request_new"), {"for_me": "on", "justification": "x"})
    assert bad.status_code == 422 and not AccessRequest.objects.exists()
    response = client.post(
        reverse("access:request_new"),
        {
            "for_me": "on",
            "others": "carla@example.com",
            "entitlements": [world.ents.user.pk],
            "justification": "Team onboarding",
            "duration_days": "20",
        },
    )
    ar = AccessRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == ar.get_absolute_url()
    assert ar.items.count() == 2 and ar.duration_days == 20
    detail = client.get(ar.get_absolute_url())
    assert detail.status_code == 200 and b"Waiting for approval" in detail.content
    unknown = client.post(
        reverse("access:request_new"),
        {"others": "ghost@example.com", "entitlements": [world.ents.owner_only.pk], "justification": "x"},
    )
    assert unknown.status_code == 422 and b"ghost@example.com" in unknown.content


def test_manager_decides_from_the_inbox(world, client):
    ar = ask(world)
    step = first_step(ar)
    client.force_login(world.users.manager)
    inbox = client.get(reverse("access:approvals"))
    assert inbox.status_code == 200 and b"Lucas Member" in inbox.content
    no_comment = client.post(reverse("access:step_decide", args=[step.pk]), {"action": "reject"})
    assert no_comment.status_code == 422
    response = client.post(reverse("access:step_decide", args=[step.pk]), {"action": "approve"})
    assert response.status_code == 302
    step.refresh_from_db()
    assert step.decision == "approved" and step.channel == "web"
    twice = client.post(reverse("access:step_decide", args=[step.pk]), {"action": "approve"}, follow=True)
    assert b"already approved" in twice.content


def test_pages_hide_requests_from_strangers_and_auditors_only_read(world, client):
    ar = ask(world)
    step = first_step(ar)
    client.force_login(world.users.outsider)
    assert client.get(ar.get_absolute_url()).status_code == 404
    assert client.get(reverse("access:step_decide", args=[step.pk])).status_code == 404
    client.force_login(world.users.auditor)
    assert client.get(ar.get_absolute_url()).status_code == 200
    client.post(reverse("access:step_decide", args=[step.pk]), {"action": "approve"})
    step.refresh_from_db()
    assert step.decision == "pending"


def test_list_and_inbox_query_counts_do_not_grow_with_rows(world, client, django_assert_max_num_queries):
    for person, user in (
        (world.people.member, world.users.member),
        (world.people.colleague, world.users.colleague),
    ):
        for ent in (world.ents.user, world.ents.owner_only, world.ents.admin):
            ask(world, actor=user, subjects=[person], ents=[ent])
    client.force_login(world.users.admin)
    url = reverse("access:requests") + "?scope=all"
    client.get(url)
    with django_assert_max_num_queries(12) as small:
        assert client.get(url).status_code == 200
    with django_assert_max_num_queries(12) as inbox:
        assert client.get(reverse("access:approvals")).status_code == 200
    for ent in (world.ents.manager_only, world.ents.free, world.ents.short):
        ask(world, ents=[ent])
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(url).status_code == 200
    with django_assert_max_num_queries(len(inbox.captured_queries)):
        assert client.get(reverse("access:approvals")).status_code == 200


# --- the API ------------------------------------------------------------------------------------------------


API = "/api/v1/access/requests"


def test_api_create_list_detail_approve_reject(world, client, token_for):
    member, manager, owner = (
        token_for(u) for u in (world.users.member, world.users.manager, world.users.owner)
    )
    assert client.get(API).status_code == 401
    bad = client.post(
        API,
        {"entitlements": [], "justification": ""},
        content_type="application/json",
        HTTP_AUTHORIZATION=member,
    )
    assert bad.status_code == 422
    unknown = client.post(
        API,
        {"entitlements": [999999], "justification": "x"},
        content_type="application/json",
        HTTP_AUTHORIZATION=member,
    )
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "entitlements"]
    created = client.post(
        API,
        {"entitlements": [world.ents.user.pk], "justification": "Team onboarding", "duration_days": 5},
        content_type="application/json",
        HTTP_AUTHORIZATION=member,
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["state"] == "pending" and body["desk_request"].startswith("REQ-")
    (item,) = body["items"]
    manager_step, owner_step = item["steps"]
    assert (
        client.get(f"{API}/{body['id']}", HTTP_AUTHORIZATION=token_for(world.users.outsider)).status_code
        == 404
    )
    listed = client.get(f"{API}?state=pending", HTTP_AUTHORIZATION=manager).json()
    assert listed["count"] == 1
    waiting = client.get(f"{API}/approvals", HTTP_AUTHORIZATION=manager).json()
    assert [s["id"] for s in waiting["results"]] == [manager_step["id"]]
    early = client.post(
        f"{API}/steps/{owner_step['id']}/approve",
        {},
        content_type="application/json",
        HTTP_AUTHORIZATION=owner,
    )
    assert early.status_code == 403
    ok = client.post(
        f"{API}/steps/{manager_step['id']}/approve",
        {"comment": "fine"},
        content_type="application/json",
        HTTP_AUTHORIZATION=manager,
    )
    assert ok.status_code == 200 and ok.json()["items"][0]["steps"][0]["decision"] == "approved"
    again = client.post(
        f"{API}/steps/{manager_step['id']}/approve",
        {},
        content_type="application/json",
        HTTP_AUTHORIZATION=manager,
    )
    assert again.status_code == 409
    no_reason = client.post(
        f"{API}/steps/{owner_step['id']}/reject",
        {},
        content_type="application/json",
        HTTP_AUTHORIZATION=owner,
    )
    assert no_reason.status_code == 422 and no_reason.json()["detail"][0]["loc"] == ["body", "comment"]
    rejected = client.post(
        f"{API}/steps/{owner_step['id']}/reject",
        {"comment": "Use the read role"},
        content_type="application/json",
        HTTP_AUTHORIZATION=owner,
    )
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
    assert client.get(f"{API}/steps/999999/approve", HTTP_AUTHORIZATION=owner).status_code in (404, 405)
    assert (
        client.post(
            f"{API}/steps/999999/approve", {}, content_type="application/json", HTTP_AUTHORIZATION=owner
        ).status_code
        == 404
    )


def test_api_auditor_reads_but_cannot_decide_or_ask(world, client, token_for):
    ar = ask(world)
    step = first_step(ar)
    auditor = token_for(world.users.auditor)
    assert client.get(f"{API}/{ar.pk}", HTTP_AUTHORIZATION=auditor).status_code == 200
    denied = client.post(
        f"{API}/steps/{step.pk}/approve", {}, content_type="application/json", HTTP_AUTHORIZATION=auditor
    )
    assert denied.status_code == 403
    asked = client.post(
        API,
        {"entitlements": [world.ents.user.pk], "justification": "x", "subjects": ["lucas@example.com"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=auditor,
    )
    assert asked.status_code == 403


def test_api_list_query_count_is_flat(world, client, token_for, django_assert_max_num_queries):
    admin = token_for(world.users.admin)
    for ent in (world.ents.user, world.ents.owner_only):
        ask(world, ents=[ent])
    client.get(API, HTTP_AUTHORIZATION=admin)
    with django_assert_max_num_queries(12) as few:
        assert client.get(API, HTTP_AUTHORIZATION=admin).json()["count"] == 2
    for ent in (world.ents.admin, world.ents.manager_only, world.ents.free, world.ents.short):
        ask(world, ents=[ent])
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(API, HTTP_AUTHORIZATION=admin).json()["count"] == 6


# --- Slack buttons ------------------------------------------------------------------------------------------

SECRET = "test-signing-secret"


def press(client, step, handle, action_id):
    payload = {
        "type": "block_actions",
        "user": {"id": "U1", "username": handle},
        "actions": [{"action_id": action_id, "value": str(step.pk)}],
    }
    body = urlencode({"payload": json.dumps(payload)})
    ts = int(time.time())
    sig = "v0=" + hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return client.post(
        reverse("slack_interactions"),
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=str(ts),
        HTTP_X_SLACK_SIGNATURE=sig,
    )


def test_slack_buttons_decide_as_the_linked_user(world, client, settings):
    settings.SLACK_SIGNING_SECRET = SECRET
    world.people.owner.handle = "omar"
    world.people.owner.save()
    ar = ask(world, ents=[world.ents.owner_only])
    step = first_step(ar)
    payload = svc.chat_payload(step, "Approval needed")
    assert [e["action_id"] for e in payload["blocks"][1]["elements"]] == [
        svc.ACTION_APPROVE,
        svc.ACTION_REJECT,
    ]
    # A bad signature changes nothing.
    body = urlencode({"payload": "{}"})
    assert (
        client.post(
            reverse("slack_interactions"),
            data=body,
            content_type="application/x-www-form-urlencoded",
            HTTP_X_SLACK_REQUEST_TIMESTAMP=str(int(time.time())),
            HTTP_X_SLACK_SIGNATURE="v0=bad",
        ).status_code
        == 401
    )
    unknown = press(client, step, "nobody", svc.ACTION_APPROVE)
    assert "No person" in unknown.json()["text"]
    response = press(client, step, "omar", svc.ACTION_APPROVE)
    assert response.status_code == 200 and "approved by @omar" in response.json()["text"]
    step.refresh_from_db()
    assert (step.decision, step.decided_by, step.channel) == ("approved", world.users.owner, "chat")
    assert FulfilmentTask.objects.filter(request_item__access_request=ar).count() == 1
    again = press(client, step, "omar", svc.ACTION_REJECT)
    assert "already" in again.json()["text"]
    assert FulfilmentTask.objects.filter(request_item__access_request=ar).count() == 1
