from django.contrib.auth.backends import ModelBackend

from gatehouse.core.permissions import is_read_permission, object_rules
from gatehouse.users.roles import AUDITOR, TEAM_MEMBER_PERMISSIONS


class GatehouseBackend(ModelBackend):
    """Role permissions, the rights every team member has, object rules, and read-only auditors."""

    def user_can_authenticate(self, user) -> bool:
        return super().user_can_authenticate(user) and not user.access_expired

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or user_obj.access_expired:
            return set()
        if not hasattr(user_obj, "_gatehouse_perm_cache"):
            perms = set(super().get_all_permissions(user_obj)) | TEAM_MEMBER_PERMISSIONS
            if user_obj.has_role(AUDITOR):
                perms = {p for p in perms if is_read_permission(p)}
            user_obj._gatehouse_perm_cache = perms
        return user_obj._gatehouse_perm_cache

    def has_perm(self, user_obj, perm, obj=None) -> bool:
        if not user_obj.is_active or user_obj.is_anonymous or user_obj.access_expired:
            return False
        if user_obj.has_role(AUDITOR) and not is_read_permission(perm):
            return False  # auditors read everything and change nothing, whatever else they hold
        if user_obj.is_superuser:
            return True
        if perm in self.get_all_permissions(user_obj):
            return True
        if obj is not None:
            return any(rule(user_obj, obj) for rule in object_rules(perm))
        return False
