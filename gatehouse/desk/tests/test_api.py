"""Part A: /api/v1/desk/... requests, request types, queues and routing rules."""

import pytest

from gatehouse.core.api.testing import ApiClient
from gatehouse.desk import services
from gatehouse.desk.models import Request, RequestType, RoutingRule
from gatehouse.desk.tests.world import ACCESS, CONFIG_CHANGE

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_as(token_for):
    return lambda user: ApiClient(token_for(user))


def file(desk, actor=None, **kwargs):
    kwargs.setdefault("fields", CONFIG_CHANGE)
    kwargs.setdefault("system", "okta")
    return services.file_request(
        actor=actor or desk.alice, request_type="configuration-change", subject="x", **kwargs
    )


def test_create_routes_and_returns_the_request(desk, api_as):
    body = {"request_type": "access-request", "subject": "Need Okta", "system": "okta", "fields": ACCESS}
    response = api_as(desk.alice).post("/desk/requests", body)
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["reference"] == f"REQ-{data['id']}"
    assert data["queue"]["tier"] == 3 and data["labels"] == ["corpsys::okta"]
    assert data["requester"]["email"] == "alice@example.com"
    assert data["fields"]["access_level"] == "Standard"
    assert data["first_response_due"] and data["comments"] == []


def test_bad_form_is_422_with_field_locations_and_saves_nothing(desk, api_as):
    body = {
        "request_type": "configuration-change",
        "subject": "x",
        "system": "okta",
        "fields": {"risk": "Huge"},
    }
    response = api_as(desk.alice).post("/desk/requests", body)
    assert response.status_code == 422
    locs = {tuple(d["loc"]) for d in response.json()["detail"]}
    assert ("body", "fields", "risk") in locs and ("body", "fields", "environment") in locs
    assert Request.objects.count() == 0
    response = api_as(desk.alice).post(
        "/desk/requests", {"request_type": "nope", "subject": "x", "system": "zzz"}
    )
    assert response.status_code == 422
    msgs = {d["loc"][-1]: d["msg"] for d in response.json()["detail"]}
    assert "No request type 'nope'" in msgs["request_type"] and "No system 'zzz'" in msgs["system"]


def test_comment_escalate_reroute_assign_patch(desk, api_as):
    request = services.file_request(
        actor=desk.alice,
        request_type="account-lockout",
        subject="Locked",
        fields={"account": "a", "cause": "Other"},
    )
    analyst = api_as(desk.analyst)
    response = analyst.post(f"/desk/requests/{request.pk}/comments", {"body": "On it"})
    assert response.status_code == 201 and response.json()["internal"] is False
    response = analyst.post(f"/desk/requests/{request.pk}/comments", {"body": "hmm", "internal": True})
    assert response.status_code == 201
    # The requester does not see the note.
    detail = api_as(desk.alice).get(f"/desk/requests/{request.pk}").json()
    assert [c["body"] for c in detail["comments"]] == ["On it"]
    response = analyst.patch(f"/desk/requests/{request.pk}", {"priority": "urgent", "assignee": "ana"})
    assert response.status_code == 200, response.content
    assert response.json()["priority"] == "urgent" and response.json()["assignee"]["username"] == "ana"
    response = analyst.post(f"/desk/requests/{request.pk}/escalate", {"reason": "Okta admin needed"})
    assert response.status_code == 422  # no system: name the queue
    queue = services.queue_for_team(desk.okta_team)
    response = analyst.post(f"/desk/requests/{request.pk}/escalate", {"reason": "Okta", "queue": queue.slug})
    # The analyst is not in the owner team, but stays assignee-free? The assignee is cleared, so they lose it.
    assert response.status_code in (200, 404)
    owner = api_as(desk.owner)
    detail = owner.get(f"/desk/requests/{request.pk}").json()
    assert detail["tier"] == 3 and detail["escalations"][0]["reason"] == "Okta"
    response = owner.post(f"/desk/requests/{request.pk}/assign", {"assignee": "eve"})
    assert response.json()["assignee"]["username"] == "eve"
    response = owner.post(
        f"/desk/requests/{request.pk}/reroute", {"queue": "triage", "reason": "Back to helpdesk"}
    )
    assert response.status_code in (200, 403)
    assert Request.objects.get(pk=request.pk).queue.slug == "triage"
    response = owner.post(f"/desk/requests/{request.pk}/assign", {"assignee": "nobody-here"})
    assert response.status_code in (404, 422)


