"""Object-level rights on requests (desk.selectors says who sees and who works what)."""

from gatehouse.core.permissions import object_rule


@object_rule("desk.view_request")
def may_see_request(user, request) -> bool:
    from gatehouse.desk.models import Request
    from gatehouse.desk.selectors import can_see

    return isinstance(request, Request) and can_see(user, request)


@object_rule("desk.change_request")
def may_work_request(user, request) -> bool:
    from gatehouse.desk.models import Request
    from gatehouse.desk.selectors import can_work

    return isinstance(request, Request) and can_work(user, request)
