"""Signed, single-use, expiring approval links for email.

A link carries ``{"s": step id, "u": approver's user id, "n": the step's link_nonce}`` signed with Django's
signing (the SECRET_KEY, a salt of its own) and timestamped. It is refused when:

- the signature does not match (tampered, or cut short): ``LinkError("invalid")``;
- it is older than ACCESS_APPROVAL_LINK_MAX_AGE_DAYS (default 7): ``LinkError("expired")``;
- the step was decided since (deciding clears the nonce, so every link of the step stops working), or the nonce
  no longer matches: ``LinkError("used")``;
- the step or the user is gone, or the user may no longer decide it: ``LinkError("invalid")`` / the reason.

GET on the link shows a confirmation page (nothing is written: mail scanners follow links); POST decides, as the
link's user, through ``access.requests.decide(channel="email")``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

from gatehouse.access.models import ApprovalStep

SALT = "gatehouse.access.approval-link"


def max_age_days() -> int:
    return int(getattr(settings, "ACCESS_APPROVAL_LINK_MAX_AGE_DAYS", 7))


class LinkError(Exception):
    """Why a link does not work: kind is invalid, expired or used; message is for the page."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class Link:
    step: ApprovalStep
    user: object


def make_token(step: ApprovalStep, user) -> str:
    if not step.link_nonce:
        raise ValueError("This step has no link nonce (it was decided).")
    return signing.dumps({"s": step.pk, "u": user.pk, "n": step.link_nonce}, salt=SALT, compress=True)


def link_path(step: ApprovalStep, user) -> str:
    return reverse("access:approval_link", args=[make_token(step, user)])


def read_token(token: str) -> Link:
    """The step and user a token names, or LinkError saying why it does not work."""
    from gatehouse.users.models import User

    try:
        data = signing.loads(token, salt=SALT, max_age=max_age_days() * 86400)
    except signing.SignatureExpired:
        raise LinkError(
            "expired",
            f"This approval link has expired (links work for {max_age_days()} days). "
            "Open the request in Gatehouse to decide.",
        ) from None
    except (signing.BadSignature, ValueError, TypeError):
        raise LinkError(
            "invalid", "This approval link is not valid. Open the request in Gatehouse to decide."
        ) from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), t) for k, t in (("s", int), ("u", int), ("n", str))
    ):
        raise LinkError(
            "invalid", "This approval link is not valid. Open the request in Gatehouse to decide."
        )
    step = (
        ApprovalStep.objects.select_related(
            "decided_by",
            "item",
            "item__subject",
            "item__subject__manager",
            "item__entitlement",
            "item__entitlement__system",
            "item__access_request",
            "item__access_request__requested_by",
        )
        .filter(pk=data["s"])
        .first()
    )
    user = User.objects.select_related("person").filter(pk=data["u"]).first()
    if step is None or user is None:
        raise LinkError("invalid", "This approval link names a step or a person Gatehouse no longer has.")
    if step.decision != ApprovalStep.Decision.PENDING or not step.link_nonce or step.link_nonce != data["n"]:
        if step.decision in (ApprovalStep.Decision.APPROVED, ApprovalStep.Decision.REJECTED):
            when = f" on {step.decided_at:%Y-%m-%d %H:%M} UTC" if step.decided_at else ""
            message = (
                f"This approval link was already used: the step was {step.get_decision_display().lower()} "
                f"by {step.decided_by or 'someone'}{when}."
            )
        else:
            message = "This approval link is no longer valid: the request was closed or changed."
        raise LinkError("used", message)
    return Link(step=step, user=user)
