"""The demo company's desk: a few dozen requests across types, systems and states, the same every time.

Each request is replayed through the desk's services (filed, answered, escalated, resolved...) at the moment
the story says it happened, counted back from the load: services read the clock through
django.utils.timezone.now, which the replay sets for each step, so the timestamps, the SLA clocks and the
audit trail all tell the same story. After the replay the SLA job runs once, so old unanswered requests show as
breached and nearly-due ones as at risk.

A request is known by its requester and subject: a second `gatehouse demo` files nothing and changes nothing.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from django.utils import timezone

from gatehouse.desk.models import Queue, Request
from gatehouse.directory.models import EmploymentType, Person, Team
from gatehouse.users.models import User

SEED = "gatehouse-demo-desk"
HELPDESK_TEAM = "it-helpdesk"  # the demo's helpdesk team works the triage queue


@dataclass(frozen=True)
class Step:
    after_hours: float  # from filing
    action: str  # reply, note, status, assign, escalate, reroute
    by: str  # a demo username
    value: Any = None
    text: str = ""


@dataclass(frozen=True)
class Story:
    subject: str
    type: str
    system: str | None
    requester: str  # a company.yml key, or "#n": the n-th drawn team member
    age_hours: float  # filed this long before the load
    fields: dict[str, Any]
    description: str = ""
    steps: tuple[Step, ...] = field(default_factory=tuple)


def reply(h, by, text):
    return Step(h, "reply", by, text=text)


def note(h, by, text):
    return Step(h, "note", by, text=text)


def status(h, by, value):
    return Step(h, "status", by, value)


def assign(h, by, username):
    return Step(h, "assign", by, username)


def escalate(h, by, team, reason):
    """To tier 3: the queue of `team` (a team slug)."""
    return Step(h, "escalate", by, team, text=reason)


def reroute(h, by, queue_team, reason):
    return Step(h, "reroute", by, queue_team, text=reason)


def _access(level, why):
    return {"access_level": level, "justification": why}


def _config(env, risk, summary):
    return {"environment": env, "risk": risk, "change_summary": summary}


DAY = 24.0

# The stories. "owner" owns Okta SSO, Okta Workflows and the Google organisation; "helpdesk" works triage;
# "admin" stands in for the other systems' owners, who have no demo sign-in.
STORIES: tuple[Story, ...] = (
    # --- Access requests (tier 3: the system's owner team) ---
    Story(
        "Okta admin console for the SSO migration",
        "access-request",
        "okta-sso",
        "member",
        3 * DAY,
        _access("Read-only", "Checking which apps still use the old SAML certificate."),
        steps=(
            reply(2, "owner", "Read-only granted; it expires in 30 days."),
            status(2.5, "owner", "resolved"),
        ),
    ),
    Story(
        "GitLab access for the new data pipeline repo",
        "access-request",
        "gitlab",
        "#0",
        2 * DAY,
        _access("Standard", "Joining the data platform team."),
        steps=(
            assign(1, "admin", "admin"),
            reply(1.5, "admin", "Added you to the data group."),
            status(2, "admin", "resolved"),
        ),
    ),
    Story(
        "AWS production read access",
        "access-request",
        "aws",
        "#1",
        30,
        _access("Read-only", "On-call for the billing service next week."),
        steps=(
            note(3, "admin", "Needs the manager's approval first (SOX scope)."),
            status(3.5, "admin", "waiting_on_requester"),
            reply(3.6, "admin", "Please ask your manager to approve in this request."),
        ),
    ),
    Story(
        "1Password shared vault for the sales team",
        "access-request",
        "1password",
        "#2",
        5,
        _access("Standard", "Shared demo-account credentials."),
    ),
    Story(
        "Zoom webinar licence",
        "access-request",
        "zoom",
        "#3",
        4 * DAY,
        _access("Standard", "Quarterly customer webinar."),
        steps=(
            reply(20, "admin", "Licence assigned."),
            status(21, "admin", "resolved"),
            status(2 * DAY, "admin", "closed"),
        ),
    ),
    Story(
        "Jamf admin for the new IT hire",
        "access-request",
        "jamf",
        "helpdesk",
        6 * DAY,
        _access("Admin", "Enrolling the new batch of laptops."),
        steps=(reply(1, "admin", "Granted with the enrolment role only."), status(1.2, "admin", "resolved")),
    ),
    Story(
        "Google Cloud project viewer", "access-request", "gcp", "#4", 50, _access("Read-only", "Cost review.")
    ),
    Story(
        "Slack admin to archive old channels",
        "access-request",
        "slack",
        "#5",
        9 * DAY,
        _access("Admin", "Channel clean-up project."),
        steps=(
            reply(30, "admin", "We archive them for you instead: send the list."),
            note(2 * DAY, "admin", "List received by chat."),
            status(3 * DAY, "admin", "resolved"),
        ),
    ),
    # --- Access changes ---
    Story(
        "Remove my old AWS admin role",
        "access-change",
        "aws",
        "engineer",
        20 * DAY,
        {"change": "Remove a role", "details": "I moved teams; AdministratorAccess is no longer needed."},
        steps=(
            reply(4, "admin", "Removed."),
            status(4.5, "admin", "resolved"),
            status(3 * DAY, "admin", "closed"),
        ),
    ),
    Story(
        "Change role in Okta Workflows to builder",
        "access-change",
        "okta-flow",
        "#6",
        26,
        {"change": "Change role", "details": "Viewer to builder for the onboarding flow."},
        steps=(assign(2, "owner", "owner"), status(2.5, "owner", "in_progress")),
    ),
    Story(
        "Remove all access for the contractor leaving Friday",
        "access-change",
        "goog-org",
        "#7",
        3,
        {
            "change": "Remove all access",
            "details": "Contract ends on Friday.",
            "effective_date": "2026-12-04",
        },
    ),
    # --- Account lockouts (tier 2: triage) ---
    Story(
        "Locked out of Okta after too many attempts",
        "account-lockout",
        "okta-sso",
        "#8",
        2,
        {"account": "demo-user-8", "cause": "Too many attempts", "contact": "@chat"},
    ),
    Story(
        "Lost my phone with the MFA app",
        "account-lockout",
        None,
        "#9",
        2 * DAY,
        {"account": "demo-user-9", "cause": "Lost MFA device"},
        steps=(
            reply(0.4, "helpdesk", "Verified you by video; MFA reset."),
            status(0.5, "helpdesk", "resolved"),
        ),
    ),
    Story(
        "Password expired while travelling",
        "account-lockout",
        None,
        "#10",
        7 * DAY,
        {"account": "demo-user-10", "cause": "Password expired"},
        steps=(
            reply(0.3, "helpdesk", "Reset link sent to your phone."),
            status(0.4, "helpdesk", "resolved"),
            status(DAY, "helpdesk", "closed"),
        ),
    ),
    Story(
        "Cannot sign in to anything this morning",
        "account-lockout",
        None,
        "#11",
        5 * DAY,
        {"account": "demo-user-11", "cause": "Other"},
    ),
    # --- Laptops and hardware (no system; triage) ---
    Story(
        "Laptop stolen from the car",
        "laptop-or-hardware",
        None,
        "#12",
        20,
        {"issue_kind": "Lost or stolen", "asset_tag": "GH-4412"},
        steps=(
            reply(0.2, "helpdesk", "Device locked and flagged in Jamf; a replacement is on its way."),
            note(0.3, "helpdesk", "Police report number requested for the insurer."),
            status(0.4, "helpdesk", "waiting_on_requester"),
        ),
    ),
    Story(
        "New laptop for a new starter",
        "laptop-or-hardware",
        None,
        "eng-platform",
        10 * DAY,
        {"issue_kind": "New laptop", "shipping_address": "Office, 3rd floor", "needed_by": "2026-12-07"},
        steps=(reply(5, "helpdesk", "Ordered; it ships next week."), status(5.5, "helpdesk", "in_progress")),
    ),
    Story(
        "Broken USB-C dock",
        "laptop-or-hardware",
        None,
        "#13",
        12 * DAY,
        {"issue_kind": "Peripheral"},
        steps=(reply(2, "helpdesk", "A new dock is at the front desk."), status(3, "helpdesk", "resolved")),
    ),
    Story(
        "Screen flickers after the update",
        "laptop-or-hardware",
        None,
        "#14",
        4 * DAY,
        {"issue_kind": "Broken or damaged", "asset_tag": "GH-3120"},
    ),
    # --- Configuration changes (the systems' issue template) ---
    Story(
        "Raise the Okta session lifetime to 12 hours",
        "configuration-change",
        "okta-sso",
        "#15",
        45,
        _config("Production", "Medium", "Session lifetime 8 h -> 12 h for the support team's policy."),
        steps=(
            reply(3, "owner", "Reviewing with security; 12 h needs an exception."),
            note(4, "owner", "Exception needs the CISO's sign-off."),
        ),
    ),
    Story(
        "Add the new office IP range to the Okta network zone",
        "configuration-change",
        "okta-sso",
        "#16",
        8 * DAY,
        _config("Production", "Low", "Add 203.0.113.0/24."),
        steps=(reply(2, "owner", "Done."), status(2.2, "owner", "resolved")),
    ),
    Story(
        "Google Workspace: block forwarding to personal mail",
        "configuration-change",
        "goog-apps",
        "security",
        15 * DAY,
        _config("Production", "High", "Disable automatic forwarding outside the domain."),
        steps=(
            reply(6, "admin", "Scheduled for the change window."),
            status(7, "admin", "in_progress"),
            status(6 * DAY, "admin", "resolved"),
        ),
    ),
    Story(
        "GitLab: protect the main branch on all infra repos",
        "configuration-change",
        "gitlab",
        "engineer",
        6 * DAY,
        _config("Production", "Low", "Require one approval on main for infra/*."),
    ),
    Story(
        "Slack: retention for #incident channels",
        "configuration-change",
        "slack",
        "compliance",
        3 * DAY,
        _config("Production", "Medium", "Keep #incident-* channels for 7 years."),
        steps=(assign(1, "admin", "admin"),),
    ),
    Story(
        "DNS: add SPF record for the new mail vendor",
        "configuration-change",
        "dns",
        "#17",
        1.5,
        _config("Production", "Medium", "include:_spf.mailvendor.example"),
    ),
    Story(
        "Okta Workflows: fix the offboarding flow's timeout",
        "configuration-change",
        "okta-flow",
        "#18",
        9 * DAY,
        _config("Production", "High", "The flow times out for people in many groups."),
        steps=(
            reply(1, "owner", "Reproduced; the group lookup pages too slowly."),
            status(1.5, "owner", "in_progress"),
        ),
    ),
    # --- Security questions and suspicious activity ---
    Story(
        "May I share the customer list with our new vendor?",
        "security-question",
        None,
        "#19",
        2 * DAY,
        {"topic": "Data handling", "data_classification": "Red"},
        steps=(
            reply(3, "helpdesk", "Forwarded to security for a vendor review."),
            escalate(3.2, "helpdesk", "security-compliance", "Vendor review: security compliance decides."),
        ),
    ),
    Story(
        "Is the new AI note-taker approved?",
        "security-question",
        "zoom",
        "#20",
        11 * DAY,
        {"topic": "Vendor review"},
        steps=(
            reply(2 * DAY, "admin", "Not yet; please do not use it for customer calls."),
            status(2 * DAY + 1, "admin", "resolved"),
        ),
    ),
    Story(
        "Phishing email pretending to be payroll",
        "suspicious-activity",
        None,
        "#21",
        6,
        {"what_happened": "Phishing email", "clicked_or_entered": False, "sender": "payroll@paydayz.example"},
        steps=(reply(0.3, "helpdesk", "Thanks, blocked the sender."), status(0.4, "helpdesk", "resolved")),
    ),
    Story(
        "Clicked a link in a fake invoice",
        "suspicious-activity",
        None,
        "#22",
        28,
        {"what_happened": "Phishing email", "clicked_or_entered": True, "sender": "billing@inv0ice.example"},
        steps=(
            reply(0.2, "helpdesk", "Password reset and sessions revoked."),
            escalate(0.5, "helpdesk", "security-operations", "Credentials entered: check for misuse."),
        ),
    ),
    Story(
        "Sign-in alert from an unknown country",
        "suspicious-activity",
        "okta-sso",
        "#23",
        3 * DAY,
        {"what_happened": "Suspicious sign-in"},
    ),
    Story(
        "SentinelOne flagged a download",
        "suspicious-activity",
        "sentinelone",
        "#24",
        4,
        {"what_happened": "Malware", "clicked_or_entered": False},
    ),
    # --- Triage re-routed to a system owner ---
    Story(
        "NordLayer disconnects every hour",
        "account-lockout",
        None,
        "#25",
        2 * DAY,
        {"account": "demo-user-25", "cause": "Other"},
        steps=(
            reroute(1, "helpdesk", "nordlayer", "A VPN problem, not a lockout: to the NordLayer owners."),
        ),
    ),
    Story(
        "Drive files shared publicly by mistake",
        "security-question",
        None,
        "#26",
        30,
        {"topic": "Data handling", "data_classification": "Orange"},
        steps=(reroute(2, "helpdesk", "goog-apps", "Google Drive sharing is the Workspace owners'."),),
    ),
)


@contextmanager
def _clock(at: datetime.datetime):
    """Services, auto timestamps and the audit trail read timezone.now; during a replayed step it is `at`."""
    with mock.patch.object(timezone, "now", return_value=at):
        yield


def _drawn_people() -> list[Person]:
    """Active employees without a demo sign-in, in a seeded order: the anonymous requesters #0, #1, ..."""
    signed_in = User.objects.exclude(person=None).values("person_id")
    pool = list(
        Person.objects.filter(end_date__isnull=True, employment_type=EmploymentType.EMPLOYEE)
        .exclude(pk__in=signed_in)
        .order_by("email")
    )
    random.Random(SEED).shuffle(pool)
    return pool


