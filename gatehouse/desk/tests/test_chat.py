"""Chat: outgoing webhook deliveries against a local HTTP receiver, the inbound Slack endpoints with real
signatures, and the admin pages."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import pytest
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from gatehouse.audit.models import AuditEvent
from gatehouse.core.context import Source
from gatehouse.desk import chat
from gatehouse.desk.models import ChatDelivery, ChatWebhook, Comment, Queue, Request, RequestType, Status
from gatehouse.desk.tests.factories import QueueFactory, RequestFactory
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory

SECRET_PATH = "/services/T0001/B0002/s3cr3tT0kenXYZ"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


# --- a local receiver ---------------------------------------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1:0 in a thread answering POSTs from a script of (status, headers, body)."""

    def __init__(self, script=()):
        self.script = list(script)
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                receiver.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, headers, text = receiver.script.pop(0) if receiver.script else (200, {}, "ok")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                data = text.encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str = SECRET_PATH) -> str:
        return self.base + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(*script):
        r = Receiver(script)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture
def silent_url():
    """A port that accepts connections (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}{SECRET_PATH}"
    sock.close()


@pytest.fixture
def closed_url():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}{SECRET_PATH}"


@pytest.fixture
def fast_retries(settings):
    settings.CHAT_RETRY_DELAYS = (0, 0, 0, 0)
    settings.CHAT_WEBHOOK_TIMEOUT = 2
    settings.BASE_URL = "https://gatehouse.example.com"
    return settings


def team_with_webhook(url: str, *, active: bool = True):
    team = TeamFactory()
    ChatWebhook.objects.create(team=team, url=url, is_active=active)
    return team


def make_request(team, **fields):
    queue = QueueFactory(team=team)
    return RequestFactory(queue=queue, **fields)


def notify_and_commit(django_capture_on_commit_callbacks, team, request, event="created", text="New request"):
    with django_capture_on_commit_callbacks(execute=True):
        delivery = chat.notify_team(team, event, request, text)
    delivery.refresh_from_db()
    return delivery


# --- outgoing --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_webhook_or_an_inactive_one_writes_nothing(receiver, django_capture_on_commit_callbacks):
    r = receiver()
    plain = TeamFactory()
    inactive = team_with_webhook(r.url(), active=False)
    with django_capture_on_commit_callbacks() as callbacks:
        assert chat.notify_team(plain, "created", make_request(plain), "x") is None
        assert chat.notify_team(inactive, "created", make_request(inactive), "x") is None
        assert chat.notify_team(None, "created", None, "x") is None
    assert callbacks == []
    assert ChatDelivery.objects.count() == 0


@pytest.mark.django_db
def test_sent_after_commit_with_the_slack_payload(
    receiver, huey_immediate, fast_retries, django_capture_on_commit_callbacks
):
    r = receiver((200, {}, "ok"))
    team = team_with_webhook(r.url())
    request = make_request(team, subject="VPN <down> & out")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        delivery = chat.notify_team(team, "created", request, "New request from Ann")
        assert delivery.state == ChatDelivery.State.PENDING
    assert r.received == []  # nothing before the commit
    assert len(callbacks) == 1
    callbacks[0]()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        ChatDelivery.State.SENT,
        1,
        200,
        "",
    )
    assert delivery.sent_at is not None and delivery.next_attempt_at is None
    [got] = r.received
    assert got["path"] == SECRET_PATH
    assert got["headers"]["Content-Type"].startswith("application/json")
    payload = json.loads(got["body"])
    link = f"https://gatehouse.example.com/desk/requests/{request.pk}/"
    assert request.reference in payload["text"] and link in payload["text"]
    section = payload["blocks"][0]["text"]["text"]
    assert f"<{link}|{request.reference}>" in section
    assert "VPN &lt;down&gt; &amp; out" in section  # user text cannot inject links or mentions
    buttons = {b["text"]["text"]: b for b in payload["blocks"][2]["elements"]}
    assert buttons["Acknowledge"]["value"] == str(request.pk)
    assert buttons["Acknowledge"]["action_id"] == chat.ACTION_ACKNOWLEDGE
    assert buttons["Assign to me"]["value"] == str(request.pk)
    assert buttons["Assign to me"]["action_id"] == chat.ACTION_ASSIGN_TO_ME


@pytest.mark.django_db
def test_nothing_written_or_sent_when_the_transaction_rolls_back(
    receiver, huey_immediate, fast_retries, django_capture_on_commit_callbacks
):
    r = receiver()
    team = team_with_webhook(r.url())
    request = make_request(team)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        chat.notify_team(team, "created", request, "x")
        raise RuntimeError("boom")
    assert callbacks == []
    assert ChatDelivery.objects.count() == 0
    assert r.received == []


@pytest.mark.django_db
def test_a_server_error_is_retried_then_sent(
    receiver, huey_immediate, fast_retries, django_capture_on_commit_callbacks
):
    r = receiver((500, {}, "oops"), (200, {}, "ok"))
    team = team_with_webhook(r.url())
    delivery = notify_and_commit(django_capture_on_commit_callbacks, team, make_request(team))
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == (ChatDelivery.State.SENT, 2, 200)
    assert len(r.received) == 2


@pytest.mark.django_db
def test_server_errors_back_off_exponentially_then_give_up(
    receiver, huey_immediate, settings, django_capture_on_commit_callbacks
):
    settings.CHAT_RETRY_DELAYS = (30, 60, 120, 240)
    r = receiver(*[(503, {}, "busy")] * 5)
    team = team_with_webhook(r.url())
    delivery = notify_and_commit(django_capture_on_commit_callbacks, team, make_request(team))
    expected = [30, 60, 120, 240]
    for attempt, delay in enumerate(expected, start=1):
        assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("retrying", attempt, 503)
        wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
        assert delay - 5 < wait <= delay
        assert "HTTP 503" in delivery.last_error
        chat.deliver_chat.call_local(delivery.pk)  # what the scheduled task does when its time comes
        delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("failed", 5, None)
    assert len(r.received) == 5
    assert len(huey_immediate.scheduled()) == 4  # one scheduled retry per failed attempt but the last


@pytest.mark.django_db
def test_429_honours_retry_after(receiver, huey_immediate, fast_retries, django_capture_on_commit_callbacks):
    r = receiver((429, {"Retry-After": "7"}, "rate_limited"), (200, {}, "ok"))
    team = team_with_webhook(r.url())
    delivery = notify_and_commit(django_capture_on_commit_callbacks, team, make_request(team))
    # The retry delays are zero here, so only Retry-After can put the next attempt 7 seconds out.
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("retrying", 1, 429)
    assert 5 < (delivery.next_attempt_at - timezone.now()).total_seconds() <= 7
    [scheduled] = huey_immediate.scheduled()
    assert scheduled.args == (delivery.pk,)
    chat.deliver_chat.call_local(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("sent", 2, 200)


@pytest.mark.django_db
def test_a_receiver_that_never_answers_times_out_and_is_retried(
    silent_url, huey_immediate, fast_retries, django_capture_on_commit_callbacks
):
    fast_retries.CHAT_RETRY_DELAYS = (0, 0)
    fast_retries.CHAT_WEBHOOK_TIMEOUT = 0.3
    team = team_with_webhook(silent_url)
    started = time.monotonic()
    delivery = notify_and_commit(django_capture_on_commit_callbacks, team, make_request(team))
    assert time.monotonic() - started < 5
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("failed", 3, None)
    assert delivery.last_error == "No answer within 0.3s (timed out)"


@pytest.mark.django_db
def test_a_refused_connection_is_retried(
    closed_url, huey_immediate, fast_retries, django_capture_on_commit_callbacks
):
    team = team_with_webhook(closed_url)
    delivery = notify_and_commit(django_capture_on_commit_callbacks, team, make_request(team))
    assert (delivery.state, delivery.attempts) == ("failed", 5)
    assert delivery.last_error.startswith("Connection failed:")


@pytest.mark.django_db
def test_404_gives_up_at_once(receiver, huey_immediate, fast_retries, django_capture_on_commit_callbacks):
    r = receiver((404, {}, "no_service"))
    team = team_with_webhook(r.url())
    delivery = notify_and_commit(django_capture_on_commit_callbacks, team, make_request(team))
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("failed", 1, 404)
    assert delivery.last_error == "HTTP 404 Not Found: no_service"
    assert len(r.received) == 1


@pytest.mark.django_db
def test_a_webhook_disabled_before_the_send_is_not_called(
    receiver, huey_immediate, fast_retries, django_capture_on_commit_callbacks
):
    r = receiver()
    team = team_with_webhook(r.url())
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        delivery = chat.notify_team(team, "created", make_request(team), "x")
    ChatWebhook.objects.filter(team=team).update(is_active=False)
    callbacks[0]()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.last_error) == ("failed", "Not sent: the team's webhook is disabled.")
    assert r.received == []


@pytest.mark.django_db
def test_the_url_never_reaches_logs_errors_or_the_audit_trail(
    receiver, closed_url, huey_immediate, fast_retries, django_capture_on_commit_callbacks, caplog, admin_user
):
    caplog.set_level(logging.DEBUG)
    r = receiver((500, {}, f"echo {SECRET_PATH}"), (404, {}, f"no such hook {SECRET_PATH}"))
    team = TeamFactory()
    chat.set_webhook(team, actor=admin_user, url=r.url())
    chat.set_webhook(team, actor=admin_user, url=r.url("/services/T0001/B0002/rotatedSecret99"))
    chat.set_webhook(team, actor=admin_user, url=r.url())
    first = notify_and_commit(django_capture_on_commit_callbacks, team, make_request(team))
    other = TeamFactory()
    chat.set_webhook(other, actor=admin_user, url=closed_url)
    second = notify_and_commit(django_capture_on_commit_callbacks, other, make_request(other))
    assert first.state == "failed" and second.state == "failed"
    assert first.last_error == "HTTP 404 Not Found: no such hook [webhook URL]"
    texts = [caplog.text, first.last_error, second.last_error]
    texts += [json.dumps(e.changes) + e.object_repr for e in AuditEvent.objects.all()]
    for text in texts:
        assert "s3cr3tT0ken" not in text and "rotatedSecret99" not in text
    assert caplog.text  # there was something to look at


# --- webhook settings and re-send -------------------------------------------------------------------------


@pytest.mark.django_db
def test_set_rotate_disable_are_audited_without_the_url(admin_user, member_user):
    team = TeamFactory()
    with pytest.raises(PermissionDenied):
        chat.set_webhook(team, actor=member_user, url="https://hooks.slack.com/services/A/B/C")
    webhook = chat.set_webhook(team, actor=admin_user, url="https://hooks.slack.com/services/A/B/C")
    chat.set_webhook(team, actor=admin_user, url="https://hooks.slack.com/services/A/B/D")
    webhook.refresh_from_db()
    assert webhook.url.endswith("/D")
    chat.disable_webhook(team, actor=admin_user)
    webhook.refresh_from_db()
    assert not webhook.is_active
    events = list(AuditEvent.objects.filter(object_type="desk.chatwebhook").order_by("id"))
    assert [e.action for e in events] == ["create", "update", "update"]
    assert events[1].changes == {"url": ["(hidden)", "(hidden, rotated)"]}
    assert events[2].changes == {"is_active": [True, False]}
    assert all("hooks.slack.com" not in json.dumps(e.changes) for e in events)
    assert chat.mask_url(webhook.url) == "https://hooks.slack.com/…/B/D"


@pytest.mark.django_db
def test_a_bad_url_is_refused_naming_the_field(admin_user):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        chat.set_webhook(TeamFactory(), actor=admin_user, url="ftp://example.com/secret-bit")
    assert "url" in exc.value.message_dict
    assert "secret-bit" not in str(exc.value)
    assert ChatWebhook.objects.count() == 0


@pytest.mark.django_db
def test_resend_a_failed_delivery(
    receiver, huey_immediate, fast_retries, django_capture_on_commit_callbacks, admin_user, member_user
):
    r = receiver((404, {}, "no_service"), (200, {}, "ok"))
    team = team_with_webhook(r.url())
    delivery = notify_and_commit(django_capture_on_commit_callbacks, team, make_request(team))
    assert delivery.state == "failed"
    with pytest.raises(PermissionDenied):
        chat.resend_delivery(delivery, actor=member_user)
    with django_capture_on_commit_callbacks(execute=True):
        chat.resend_delivery(delivery, actor=admin_user)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("sent", 1, 200)
    event = AuditEvent.objects.get(object_type="desk.chatdelivery")
    assert event.changes["state"] == ["failed", "pending"]


# --- inbound: signatures ----------------------------------------------------------------------------------


def signed(body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    base = f"v0:{timestamp}:{body}".encode()
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"HTTP_X_SLACK_REQUEST_TIMESTAMP": str(timestamp), "HTTP_X_SLACK_SIGNATURE": signature}


FORM = "application/x-www-form-urlencoded"


def post_command(client, data: dict, **headers):
    body = urlencode(data)
    headers = headers or signed(body)
    return client.post(reverse("slack_commands"), data=body, content_type=FORM, **headers)


def post_action(client, payload: dict, **headers):
    body = urlencode({"payload": json.dumps(payload)})
    headers = headers or signed(body)
    return client.post(reverse("slack_interactions"), data=body, content_type=FORM, **headers)


@pytest.fixture
def slack(settings):
    settings.SLACK_SIGNING_SECRET = SIGNING_SECRET
    settings.BASE_URL = "https://gatehouse.example.com"
    return settings


@pytest.fixture
def help_desk(db):
    """The seeded triage queue, given a helpdesk team, and the type the slash command files."""
    team = TeamFactory(slug="helpdesk", name="Helpdesk")
    queue = Queue.objects.get(is_triage=True)
    Queue.objects.filter(pk=queue.pk).update(team=team)
    queue.refresh_from_db()
    RequestType.objects.get_or_create(slug="security-question", defaults={"name": "Security question"})
    return queue


def bodies_and_counts():
    return (Request.objects.count(), Comment.objects.count(), AuditEvent.objects.count())


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda body: signed(body, secret="not-the-secret"), id="bad"),
        pytest.param(lambda body: signed(body, timestamp=int(time.time()) - 6 * 60), id="stale"),
        pytest.param(lambda body: {}, id="missing"),
        pytest.param(lambda body: {**signed(body), "HTTP_X_SLACK_SIGNATURE": "v0=" + "0" * 64}, id="forged"),
    ],
)
def test_a_bad_stale_or_missing_signature_is_401_and_writes_nothing(client, slack, help_desk, headers):
    person = PersonFactory(handle="ann")
    data = {"command": "/it-help", "text": "printer on fire", "user_name": "ann", "user_id": "U1"}
    body = urlencode(data)
    before = bodies_and_counts()
    response = client.post(
        reverse("slack_commands"), data=body, content_type=FORM, **(headers(body) or {"HTTP_X_NONE": "1"})
    )
    assert response.status_code == 401
    request = RequestFactory(queue=help_desk, requester=person)
    before = bodies_and_counts()
    payload = {
        "type": "block_actions",
        "user": {"username": "ann"},
        "actions": [{"action_id": chat.ACTION_ACKNOWLEDGE, "value": str(request.pk)}],
    }
    action_body = urlencode({"payload": json.dumps(payload)})
    response = client.post(
        reverse("slack_interactions"),
        data=action_body,
        content_type=FORM,
        **(headers(action_body) or {"HTTP_X_NONE": "1"}),
    )
    assert response.status_code == 401
    assert bodies_and_counts() == before


@pytest.mark.django_db
def test_a_good_signature_passes_and_a_fresh_one_is_needed(client, slack, help_desk):
    PersonFactory(handle="ann")
    response = post_command(client, {"command": "/it-help", "text": "", "user_name": "ann"})
    assert response.status_code == 200
    assert "Usage: `/it-help" in response.json()["text"]
    just_inside = signed(urlencode({"text": ""}), timestamp=int(time.time()) - 4 * 60)
    assert post_command(client, {"text": ""}, **just_inside).status_code == 200


@pytest.mark.django_db
def test_no_signing_secret_is_503(client, settings):
    settings.SLACK_SIGNING_SECRET = ""
    response = post_command(client, {"text": "hi"})
    assert response.status_code == 503
    assert "GATEHOUSE_SLACK_SIGNING_SECRET" in response.content.decode()
    assert client.get(reverse("slack_commands")).status_code == 405


# --- inbound: the slash command ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_slash_command_opens_a_request(client, slack, help_desk, django_capture_on_commit_callbacks):
    person = PersonFactory(handle="ann")
    with django_capture_on_commit_callbacks(execute=False):
        response = post_command(
            client,
            {
                "command": "/it-help",
                "text": "My laptop will not join the VPN\nSince this morning.",
                "user_name": "Ann",
                "user_id": "U42",
            },
        )
    assert response.status_code == 200
    reply = response.json()
    request = Request.objects.get()
    assert reply["response_type"] == "ephemeral"
    assert f"Opened {request.reference}" in reply["text"]
    assert f"https://gatehouse.example.com/desk/requests/{request.pk}/" in reply["text"]
    assert (request.requester, request.channel, request.system, request.queue) == (
        person,
        "chat",
        None,
        help_desk,
    )
    assert request.subject == "My laptop will not join the VPN"
    assert request.description.endswith("Since this morning.")
    event = AuditEvent.objects.get(object_type="desk.request", action="create")
    assert event.source == Source.CHAT
    assert event.actor_label == "chat:@ann (U42)"


@pytest.mark.django_db
def test_the_slash_command_says_plainly_when_no_person_matches(client, slack, help_desk):
    before = bodies_and_counts()
    response = post_command(client, {"command": "/it-help", "text": "help me", "user_name": "nobody"})
    assert response.status_code == 200
    assert "No person in Gatehouse has the chat handle @nobody" in response.json()["text"]
    assert bodies_and_counts() == before


# --- inbound: the buttons ---------------------------------------------------------------------------------


def button(request, action_id, username, response_url=None):
    payload = {
        "type": "block_actions",
        "user": {"id": "U7", "username": username, "name": username},
        "actions": [
            {"action_id": action_id, "value": str(request.pk), "block_id": f"gatehouse-request-{request.pk}"}
        ],
    }
    if response_url:
        payload["response_url"] = response_url
    return payload


@pytest.fixture
def agent(make_user, help_desk):
    person = PersonFactory(handle="bob")
    help_desk.team.members.add(person)
    return make_user("helpdesk_analyst", person=person, username="bob")


@pytest.mark.django_db
def test_acknowledge_triages_a_new_request_and_notes_it(client, slack, help_desk, agent):
    request = RequestFactory(queue=help_desk, status=Status.NEW)
    response = post_action(client, button(request, chat.ACTION_ACKNOWLEDGE, "bob"))
    assert response.status_code == 200
    assert response.json()["text"] == f"{request.reference} acknowledged by @bob."
    request.refresh_from_db()
    assert request.status == Status.TRIAGED
    note = Comment.objects.get(request=request)
    assert (note.is_internal, note.channel, note.author) == (True, "chat", agent)
    sources = set(
        AuditEvent.objects.filter(object_type__in=["desk.request", "desk.comment"]).values_list(
            "source", flat=True
        )
    )
    assert sources == {Source.CHAT}


@pytest.mark.django_db
def test_assign_to_me_assigns_the_linked_user(
    client, slack, help_desk, agent, receiver, huey_immediate, django_capture_on_commit_callbacks
):
    r = receiver((200, {}, "ok"))
    slack.SLACK_RESPONSE_URL_PREFIXES = (r.base,)
    request = RequestFactory(queue=help_desk)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(
            client, button(request, chat.ACTION_ASSIGN_TO_ME, "bob", r.url("/actions/T1/abc"))
        )
    assert response.json()["text"] == f"{request.reference} assigned to @bob."
    request.refresh_from_db()
    assert request.assignee == agent
    event = AuditEvent.objects.filter(object_type="desk.request", action="update").latest("id")
    assert (event.source, event.actor_id) == (Source.CHAT, agent.pk)
    [answer] = r.received
    assert json.loads(answer["body"])["text"] == f"{request.reference} assigned to @bob."


@pytest.mark.django_db
def test_assign_to_me_refuses_who_cannot_work_the_request(client, slack, help_desk, make_user):
    outsider = make_user("helpdesk_analyst", person=PersonFactory(handle="carol"), username="carol")
    request = RequestFactory(queue=help_desk)
    before = bodies_and_counts()
    response = post_action(client, button(request, chat.ACTION_ASSIGN_TO_ME, "carol"))
    assert response.status_code == 200
    assert response.json()["text"].startswith(f"You cannot work {request.reference}")
    request.refresh_from_db()
    assert request.assignee is None and outsider.pk
    assert bodies_and_counts() == before


@pytest.mark.django_db
def test_a_button_from_someone_unknown_or_without_a_sign_in_does_nothing(client, slack, help_desk):
    PersonFactory(handle="dave")  # a person, but no Gatehouse user
    request = RequestFactory(queue=help_desk)
    before = bodies_and_counts()
    assert (
        "No person in Gatehouse"
        in post_action(client, button(request, chat.ACTION_ACKNOWLEDGE, "zed")).json()["text"]
    )
    assert (
        "no active Gatehouse sign-in"
        in post_action(client, button(request, chat.ACTION_ACKNOWLEDGE, "dave")).json()["text"]
    )
    assert bodies_and_counts() == before


# --- admin pages ------------------------------------------------------------------------------------------


def make_deliveries(n: int):
    team = team_with_webhook("https://hooks.slack.com/services/A/B/C")
    request = make_request(team)
    for i in range(n):
        ChatDelivery.objects.create(
            team=team,
            request=request,
            event="created" if i % 2 else "escalated",
            payload={"text": "x"},
            state="failed" if i % 3 == 0 else "sent",
            attempts=1,
            last_status_code=200,
        )
    return team


@pytest.mark.django_db
def test_the_delivery_log_is_for_admins_only(client_for, member_user, auditor_user, admin_user):
    make_deliveries(1)
    url = reverse("desk:chat_deliveries")
    assert client_for(member_user).get(url).status_code == 403
    assert client_for(admin_user).get(url).status_code == 200
    delivery = ChatDelivery.objects.get()
    client = client_for(member_user)
    assert client.get(reverse("desk:chat_delivery", args=[delivery.pk])).status_code == 403
    assert client.post(reverse("desk:chat_delivery_resend", args=[delivery.pk])).status_code == 403
    assert client.get(reverse("desk:chat_webhooks")).status_code == 403


@pytest.mark.django_db
def test_the_delivery_log_filters(client_for, admin_user):
    team = make_deliveries(6)
    make_deliveries(2)
    client = client_for(admin_user)
    page = client.get(
        reverse("desk:chat_deliveries"), {"state": "failed", "team": team.slug, "event": "escalated"}
    )
    assert page.status_code == 200
    ids = [row.pk for row in page.context["table"].rows]
    expected = ChatDelivery.objects.filter(team=team, state="failed", event="escalated").order_by("-id")
    assert ids == [d.pk for d in expected] and ids


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [1, 30])
def test_the_delivery_log_query_count_does_not_grow_with_rows(
    client_for, admin_user, django_assert_num_queries, rows
):
    make_deliveries(rows)
    client = client_for(admin_user)
    client.get(reverse("desk:chat_deliveries"))  # warm the session and the user's roles
    # session, user, roles (the navigation), user and group permissions, count, the page of rows with teams
    with django_assert_num_queries(7):
        assert client.get(reverse("desk:chat_deliveries")).status_code == 200


@pytest.mark.django_db
def test_delivery_detail_and_resend_page(
    client_for, admin_user, receiver, huey_immediate, fast_retries, django_capture_on_commit_callbacks
):
    r = receiver((200, {}, "ok"))
    team = team_with_webhook(r.url())
    delivery = ChatDelivery.objects.create(
        team=team,
        event="created",
        payload={"text": "hi"},
        state="failed",
        attempts=5,
        last_status_code=500,
        last_error="HTTP 500",
    )
    client = client_for(admin_user)
    page = client.get(reverse("desk:chat_delivery", args=[delivery.pk]))
    assert page.status_code == 200
    assert b"Send again" in page.content and b"HTTP 500" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("desk:chat_delivery_resend", args=[delivery.pk]))
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("sent", 1)


@pytest.mark.django_db
def test_webhook_pages_mask_the_url(client_for, admin_user):
    team = TeamFactory()
    client = client_for(admin_user)
    url = reverse("desk:chat_webhook", args=[team.slug])
    response = client.post(
        url,
        {
            "url": "https://hooks.slack.com/services/T1/B2/supersecretvalue",
            "is_active": "on",
            "action": "save",
        },
    )
    assert response.status_code == 302
    for page in (client.get(reverse("desk:chat_webhooks")), client.get(url)):
        assert b"supersecretvalue" not in page.content
        assert "https://hooks.slack.com/…alue" in page.content.decode()
    assert client.post(url, {"action": "disable"}).status_code == 302
    assert ChatWebhook.objects.get(team=team).is_active is False
    bad = client.post(url, {"url": "not a url", "action": "save"})
    assert bad.status_code == 422 and b"Enter a valid URL" in bad.content
