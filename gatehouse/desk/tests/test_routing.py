"""Routing: rules in order, then the system's owner team, then the type's queue, then triage."""

import pytest
from django.core.exceptions import ValidationError

from gatehouse.core.permissions import SYSTEM
from gatehouse.desk import services
from gatehouse.desk.models import Queue, RoutingRule
from gatehouse.desk.routing import validate_rule
from gatehouse.desk.tests.world import CONFIG_CHANGE

pytestmark = pytest.mark.django_db


def test_first_matching_rule_wins_and_keeps_the_system_label(desk):
    security = services.create_queue(
        actor=SYSTEM, slug="security", name="Security", team=desk.github_team, tier=3
    )
    services.create_routing_rule(
        actor=SYSTEM,
        name="Prod changes",
        position=5,
        condition={"field": "fields.environment", "value": "Production"},
        actions={"queue": "security", "labels": ["prod"], "assignee": "root"},
    )
    services.create_routing_rule(
        actor=SYSTEM,
        name="Later",
        position=6,
        condition={},
        actions={"priority": "low"},
    )
    request = services.file_request(
        actor=desk.alice,
        request_type="configuration-change",
        subject="x",
        system="okta",
        fields=CONFIG_CHANGE,
    )
    assert request.queue == security and request.tier == 3
    assert request.labels == ["corpsys::okta", "prod"]
    assert request.assignee == desk.admin
    assert request.routing_rule.name == "Prod changes" and request.priority == "normal"


def test_inactive_rules_are_skipped_and_type_queue_used(desk):
    queue = services.create_queue(actor=SYSTEM, slug="hw", name="Hardware", tier=2)
    services.update_request_type(
        services.resolve_request_type("laptop-or-hardware"), actor=SYSTEM, default_queue=queue
    )
    RoutingRule.objects.update(is_active=False)
    request = services.file_request(
        actor=desk.alice,
        request_type="laptop-or-hardware",
        subject="x",
        fields={"issue_kind": "Lost or stolen"},
    )
    assert request.queue == queue and request.routing_rule is None and request.priority == "normal"


def test_requester_condition(desk):
    services.create_routing_rule(
        actor=SYSTEM,
        name="Sales",
        position=1,
        condition={"field": "requester.department", "value": "sales"},
        actions={"priority": "high"},
    )
    request = services.file_request(
        actor=desk.alice, request_type="security-question", subject="x", fields={"topic": "Policy"}
    )
    assert request.priority == "high" and request.queue == Queue.objects.get(slug="triage")


def test_validate_rule_errors():
    with pytest.raises(ValidationError) as exc:
        validate_rule(
            {"field": "colour", "value": 1},
            {"queue": "ghost", "priority": "meh", "labels": "x", "assignee": "nobody", "paint": 1},
        )
    assert {
        "condition.field",
        "actions",
        "actions.queue",
        "actions.priority",
        "actions.labels",
        "actions.assignee",
    } <= set(exc.value.message_dict)
    with pytest.raises(ValidationError):
        validate_rule({}, {})