def _requester(key: str, people_by_key: dict[str, Person], drawn: list[Person]) -> Person:
    if key.startswith("#"):
        return drawn[int(key[1:]) % len(drawn)]
    return people_by_key[key]


def _apply(step: Step, request: Request, *, users: dict[str, User]) -> Request:
    from gatehouse.desk import services

    actor = users[step.by]
    if step.action == "reply":
        services.reply(request, actor=actor, body=step.text)
    elif step.action == "note":
        services.reply(request, actor=actor, body=step.text, internal=True)
    elif step.action == "status":
        request = services.set_status(request, actor=actor, status=step.value)
    elif step.action == "assign":
        request = services.assign(request, actor=actor, assignee=users[step.value])
    elif step.action == "escalate":
        queue = services.queue_for_team(Team.objects.get(slug=step.value))
        request = services.escalate(request, actor=actor, reason=step.text, queue=queue)
    elif step.action == "reroute":
        team = Team.objects.get(slug=f"sysowners-{step.value}")
        request = services.reroute(
            request, actor=actor, queue=services.queue_for_team(team), reason=step.text
        )
    else:  # our own data
        raise ValueError(f"unknown demo step {step.action!r}")
    return Request.objects.get(pk=request.pk)


def _check_slas_at_last_open_instant(now: datetime.datetime) -> None:
    """Run the SLA job as of the last instant the calendars were open (business time stands still outside them,
    so flags computed then are the flags of now)."""
    from gatehouse.desk import sla

    at = now
    for _ in range(24 * 4):
        if sla.open_policy_ids(at):
            break
        at -= datetime.timedelta(hours=1)
    with _clock(at):
        sla.check_slas(now=at)


