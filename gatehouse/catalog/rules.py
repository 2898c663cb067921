"""Object-level rights on systems: a system owner may change their own systems."""

from gatehouse.core.permissions import object_rule


@object_rule("catalog.change_system")
def owner_may_change_system(user, system) -> bool:
    from gatehouse.catalog.selectors import is_system_owner

    return is_system_owner(user, system)
