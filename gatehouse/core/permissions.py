"""Permission checks shared by views, API endpoints and services.

Global rights come from roles (gatehouse.users.roles). Object-level rights come from data: an app registers a
rule for a permission, e.g. "a system owner may change their own systems", and the auth backend asks it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied

ObjectRule = Callable[[Any, Any], bool]
_object_rules: dict[str, list[ObjectRule]] = {}


def object_rule(perm: str) -> Callable[[ObjectRule], ObjectRule]:
    """Register `rule(user, obj) -> bool` as a way to hold `perm` on one object."""

    def register(rule: ObjectRule) -> ObjectRule:
        _object_rules.setdefault(perm, []).append(rule)
        return rule

    return register


def object_rules(perm: str) -> list[ObjectRule]:
    return _object_rules.get(perm, [])


def is_read_permission(perm: str) -> bool:
    return perm.split(".", 1)[-1].startswith("view_")


class _System:
    """Gatehouse itself acting: a command run on the server, an import or a scheduled job.

    Whoever can run a command on the server already holds every right, so services let it through; views and
    endpoints always pass the signed-in user (or an anonymous one), never this.
    """

    is_authenticated = True
    is_active = True
    pk = None

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return True

    def __str__(self) -> str:
        return "system"


SYSTEM = _System()


def require(user: Any, perm: str, obj: Any = None) -> None:
    """Raise PermissionDenied unless the user holds `perm` (on `obj` when given)."""
    if user is None or not user.is_authenticated or not user.has_perm(perm, obj):
        raise PermissionDenied(f"You do not have permission to {describe(perm)}.")


def describe(perm: str) -> str:
    action, _, model = perm.split(".", 1)[-1].partition("_")
    verbs = {"view": "view", "add": "create", "change": "change", "delete": "delete"}
    return f"{verbs.get(action, action)} this {model}"