def load_desk_requests(
    *, actor, people_by_key: dict[str, Person], progress: Callable[..., Iterable[Any]], summary
) -> None:
    """File the demo's requests that are not there yet (known by requester and subject), replaying each story."""
    from gatehouse.desk import services

    now = timezone.now().replace(microsecond=0)
    users = {
        u.username: u for u in User.objects.filter(username__in=["admin", "helpdesk", "owner", "engineer"])
    }
    # The demo's helpdesk team works the triage queue (the desk ships it with an empty "helpdesk" team).
    helpdesk = Team.objects.filter(slug=HELPDESK_TEAM).first()
    triage = Queue.objects.filter(is_triage=True).first()
    if helpdesk and triage and triage.team_id != helpdesk.pk:
        services.update_queue(triage, actor=actor, team=helpdesk)
    drawn = _drawn_people()
    existing = set(
        Request.objects.filter(subject__in=[s.subject for s in STORIES]).values_list(
            "subject", "requester_id"
        )
    )
    created = 0
    for story in progress(STORIES, total=len(STORIES), desc="Desk requests"):
        requester = _requester(story.requester, people_by_key, drawn)
        if (story.subject, requester.pk) in existing:
            continue
        filed_at = now - datetime.timedelta(hours=story.age_hours)
        with _clock(filed_at):
            request = services.file_request(
                actor=actor,
                request_type=story.type,
                subject=story.subject,
                description=story.description,
                fields=story.fields,
                system=story.system,
                requester=requester,
                channel="web",
            )
        for step in story.steps:
            at = filed_at + datetime.timedelta(hours=step.after_hours)
            if at > now:
                break
            with _clock(at):
                request = _apply(step, request, users=users)
        created += 1
    if created:
        _check_slas_at_last_open_instant(now)
    summary.totals["requests"] = Request.objects.filter(subject__in=[s.subject for s in STORIES]).count()
    summary.created["requests"] = created
