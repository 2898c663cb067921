"""Where a new request goes.

In order:
1. the first active routing rule (by position) whose condition matches applies its actions (queue, priority,
   labels, assignee); the request records the rule;
2. without a queue from a rule, a request about a system goes to the system owner team's queue (tier 3);
3. else the request type's default queue;
4. else helpdesk triage (tier 2).

A request about a system always gets the system's label, whatever else applies. ``routing_note`` says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from gatehouse.core.conditions import describe, evaluate, validate_condition
from gatehouse.desk.models import Priority, Queue, RoutingRule

# What a routing condition may name (see request_context).
CONTEXT_FIELDS = ("type", "system", "system_label", "priority", "channel", "subject", "fields", "requester")
ACTION_KEYS = ("queue", "priority", "labels", "assignee")


def validate_rule(condition: Any, actions: Any) -> None:
    """A rule's condition and actions are well formed and name things that exist (errors keyed by place)."""
    errors: dict[str, Any] = {}
    try:
        validate_condition(condition, fields=CONTEXT_FIELDS)
    except ValidationError as exc:
        errors.update(exc.error_dict)
    if not isinstance(actions, Mapping):
        errors["actions"] = ValidationError("Must be an object of actions.")
    else:
        unknown = set(actions) - set(ACTION_KEYS)
        if unknown:
            errors["actions"] = ValidationError(
                f"Unknown action: {', '.join(sorted(map(str, unknown)))}; one of: {', '.join(ACTION_KEYS)}."
            )
        if not any(actions.get(k) not in (None, "", []) for k in ACTION_KEYS):
            errors.setdefault("actions", ValidationError("Give at least one action."))
        queue = actions.get("queue")
        if queue is not None and (
            not isinstance(queue, str) or not Queue.objects.filter(slug=queue).exists()
        ):
            errors["actions.queue"] = ValidationError(f"No queue with slug {queue!r}.")
        priority = actions.get("priority")
        if priority is not None and priority not in Priority.values:
            errors["actions.priority"] = ValidationError(f"Choose one of: {', '.join(Priority.values)}.")
        labels = actions.get("labels")
        if labels is not None and (
            not isinstance(labels, list)
            or len(labels) > 20
            or not all(isinstance(x, str) and x.strip() and len(x) <= 100 and "\x00" not in x for x in labels)
        ):
            errors["actions.labels"] = ValidationError(
                "Give a list of up to 20 labels of at most 100 characters."
            )
        assignee = actions.get("assignee")
        if assignee is not None:
            from gatehouse.users.models import User

            if (
                not isinstance(assignee, str)
                or not User.objects.filter(username=assignee, is_active=True).exists()
            ):
                errors["actions.assignee"] = ValidationError(f"No active user named {assignee!r}.")
    if errors:
        raise ValidationError(errors)


def request_context(
    *,
    request_type,
    system=None,
    requester=None,
    fields: Mapping[str, Any] | None = None,
    priority: str = "",
    channel: str = "",
    subject: str = "",
) -> dict[str, Any]:
    """The values a condition can compare (also used by the SLA and notification rules)."""
    person: dict[str, Any] = {}
    if requester is not None:
        person = {
            "email": requester.email,
            "name": requester.name,
            "handle": requester.handle,
            "department": requester.department,
            "division": requester.division,
            "title": requester.title,
            "location": requester.location,
            "employment_type": requester.employment_type,
            "teams": list(requester.teams.values_list("slug", flat=True)) if requester.pk else [],
        }
    return {
        "type": request_type.slug if request_type is not None else None,
        "system": system.slug if system is not None else None,
        "system_label": system.label if system is not None else None,
        "priority": priority,
        "channel": channel,
        "subject": subject,
        "fields": dict(fields or {}),
        "requester": person,
    }


@dataclass
class Decision:
    queue: Queue
    priority: str | None = None
    labels: list[str] = field(default_factory=list)
    assignee: Any = None
    rule: RoutingRule | None = None
    note: str = ""


def active_rules() -> list[RoutingRule]:
    return list(RoutingRule.objects.filter(is_active=True).order_by("position", "id"))


def triage_queue() -> Queue:
    queue = Queue.objects.filter(is_triage=True).order_by("id").first()
    if queue is None:
        raise ValidationError(
            {
                "queue": "There is no triage queue; an admin must mark one queue as triage (see the desk defaults)."
            }
        )
    return queue


def route(
    *, request_type, system=None, context: Mapping[str, Any], rules: list[RoutingRule] | None = None
) -> Decision:
    """Decide the queue, priority, labels and assignee of a new request (nothing is written)."""
    from gatehouse.desk.services import queue_for_team

    labels: list[str] = []
    if system is not None and system.label:
        labels.append(system.label)
    notes: list[str] = []
    rule_fired = None
    queue = None
    priority = None
    assignee = None
    for rule in rules if rules is not None else active_rules():
        if evaluate(rule.condition, context):
            rule_fired = rule
            actions = rule.actions or {}
            if actions.get("queue"):
                queue = Queue.objects.filter(slug=actions["queue"]).first()
            priority = actions.get("priority") or None
            for label in actions.get("labels") or []:
                if label not in labels:
                    labels.append(label)
            if actions.get("assignee"):
                from gatehouse.users.models import User

                assignee = User.objects.filter(username=actions["assignee"], is_active=True).first()
            notes.append(f'Rule "{rule.name}" matched ({describe(rule.condition)})')
            break
    if queue is not None:
        notes.append(f"queue {queue.slug} from the rule")
    elif system is not None and system.owner_team_id is not None:
        queue = queue_for_team(system.owner_team)
        notes.append(f"about {system.name}: its owner team {system.owner_team.name}")
    elif request_type is not None and request_type.default_queue_id is not None:
        queue = request_type.default_queue
        notes.append(f"the {request_type.name} type's queue")
    else:
        queue = triage_queue()
        if system is not None:
            notes.append(f"{system.name} has no owner team: helpdesk triage")
        else:
            notes.append("no system: helpdesk triage")
    note = "; ".join(notes)
    return Decision(
        queue=queue, priority=priority, labels=labels, assignee=assignee, rule=rule_fired, note=note[:300]
    )