def test_list_filters(desk, api_as):
    a = file(desk)
    b = file(desk, system="github")
    services.set_status(b, actor=desk.admin, status="in_progress")
    admin = api_as(desk.admin)
    assert admin.get("/desk/requests").json()["count"] == 2
    assert [r["id"] for r in admin.get("/desk/requests", status="in_progress").json()["results"]] == [b.pk]
    assert [r["id"] for r in admin.get("/desk/requests", system="okta").json()["results"]] == [a.pk]
    assert admin.get("/desk/requests", q=f"REQ-{a.pk}").json()["count"] == 1
    assert admin.get("/desk/requests", requester="alice@example.com").json()["count"] == 2
    assert admin.get("/desk/requests", assignee="none").json()["count"] == 2
    assert admin.get("/desk/requests", sla="ok").json()["count"] == 2
    assert admin.get("/desk/requests", type="configuration-change", priority="normal").json()["count"] == 2
    response = admin.get("/desk/requests", status="bogus")
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "status"]


def test_list_query_count_is_pinned(desk, api_as, django_assert_num_queries):
    for _ in range(3):
        file(desk, watchers=[desk.bob_person])
    client = api_as(desk.owner)
    client.get("/desk/requests")  # warm caches (content types, permissions)
    # auth (token, last use), user groups/perms, count, page, watchers prefetch
    with django_assert_num_queries(8) as captured:
        response = client.get("/desk/requests")
    assert response.json()["count"] == 3
    for _ in range(5):
        file(desk, watchers=[desk.bob_person])
    with django_assert_num_queries(len(captured)):
        assert client.get("/desk/requests").json()["count"] == 8


def test_config_endpoints_admins_write_others_read(desk, api_as):
    member, admin = api_as(desk.alice), api_as(desk.admin)
    types = member.get("/desk/request-types").json()
    assert len(types) == RequestType.objects.count() and types[0]["slug"] == "access-request"
    assert member.get("/desk/request-types/access-request").json()["form_schema"][0]["name"] == "access_level"
    assert member.get("/desk/queues").status_code == 200
    assert member.get("/desk/routing-rules").status_code == 403
    body = {"slug": "x", "name": "X", "form_schema": [{"name": "a", "type": "choice"}]}
    assert member.post("/desk/request-types", body).status_code == 403
    response = admin.post("/desk/request-types", body)
    assert response.status_code == 422
    assert ["body", "form_schema", 0, "choices"] in [d["loc"] for d in response.json()["detail"]]
    body["form_schema"][0]["choices"] = ["one", "two"]
    assert admin.post("/desk/request-types", body).status_code == 201
    assert (
        admin.patch("/desk/request-types/x", {"default_priority": "high"}).json()["default_priority"]
        == "high"
    )
    response = admin.post(
        "/desk/queues", {"slug": "sec", "name": "Security", "team": "okta-owners", "tier": 3}
    )
    assert response.status_code == 201 and response.json()["team"]["slug"] == "okta-owners"
    assert admin.patch("/desk/queues/sec", {"round_robin": True}).json()["round_robin"] is True
    rule = {
        "name": "VIP",
        "position": 1,
        "condition": {"field": "requester.department", "op": "eq", "value": "Sales"},
        "actions": {"queue": "sec"},
    }
    response = admin.post("/desk/routing-rules", rule)
    assert response.status_code == 201, response.content
    rule_id = response.json()["id"]
    bad = {"name": "Bad", "condition": {"field": "nope", "op": "zz"}, "actions": {"queue": "ghost"}}
    response = admin.post("/desk/routing-rules", bad)
    assert response.status_code == 422
    locs = {tuple(d["loc"]) for d in response.json()["detail"]}
    assert ("body", "actions", "queue") in locs and ("body", "condition", "field") in locs
    # The rule applies to alice (Sales) and the request records it.
    request = file(desk)
    assert request.queue.slug == "sec" and request.routing_rule_id == rule_id
    assert admin.delete(f"/desk/routing-rules/{rule_id}").status_code == 204
    assert not RoutingRule.objects.filter(pk=rule_id).exists()


