"""Settings pages for request types, queues and routing rules: everyone who may view them reads, admins write
through the services (audited), the auditor reads and never writes, bad JSON and bad schemas are shown inline
naming the place and save nothing, list query counts are pinned, and rules move up and down."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from gatehouse.audit.models import AuditEvent
from gatehouse.desk import services
from gatehouse.desk.models import Queue, RequestType, RoutingRule
from gatehouse.desk.tests.factories import QueueFactory, RequestTypeFactory
from gatehouse.directory.tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

# session, user, roles, user and group permissions (navigation and checks), then one query for the rows.
TYPE_LIST_QUERIES = 6
QUEUE_LIST_QUERIES = 6
RULE_LIST_QUERIES = 6


@pytest.fixture(autouse=True)
def _no_default_rules(db):
    """The defaults migration ships a few routing rules; these tests start from none."""
    RoutingRule.objects.all().delete()


@pytest.fixture
def analyst(make_user):
    return make_user("helpdesk_analyst", username="analyst-user")


def _audited(model_label: str, action: str, object_id) -> bool:
    return AuditEvent.objects.filter(
        object_type__icontains=model_label, action=action, object_id=str(object_id)
    ).exists()


def _rule(name: str, position: int, **kwargs) -> RoutingRule:
    kwargs.setdefault("actions", {"priority": "high"})
    return RoutingRule.objects.create(name=name, position=position, **kwargs)


def _type_form(**changes):
    form = {
        "name": "Badge request",
        "slug": "badge-request",
        "description": "A new or replacement office badge.",
        "system_field": "hidden",
        "default_priority": "low",
        "sla_policy": "",
        "default_queue": "",
        "position": 50,
        "is_active": "on",
        "form_schema": json.dumps(
            [
                {
                    "name": "office",
                    "label": "Office",
                    "type": "choice",
                    "required": True,
                    "choices": ["NYC", "BER"],
                }
            ]
        ),
    }
    form.update(changes)
    return form


# -- navigation and the settings index -------------------------------------------------------------------------


def test_settings_are_in_the_navigation_for_admins_only(client_for, admin_user, member_user, auditor_user):
    for user, shown in ((admin_user, True), (member_user, False), (auditor_user, False)):
        labels = [i["label"] for i in client_for(user).get(reverse("core:home")).context["nav_items"]]
        assert ("Desk settings" in labels) is shown, (user, labels)


def test_settings_index_links_what_the_user_may_read(client_for, member_user, admin_user):
    body = client_for(member_user).get(reverse("desk:settings")).content.decode()
    assert reverse("desk:request_types") in body and reverse("desk:queue_list") in body
    assert reverse("desk:routing_rules") not in body
    body = client_for(admin_user).get(reverse("desk:settings")).content.decode()
    assert reverse("desk:routing_rules") in body and reverse("desk:chat_webhooks") in body


def test_queues_page_links_the_settings(client_for, admin_user):
    body = client_for(admin_user).get(reverse("desk:queues")).content.decode()
    assert reverse("desk:settings") in body


# -- request types ---------------------------------------------------------------------------------------------


def test_everyone_reads_request_types(client_for, member_user):
    client = client_for(member_user)
    body = client.get(reverse("desk:request_types")).content.decode()
    assert "Access request" in body or "access-request" in body
    assert "Add request type" not in body
    page = client.get(reverse("desk:request_type", args=["access-request"]))
    assert page.status_code == 200 and b"access_level" in page.content and b"Deactivate" not in page.content
    assert client.get(reverse("desk:request_type", args=["nope"])).status_code == 404


def test_inactive_types_are_hidden_from_members_but_not_from_the_auditor(
    client_for, member_user, auditor_user
):
    RequestTypeFactory(slug="retired", name="Retired type", is_active=False)
    assert b"Retired type" not in client_for(member_user).get(reverse("desk:request_types")).content
    assert client_for(member_user).get(reverse("desk:request_type", args=["retired"])).status_code == 404
    assert b"Retired type" in client_for(auditor_user).get(reverse("desk:request_types")).content


@pytest.mark.parametrize("who", ["member_user", "auditor_user", "analyst"])
def test_non_admins_cannot_write_request_types(request, client_for, who):
    client = client_for(request.getfixturevalue(who))
    assert client.get(reverse("desk:request_type_add")).status_code == 403
    assert client.post(reverse("desk:request_type_add"), _type_form()).status_code == 403
    assert client.get(reverse("desk:request_type_edit", args=["access-request"])).status_code == 403
    edit = client.post(
        reverse("desk:request_type_edit", args=["access-request"]), _type_form(slug="access-request")
    )
    assert edit.status_code == 403
    active = client.post(reverse("desk:request_type_active", args=["access-request"]), {"is_active": "0"})
    assert active.status_code == 403
    assert not RequestType.objects.filter(slug="badge-request").exists()
    assert RequestType.objects.get(slug="access-request").is_active


def test_admin_adds_edits_and_deactivates_a_request_type(client_for, admin_user):
    client = client_for(admin_user)
    assert client.get(reverse("desk:request_type_add")).status_code == 200
    response = client.post(reverse("desk:request_type_add"), _type_form())
    assert response.status_code == 302, response.context["form"].errors
    assert response["Location"] == reverse("desk:request_type", args=["badge-request"])
    badge = RequestType.objects.get(slug="badge-request")
    assert badge.form_schema[0]["choices"] == ["NYC", "BER"] and badge.default_priority == "low"
    assert _audited("requesttype", "create", badge.pk)

    page = client.get(reverse("desk:request_type_edit", args=["badge-request"]))
    assert b"&quot;office&quot;" in page.content  # the schema, pretty JSON in the textarea
    queue = Queue.objects.get(slug="triage")
    response = client.post(
        reverse("desk:request_type_edit", args=["badge-request"]),
        _type_form(default_priority="high", default_queue=queue.pk),
    )
    assert response.status_code == 302
    badge.refresh_from_db()
    assert badge.default_priority == "high" and badge.default_queue == queue
    event = AuditEvent.objects.filter(object_type__icontains="requesttype", action="update").latest("id")
    assert event.changes["default_priority"] == ["low", "high"]

    response = client.post(reverse("desk:request_type_active", args=["badge-request"]), {"is_active": "0"})
    assert response.status_code == 302
    badge.refresh_from_db()
    assert badge.is_active is False
    assert b"Offer again" in client.get(reverse("desk:request_type", args=["badge-request"])).content
    client.post(reverse("desk:request_type_active", args=["badge-request"]), {"is_active": "1"})
    badge.refresh_from_db()
    assert badge.is_active is True


@pytest.mark.parametrize(
    ("schema_text", "expected"),
    [
        ('[{"name": "office", "type": "choice"', "Line 1, column 37: Expecting ',' delimiter"),
        ('[\n  {"name": "a"},\n  {"name": "b",}\n]', "Line 3, column 16"),
        ('[{"name": "x", "type": "choice", "choices": NaN}]', "NaN"),
        ('{"name": "x"}', "Must be a list of fields"),
        ('[{"name": "x", "type": "choice"}]', "At form_schema[0].choices"),
        ('[{"name": "ok"}, {"name": "Bad Name"}]', "At form_schema[1].name"),
        ('[{"name": "x", "type": "telepathy"}]', "At form_schema[0].type"),
        ('[{"name": "x", "colour": "red"}]', "At form_schema[0]: Unknown key: colour"),
    ],
)
def test_bad_form_schema_is_shown_inline_and_nothing_is_saved(client_for, admin_user, schema_text, expected):
    client = client_for(admin_user)
    response = client.post(reverse("desk:request_type_add"), _type_form(form_schema=schema_text))
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert "form_schema" in errors and expected in " ".join(errors["form_schema"]), errors
    assert expected.encode() in response.content or b"Line" in response.content
    assert not RequestType.objects.filter(slug="badge-request").exists()
    # Editing an existing type with a bad schema leaves it as it was.
    before = RequestType.objects.get(slug="access-request").form_schema
    response = client.post(
        reverse("desk:request_type_edit", args=["access-request"]),
        _type_form(slug="access-request", name="Access request", form_schema=schema_text),
    )
    assert response.status_code == 422
    assert RequestType.objects.get(slug="access-request").form_schema == before


def test_duplicate_slug_is_shown_on_the_field(client_for, admin_user):
    response = client_for(admin_user).post(
        reverse("desk:request_type_add"), _type_form(slug="access-request")
    )
    assert response.status_code == 422 and "slug" in response.context["form"].errors


@pytest.mark.parametrize("rows", [3, 20])
def test_request_type_list_query_count_is_pinned(rows, client_for, auditor_user, django_assert_num_queries):
    policy_queue = QueueFactory()
    seeded = RequestType.objects.count()  # the desk's seven, and types other modules seed
    for _ in range(rows):
        RequestTypeFactory(default_queue=policy_queue)
    client = client_for(auditor_user)
    client.get(reverse("desk:request_types"))
    with django_assert_num_queries(TYPE_LIST_QUERIES):
        response = client.get(reverse("desk:request_types"))
    assert response.status_code == 200 and len(response.context["types"]) == rows + seeded


# -- queues ----------------------------------------------------------------------------------------------------


def test_everyone_reads_queues(client_for, member_user):
    client = client_for(member_user)
    body = client.get(reverse("desk:queue_list")).content.decode()
    assert "triage" in body and "Add queue" not in body
    page = client.get(reverse("desk:queue_detail", args=["triage"]))
    assert page.status_code == 200 and b"Edit" not in page.content
    assert client.get(reverse("desk:queue_detail", args=["nope"])).status_code == 404


@pytest.mark.parametrize("who", ["member_user", "auditor_user", "analyst"])
def test_non_admins_cannot_write_queues(request, client_for, who):
    client = client_for(request.getfixturevalue(who))
    form = {"name": "Security", "slug": "security", "tier": 3}
    assert client.get(reverse("desk:queue_add")).status_code == 403
    assert client.post(reverse("desk:queue_add"), form).status_code == 403
    assert (
        client.post(reverse("desk:queue_edit", args=["triage"]), {**form, "slug": "triage"}).status_code
        == 403
    )
    assert not Queue.objects.filter(slug="security").exists()


def test_admin_adds_and_edits_a_queue(client_for, admin_user):
    team = TeamFactory(slug="secops", name="SecOps")
    client = client_for(admin_user)
    form = {"name": "Security", "slug": "security", "team": team.pk, "tier": 3}
    response = client.post(reverse("desk:queue_add"), form)
    assert response.status_code == 302
    assert response["Location"] == reverse("desk:queue_detail", args=["security"])
    queue = Queue.objects.get(slug="security")
    assert queue.team == team and queue.tier == 3 and not queue.round_robin
    assert _audited("queue", "create", queue.pk)
    response = client.post(reverse("desk:queue_edit", args=["security"]), {**form, "round_robin": "on"})
    assert response.status_code == 302
    queue.refresh_from_db()
    assert queue.round_robin
    event = AuditEvent.objects.filter(object_type__icontains="queue", action="update").latest("id")
    assert event.changes == {"round_robin": [False, True]}
    # Bad input: inline, nothing saved.
    response = client.post(reverse("desk:queue_add"), {**form, "slug": "other", "tier": 9})
    assert response.status_code == 422 and "tier" in response.context["form"].errors
    response = client.post(reverse("desk:queue_add"), {**form, "name": "Another"})
    assert response.status_code == 422 and "slug" in response.context["form"].errors
    assert Queue.objects.filter(slug="security").count() == 1


@pytest.mark.parametrize("rows", [3, 20])
def test_queue_list_query_count_is_pinned(rows, client_for, member_user, django_assert_num_queries):
    for _ in range(rows):
        QueueFactory(team=TeamFactory())
    client = client_for(member_user)
    client.get(reverse("desk:queue_list"))
    with django_assert_num_queries(QUEUE_LIST_QUERIES):
        response = client.get(reverse("desk:queue_list"))
    assert response.status_code == 200 and len(response.context["queues"]) == rows + 1


# -- routing rules ---------------------------------------------------------------------------------------------


def test_routing_rules_are_read_by_agents_and_the_auditor_not_members(
    client_for, member_user, auditor_user, analyst
):
    rule = _rule("VIP", 10, condition={"field": "requester.department", "op": "eq", "value": "Sales"})
    member = client_for(member_user)
    assert member.get(reverse("desk:routing_rules")).status_code == 403
    assert member.get(reverse("desk:routing_rule", args=[rule.pk])).status_code == 403
    for user in (auditor_user, analyst):
        client = client_for(user)
        body = client.get(reverse("desk:routing_rules")).content.decode()
        assert "VIP" in body and "requester.department eq &#x27;Sales&#x27;" in body
        assert "Add rule" not in body and "direction" not in body
        page = client.get(reverse("desk:routing_rule", args=[rule.pk]))
        assert page.status_code == 200 and b"Delete" not in page.content


@pytest.mark.parametrize("who", ["member_user", "auditor_user", "analyst"])
def test_non_admins_cannot_write_routing_rules(request, client_for, who):
    rule = _rule("VIP", 10)
    other = _rule("Other", 20)
    client = client_for(request.getfixturevalue(who))
    form = {"name": "New", "position": 5, "condition": "{}", "actions": '{"priority": "low"}'}
    assert client.post(reverse("desk:routing_rule_add"), form).status_code == 403
    assert client.post(reverse("desk:routing_rule_edit", args=[rule.pk]), form).status_code in (403, 404)
    assert client.post(reverse("desk:routing_rule_delete", args=[rule.pk])).status_code in (403, 404)
    assert client.post(
        reverse("desk:routing_rule_move", args=[other.pk]), {"direction": "up"}
    ).status_code in (
        403,
        404,
    )
    assert list(RoutingRule.objects.values_list("name", "position")) == [("VIP", 10), ("Other", 20)]


def test_admin_adds_edits_and_deletes_a_rule_that_routes(client_for, admin_user, desk):
    client = client_for(admin_user)
    QueueFactory(slug="sales-desk", name="Sales desk", team=desk.helpdesk)
    form = {
        "name": "Sales first",
        "position": 5,
        "is_active": "on",
        "condition": '{"all": [{"field": "requester.department", "op": "eq", "value": "Sales"}]}',
        "actions": '{"queue": "sales-desk", "labels": ["sales"]}',
    }
    response = client.post(reverse("desk:routing_rule_add"), form)
    assert response.status_code == 302, response.context and response.context["form"].errors
    rule = RoutingRule.objects.get(name="Sales first")
    assert response["Location"] == reverse("desk:routing_rule", args=[rule.pk])
    assert rule.actions == {"queue": "sales-desk", "labels": ["sales"]}
    assert _audited("routingrule", "create", rule.pk)
    # It routes: alice is in Sales.
    request = services.file_request(
        actor=desk.alice,
        request_type="account-lockout",
        subject="Locked out",
        fields={"account": "alice", "cause": "Other"},
    )
    assert request.queue.slug == "sales-desk" and request.routing_rule_id == rule.pk
    page = client.get(reverse("desk:routing_rule_edit", args=[rule.pk]))
    assert b"requester.department" in page.content
    response = client.post(reverse("desk:routing_rule_edit", args=[rule.pk]), {**form, "is_active": ""})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.is_active is False
    assert client.get(reverse("desk:routing_rule_delete", args=[rule.pk])).status_code == 200
    response = client.post(reverse("desk:routing_rule_delete", args=[rule.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("desk:routing_rules")
    assert not RoutingRule.objects.filter(pk=rule.pk).exists()
    assert _audited("routingrule", "delete", rule.pk)


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        (
            {"condition": '{"field": "type", "op": "eq", "value": }'},
            "condition",
            "Line 1, column 40: Expecting value",
        ),
        ({"actions": '{\n  "queue": "triage"\n  "priority": "high"\n}'}, "actions", "Line 3, column 3"),
        ({"condition": '{"field": "nope", "op": "eq", "value": 1}'}, "condition", "At condition.field"),
        (
            {
                "condition": '{"all": [{"field": "type", "op": "eq", "value": "x"}, {"field": "type", "op": "zz"}]}'
            },
            "condition",
            "At condition.all[1].op",
        ),
        ({"actions": '{"queue": "ghost"}'}, "actions", "At actions.queue: No queue with slug 'ghost'"),
        ({"actions": '{"priority": "asap"}'}, "actions", "At actions.priority"),
        ({"actions": '{"teleport": 1}'}, "actions", "Unknown action: teleport"),
        ({"actions": ""}, "actions", "Give at least one action"),
        ({"condition": "[]"}, "condition", "Must be an object"),
    ],
)
def test_bad_rule_json_is_shown_inline_and_nothing_is_saved(client_for, admin_user, change, field, expected):
    client = client_for(admin_user)
    form = {"name": "Broken", "position": 5, "condition": "{}", "actions": '{"priority": "high"}', **change}
    response = client.post(reverse("desk:routing_rule_add"), form)
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert field in errors and expected in " ".join(errors[field]), errors
    assert not RoutingRule.objects.filter(name="Broken").exists()
    existing = _rule("Existing", 1)
    response = client.post(
        reverse("desk:routing_rule_edit", args=[existing.pk]), {**form, "name": "Existing"}
    )
    assert response.status_code == 422
    existing.refresh_from_db()
    assert existing.actions == {"priority": "high"} and existing.condition == {}


def test_rules_move_up_and_down_audited(client_for, admin_user):
    first, second, third = _rule("First", 10), _rule("Second", 20), _rule("Third", 30)
    client = client_for(admin_user)
    body = client.get(reverse("desk:routing_rules")).content.decode()
    assert body.index("First") < body.index("Second") < body.index("Third")
    response = client.post(reverse("desk:routing_rule_move", args=[third.pk]), {"direction": "up"})
    assert response.status_code == 302
    assert list(RoutingRule.objects.values_list("name", flat=True)) == ["First", "Third", "Second"]
    assert _audited("routingrule", "update", third.pk) and _audited("routingrule", "update", second.pk)
    client.post(reverse("desk:routing_rule_move", args=[first.pk]), {"direction": "down"})
    assert list(RoutingRule.objects.values_list("name", flat=True)) == ["Third", "First", "Second"]
    # The first cannot go up, the last cannot go down: nothing changes, nothing is audited.
    events = AuditEvent.objects.count()
    client.post(reverse("desk:routing_rule_move", args=[third.pk]), {"direction": "up"})
    client.post(reverse("desk:routing_rule_move", args=[second.pk]), {"direction": "down"})
    assert AuditEvent.objects.count() == events
    assert list(RoutingRule.objects.values_list("name", flat=True)) == ["Third", "First", "Second"]
    response = client.post(reverse("desk:routing_rule_move", args=[first.pk]), {"direction": "sideways"})
    assert response.status_code == 302
    assert client.get(reverse("desk:routing_rule_move", args=[first.pk])).status_code == 405


def test_moving_rules_with_tied_positions_renumbers_them(admin_user):
    a, b, c = _rule("A", 100), _rule("B", 100), _rule("C", 100)
    services.move_routing_rule(c, actor=admin_user, direction="up")
    assert list(RoutingRule.objects.values_list("name", "position")) == [("A", 10), ("C", 20), ("B", 30)]
    # Swapping positions with a tie behind would jump two places: renumbered instead.
    RoutingRule.objects.filter(pk=a.pk).update(position=5)
    RoutingRule.objects.filter(pk__in=[b.pk, c.pk]).update(position=50)
    services.move_routing_rule(a, actor=admin_user, direction="down")
    assert [r.name for r in RoutingRule.objects.all()] == ["B", "A", "C"]


def test_the_auditor_cannot_move_rules_through_the_service(auditor_user):
    from django.core.exceptions import PermissionDenied

    rule = _rule("A", 1)
    _rule("B", 2)
    with pytest.raises(PermissionDenied):
        services.move_routing_rule(rule, actor=auditor_user, direction="down")


@pytest.mark.parametrize("rows", [3, 20])
def test_rule_list_query_count_is_pinned(rows, client_for, admin_user, django_assert_num_queries):
    for n in range(rows):
        _rule(f"Rule {n}", n, condition={"any": [{"field": "type", "op": "eq", "value": "x"}]})
    client = client_for(admin_user)
    client.get(reverse("desk:routing_rules"))
    with django_assert_num_queries(RULE_LIST_QUERIES):
        response = client.get(reverse("desk:routing_rules"))
    assert response.status_code == 200 and len(response.context["rules"]) == rows
