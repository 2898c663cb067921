"""The one small condition language shared by routing, SLA selection, escalation and notifications.

A condition is JSON data:

- ``{}`` matches everything;
- ``{"all": [c, ...]}`` matches when every condition does (an empty list matches);
- ``{"any": [c, ...]}`` matches when at least one does (an empty list matches nothing);
- ``{"not": c}`` inverts one;
- a leaf ``{"field": "type", "op": "eq", "value": "access-request"}`` compares one value of the context.

The context is a plain dict built by the caller (e.g. desk.routing.request_context); a leaf's field is a dotted
path into it (``fields.environment``, ``requester.department``). A missing value is None. Text comparisons
ignore case. Conditions are validated when saved (``validate_condition``) so evaluating never raises.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError

MAX_DEPTH = 10
MAX_NODES = 200

# op -> whether it takes a value, and the value's shape: "any", "list", "number", "text".
OPERATORS: dict[str, str] = {
    "eq": "any",
    "ne": "any",
    "in": "list",
    "not_in": "list",
    "contains": "text",  # text contains, or a list holds the value
    "startswith": "text",
    "endswith": "text",
    "matches": "regex",
    "gt": "number",
    "gte": "number",
    "lt": "number",
    "lte": "number",
    "exists": "none",  # the value is present and not empty
    "missing": "none",
}


def _err(path: str, message: str) -> ValidationError:
    return ValidationError({path or "condition": message})


def validate_condition(
    condition: Any,
    *,
    fields: Iterable[str] | None = None,
    path: str = "condition",
) -> None:
    """Raise ValidationError (keyed by the place, e.g. ``condition.all.0.op``) unless the condition is well formed.

    ``fields`` lists the allowed top-level field names (a dotted field is checked by its first part).
    """
    allowed = set(fields) if fields is not None else None
    count = [0]

    def check(node: Any, where: str, depth: int) -> None:
        count[0] += 1
        if count[0] > MAX_NODES:
            raise _err(path, f"A condition may have at most {MAX_NODES} parts.")
        if depth > MAX_DEPTH:
            raise _err(where, f"Nested more than {MAX_DEPTH} levels deep.")
        if not isinstance(node, Mapping):
            raise _err(where, "Must be an object.")
        if not node:
            return
        keys = set(node)
        for combinator in ("all", "any"):
            if combinator in keys:
                if keys != {combinator}:
                    raise _err(where, f'"{combinator}" must be the only key of its object.')
                items = node[combinator]
                if not isinstance(items, list):
                    raise _err(f"{where}.{combinator}", "Must be a list of conditions.")
                for index, item in enumerate(items):
                    check(item, f"{where}.{combinator}.{index}", depth + 1)
                return
        if "not" in keys:
            if keys != {"not"}:
                raise _err(where, '"not" must be the only key of its object.')
            check(node["not"], f"{where}.not", depth + 1)
            return
        unknown = keys - {"field", "op", "value"}
        if unknown:
            raise _err(where, f"Unknown key: {', '.join(sorted(map(str, unknown)))}.")
        field = node.get("field")
        if not isinstance(field, str) or not field.strip():
            raise _err(f"{where}.field", "Name the field to compare.")
        if allowed is not None and field.split(".", 1)[0] not in allowed:
            raise _err(f"{where}.field", f"Unknown field {field!r}; one of: {', '.join(sorted(allowed))}.")
        op = node.get("op", "eq")
        if op not in OPERATORS:
            raise _err(f"{where}.op", f"Unknown operator {op!r}; one of: {', '.join(OPERATORS)}.")
        shape = OPERATORS[op]
        value = node.get("value")
        if shape == "none":
            return
        if "value" not in node:
            raise _err(f"{where}.value", f'The operator "{op}" needs a value.')
        if shape == "list" and not isinstance(value, list):
            raise _err(f"{where}.value", f'The operator "{op}" needs a list.')
        if shape == "number" and (isinstance(value, bool) or not isinstance(value, int | float | str)):
            raise _err(f"{where}.value", f'The operator "{op}" needs a number or a date.')
        if shape == "text" and not isinstance(value, str | int | float):
            raise _err(f"{where}.value", f'The operator "{op}" needs text.')
        if shape == "regex":
            if not isinstance(value, str) or len(value) > 200:
                raise _err(f"{where}.value", "Give a regular expression of at most 200 characters.")
            try:
                re.compile(value)
            except re.error as exc:
                raise _err(f"{where}.value", f"Not a valid regular expression: {exc}.") from exc

    check(condition, path, 0)


def lookup(context: Mapping[str, Any], field: str) -> Any:
    value: Any = context
    for part in field.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
    return value


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, list | tuple | set | frozenset):
        return [_norm(v) for v in value]
    return value


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value  # ISO dates compare as text
    return None


def _equal(left: Any, right: Any) -> bool:
    left, right = _norm(left), _norm(right)
    if isinstance(left, list):
        return (
            right in left
            if not isinstance(right, list)
            else sorted(map(repr, left)) == sorted(map(repr, right))
        )
    return left == right


def _compare(op: str, left: Any, right: Any) -> bool:
    a, b = _number(left), _number(right)
    numeric = isinstance(a, int | float) and isinstance(b, int | float)
    if not numeric and not (isinstance(a, str) and isinstance(b, str)):
        return False
    return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]


def _leaf(node: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    op = node.get("op", "eq")
    actual = lookup(context, node["field"])
    expected = node.get("value")
    if op == "exists":
        return actual not in (None, "", [], {})
    if op == "missing":
        return actual in (None, "", [], {})
    if op == "eq":
        return _equal(actual, expected)
    if op == "ne":
        return not _equal(actual, expected)
    if op in ("in", "not_in"):
        found = any(_equal(actual, item) for item in expected)
        return found if op == "in" else not found
    if op in ("contains", "startswith", "endswith"):
        needle = _norm(str(expected))
        if isinstance(actual, list | tuple):
            values = [_norm(str(v)) for v in actual]
            return (
                needle in values
                if op == "contains"
                else any(v.startswith(needle) if op == "startswith" else v.endswith(needle) for v in values)
            )
        if actual is None:
            return False
        text = _norm(str(actual))
        return {
            "contains": needle in text,
            "startswith": text.startswith(needle),
            "endswith": text.endswith(needle),
        }[op]
    if op == "matches":
        if actual is None:
            return False
        values = actual if isinstance(actual, list | tuple) else [actual]
        pattern = re.compile(expected, re.IGNORECASE)
        return any(pattern.search(str(v)) for v in values)
    return _compare(op, actual, expected)


def evaluate(condition: Mapping[str, Any] | None, context: Mapping[str, Any]) -> bool:
    """Whether a (validated) condition holds for the context."""
    if not condition:
        return True
    if "all" in condition:
        return all(evaluate(item, context) for item in condition["all"])
    if "any" in condition:
        return any(evaluate(item, context) for item in condition["any"])
    if "not" in condition:
        return not evaluate(condition["not"], context)
    return _leaf(condition, context)


def describe(condition: Mapping[str, Any] | None) -> str:
    """A short human reading of a condition, for routing notes and admin pages."""
    if not condition:
        return "always"
    if "all" in condition:
        parts = [describe(c) for c in condition["all"]]
        return " and ".join(f"({p})" if " or " in p else p for p in parts) or "always"
    if "any" in condition:
        parts = [describe(c) for c in condition["any"]]
        return " or ".join(parts) or "never"
    if "not" in condition:
        return f"not ({describe(condition['not'])})"
    op = condition.get("op", "eq")
    if op in ("exists", "missing"):
        return f"{condition['field']} {'is set' if op == 'exists' else 'is empty'}"
    return f"{condition['field']} {op} {condition.get('value')!r}"