# --- attachments and bulk changes over the API -----------------------------------------------------------------

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _upload(client, request_id, name, content, content_type="application/octet-stream"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.client.post(
        f"/api/v1/desk/requests/{request_id}/attachments",
        {"file": SimpleUploadedFile(name, content, content_type=content_type)},
        headers=client.headers,
    )


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def test_upload_and_download_an_attachment(desk, api_as, media):
    from gatehouse.audit.models import AuditEvent
    from gatehouse.desk.models import Attachment

    request = file(desk)
    alice = api_as(desk.alice)
    response = _upload(alice, request.pk, "screen.png", PNG_BYTES, "image/png")
    assert response.status_code == 201, response.content
    data = response.json()
    assert (
        data["name"] == "screen.png"
        and data["size"] == len(PNG_BYTES)
        and data["content_type"] == "image/png"
    )
    attachment = Attachment.objects.get(pk=data["id"])
    assert AuditEvent.objects.filter(
        object_type__icontains="attachment", object_id=str(attachment.pk)
    ).exists()
    assert (
        api_as(desk.alice).get(f"/desk/requests/{request.pk}").json()["attachments"][0]["id"] == attachment.pk
    )

    for who in (desk.alice, desk.owner, desk.auditor):
        download = api_as(who).get(data["download_url"])
        assert download.status_code == 200, who
        assert (
            download["Content-Disposition"].startswith("attachment;")
            and "screen.png" in download["Content-Disposition"]
        )
        assert download["Content-Type"] == "application/octet-stream"
        assert download["X-Content-Type-Options"] == "nosniff"
        assert b"".join(download.streaming_content) == PNG_BYTES
    # Someone who cannot see the request gets a 404, for the file as for the request.
    assert api_as(desk.bob).get(data["download_url"]).status_code == 404
    assert api_as(desk.alice).get(f"/desk/requests/{request.pk}/attachments/999999").status_code == 404
    assert _upload(api_as(desk.bob), request.pk, "x.txt", b"hello").status_code == 404


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("tool.exe", b"MZ\x90\x00", "files of type .exe are not allowed"),
        ("fake.png", b"just text", "its content is not a PNG image"),
        ("empty.txt", b"", "empty"),
    ],
)
def test_a_refused_file_is_a_422_naming_it_and_why(desk, api_as, media, name, content, reason):
    from gatehouse.desk.models import Attachment

    request = file(desk)
    response = _upload(api_as(desk.alice), request.pk, name, content)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["body", "file"] and name in detail[0]["msg"] and reason in detail[0]["msg"], (
        detail
    )
    assert not Attachment.objects.exists()


def test_a_file_over_the_size_limit_is_refused(desk, api_as, media, settings):
    settings.GATEHOUSE_DESK_ATTACHMENT_MAX_BYTES = 10
    request = file(desk)
    response = _upload(api_as(desk.alice), request.pk, "big.txt", b"x" * 11)
    assert response.status_code == 422 and "big.txt is 11 bytes" in response.json()["detail"][0]["msg"]


def test_upload_without_a_file_is_a_422(desk, api_as):
    request = file(desk)
    client = api_as(desk.alice)
    response = client.client.post(
        f"/api/v1/desk/requests/{request.pk}/attachments", {}, headers=client.headers
    )
    assert response.status_code == 422


def test_the_auditor_cannot_upload(desk, api_as, media):
    request = file(desk)
    assert _upload(api_as(desk.auditor), request.pk, "a.txt", b"hello").status_code == 403


def test_files_on_internal_notes_are_for_agents_only(desk, api_as, media):
    from django.core.files.uploadedfile import SimpleUploadedFile

    request = file(desk)
    services.reply(
        request,
        actor=desk.owner,
        body="internal",
        internal=True,
        attachments=[SimpleUploadedFile("notes.txt", b"secret")],
    )
    attachment = request.attachments.get()
    path = f"/desk/requests/{request.pk}/attachments/{attachment.pk}"
    assert api_as(desk.owner).get(path).status_code == 200
    assert api_as(desk.alice).get(path).status_code == 404


def test_bulk_changes_all_or_nothing(desk, api_as):
    from gatehouse.audit.models import AuditEvent

    first, second = file(desk), file(desk)
    other = file(desk, system="github")
    owner = api_as(desk.owner)
    # The Okta owner cannot see the GitHub request: it is named like an id that does not exist.
    response = owner.post("/desk/requests/bulk", {"ids": [first.pk, other.pk], "priority": "high"})
    assert response.status_code == 422
    assert (
        response.json()["detail"][0]["loc"] == ["body", "ids"]
        and f"REQ-{other.pk}" in response.json()["detail"][0]["msg"]
    )
    response = owner.post("/desk/requests/bulk", {"ids": [first.pk, 10**12], "priority": "high"})
    assert response.status_code == 422 and f"REQ-{10**12}" in response.json()["detail"][0]["msg"]
    assert Request.objects.get(pk=first.pk).priority == "normal"

    events = AuditEvent.objects.count()
    response = owner.post(
        "/desk/requests/bulk",
        {"ids": [first.pk, second.pk], "priority": "high", "status": "in_progress", "assignee": "eve"},
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"changed": 2, "ids": [first.pk, second.pk]}
    rows = Request.objects.filter(pk__in=[first.pk, second.pk])
    assert {(r.priority, r.status, r.assignee.username) for r in rows} == {("high", "in_progress", "eve")}
    assert AuditEvent.objects.count() > events
    # null unassigns.
    response = owner.post("/desk/requests/bulk", {"ids": [first.pk], "assignee": None})
    assert response.status_code == 200 and Request.objects.get(pk=first.pk).assignee is None


def test_bulk_refuses_the_lot_when_one_cannot_be_worked(desk, api_as):
    mine = file(desk)
    theirs = file(desk, system="github")
    # Alice sees both (she filed them) but works neither: 403, nothing changes.
    response = api_as(desk.alice).post(
        "/desk/requests/bulk", {"ids": [mine.pk, theirs.pk], "priority": "urgent"}
    )
    assert response.status_code == 403
    # The auditor sees every request and works none.
    response = api_as(desk.auditor).post("/desk/requests/bulk", {"ids": [mine.pk], "priority": "urgent"})
    assert response.status_code == 403
    assert set(Request.objects.values_list("priority", flat=True)) == {"normal"}


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"ids": []}, ["body", "ids"]),
        ({"ids": [1]}, ["body"]),
        ({"ids": [0], "priority": "high"}, ["body", "ids", 0]),
        ({"ids": [1], "status": "bogus"}, ["body", "status"]),
        ({"ids": [1], "priority": None}, ["body", "priority"]),
        ({"ids": [1], "queue": "ghost"}, ["body", "queue"]),
        ({"ids": [1], "assignee": "ghost"}, ["body", "assignee"]),
    ],
)
def test_bad_bulk_input_is_a_422(desk, api_as, body, loc):
    request = file(desk)
    body = {**body, "ids": [request.pk if i == 1 else i for i in body["ids"]]}
    response = api_as(desk.admin).post("/desk/requests/bulk", body)
    assert response.status_code == 422, response.content
    assert loc in [d["loc"] for d in response.json()["detail"]], response.json()
    assert Request.objects.get(pk=request.pk).priority == "normal"


def test_bulk_moves_requests_to_a_queue(desk, api_as):
    first = file(desk)
    response = api_as(desk.admin).post("/desk/requests/bulk", {"ids": [first.pk], "queue": "triage"})
    assert response.status_code == 200 and response.json()["changed"] == 1
    first.refresh_from_db()
    assert first.queue.slug == "triage" and first.escalations.get().reason == "Bulk re-route."
