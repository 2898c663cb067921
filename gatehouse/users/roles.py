"""The roles of DESIGN.md as Django groups with model permissions.

Roles are permissions, not people: one user can hold several. Object-level rights (a system owner on their own
systems, a manager on their own reports) come from data and are checked in gatehouse.users.backends.
"""

from __future__ import annotations

from django.apps import apps as global_apps

TEAM_MEMBER = "team_member"
MANAGER = "manager"
HELPDESK_ANALYST = "helpdesk_analyst"
ENGINEER = "engineer"
SYSTEM_OWNER = "system_owner"
COMPLIANCE_ANALYST = "compliance_analyst"
RISK_ANALYST = "risk_analyst"
SECURITY_ENGINEER = "security_engineer"
AUDITOR = "auditor"
ADMIN = "admin"

READ_DIRECTORY = {"directory.view_person", "directory.view_team"}
READ_CATALOG = {"catalog.view_system"}
READ_AUDIT = {"audit.view_auditevent"}
WRITE_DIRECTORY = {f"directory.{a}_{m}" for a in ("add", "change", "delete") for m in ("person", "team")}
WRITE_CATALOG = {f"catalog.{a}_system" for a in ("add", "change", "delete")}


def _crud(app: str, models: tuple[str, ...], actions=("add", "change", "delete")) -> set[str]:
    return {f"{app}.{action}_{model}" for action in actions for model in models}


# Desk. Requests are seen through data (requester, queue team, system owner), not through view_request, which
# means "sees every request" (admins, auditors).
_DESK_SLA_MODELS = ("businesscalendar", "holiday", "slapolicy", "slatarget")
_DESK_CONFIG_MODELS = ("requesttype", "queue", "routingrule", *_DESK_SLA_MODELS)
DESK_MEMBER = {
    "desk.add_request",
    "desk.view_requesttype",
    "desk.view_queue",
    "desk.view_guide",
    "desk.add_deflection",
} | {f"desk.view_{m}" for m in _DESK_SLA_MODELS}
DESK_AGENT = {"desk.work_request", "desk.view_routingrule"}
DESK_GUIDE_WRITERS = _crud("desk", ("guide",))
_DESK_MODELS = (
    "request",
    "comment",
    "attachment",
    "escalation",
    "guide",
    "deflection",
    "chatwebhook",
    "chatdelivery",
    *_DESK_CONFIG_MODELS,
)
DESK_READ_ALL = _crud("desk", _DESK_MODELS, actions=("view",))
DESK_ADMIN = (
    DESK_READ_ALL
    | DESK_AGENT
    | DESK_GUIDE_WRITERS
    | _crud("desk", _DESK_CONFIG_MODELS)
    | {"desk.change_request", "desk.delete_request"}
    | _crud("desk", ("chatwebhook",), actions=("add", "change"))
)

# What every signed-in team member may do, whatever roles they hold.
TEAM_MEMBER_PERMISSIONS = READ_DIRECTORY | READ_CATALOG | DESK_MEMBER

ROLES: dict[str, dict] = {
    TEAM_MEMBER: {"label": "Team member", "permissions": TEAM_MEMBER_PERMISSIONS},
    MANAGER: {"label": "Manager", "permissions": set()},
    HELPDESK_ANALYST: {"label": "Helpdesk analyst", "permissions": DESK_AGENT},
    ENGINEER: {
        "label": "Engineer",
        "permissions": {"catalog.change_system"} | DESK_AGENT | DESK_GUIDE_WRITERS,
    },
    SYSTEM_OWNER: {"label": "System owner", "permissions": set()},
    COMPLIANCE_ANALYST: {"label": "Compliance analyst", "permissions": READ_AUDIT},
    RISK_ANALYST: {"label": "Risk analyst", "permissions": set()},
    SECURITY_ENGINEER: {"label": "Security engineer", "permissions": READ_AUDIT},
    AUDITOR: {"label": "Auditor", "permissions": READ_AUDIT | DESK_READ_ALL},
    ADMIN: {
        "label": "Admin",
        "permissions": READ_AUDIT
        | WRITE_DIRECTORY
        | WRITE_CATALOG
        | {"users.view_user", "users.change_user"}
        | DESK_ADMIN,
    },
}
# --- access lifecycle: entitlements, grants, bundles, lifecycle events ---
# Everyone reads the entitlement catalogue; view_grant / view_lifecycleevent mean "sees all" (admins, auditors);
# owners, provisioners, deprovisioners and managers act through object rules in gatehouse.access.grants.
_ACCESS_A_MODELS = ("entitlement", "grant", "bundle", "lifecycleevent")
ACCESS_A_MEMBER = {"access.view_entitlement"}
ACCESS_A_READ_ALL = _crud("access", _ACCESS_A_MODELS, actions=("view",))
ACCESS_A_WRITE = _crud("access", ("entitlement", "bundle")) | {"access.add_grant", "access.change_grant"}
ACCESS_A_ADMIN = ACCESS_A_READ_ALL | ACCESS_A_WRITE
TEAM_MEMBER_PERMISSIONS.update(ACCESS_A_MEMBER)
ROLES[AUDITOR]["permissions"] = ROLES[AUDITOR]["permissions"] | ACCESS_A_READ_ALL
ROLES[ADMIN]["permissions"] = ROLES[ADMIN]["permissions"] | ACCESS_A_ADMIN
# --- access lifecycle: fulfilment tasks ---
# view_fulfilmenttask means "sees every task and the security list" (admins, auditors, security engineers);
# change_fulfilmenttask means "works every task" (admins). Provisioners and deprovisioners work their systems'
# tasks through gatehouse.access.fulfilment.can_work.
ACCESS_C_READ_ALL = {"access.view_fulfilmenttask"}
ACCESS_C_ADMIN = ACCESS_C_READ_ALL | {"access.change_fulfilmenttask"}
ROLES[AUDITOR]["permissions"] = ROLES[AUDITOR]["permissions"] | ACCESS_C_READ_ALL
ROLES[SECURITY_ENGINEER]["permissions"] = ROLES[SECURITY_ENGINEER]["permissions"] | ACCESS_C_READ_ALL
ROLES[ADMIN]["permissions"] = ROLES[ADMIN]["permissions"] | ACCESS_C_ADMIN
# --- access lifecycle: access review campaigns ---
# view_reviewcampaign / view_reviewitem mean "reads every campaign, item and evidence export" (admins, compliance
# analysts, auditors; auditors change nothing). Compliance analysts run campaigns: start, close, reassign, and
# manage templates. change_reviewitem (admins) decides items assigned to someone else. Reviewers decide their
# own items through data (ReviewItem.reviewer), whatever their roles.
ACCESS_D_READ_ALL = _crud("access", ("reviewtemplate", "reviewcampaign", "reviewitem"), actions=("view",))
ACCESS_D_RUN = (
    ACCESS_D_READ_ALL
    | _crud("access", ("reviewtemplate",))
    | {
        "access.add_reviewcampaign",
        "access.change_reviewcampaign",
    }
)
ACCESS_D_ADMIN = ACCESS_D_RUN | {"access.change_reviewitem"}
ROLES[AUDITOR]["permissions"] = ROLES[AUDITOR]["permissions"] | ACCESS_D_READ_ALL
ROLES[COMPLIANCE_ANALYST]["permissions"] = ROLES[COMPLIANCE_ANALYST]["permissions"] | ACCESS_D_RUN
ROLES[ADMIN]["permissions"] = ROLES[ADMIN]["permissions"] | ACCESS_D_ADMIN
# --- access lifecycle: access requests and approvals ---
# Everyone asks for access; view_accessrequest means "sees every request" (admins, auditors); others see theirs,
# their reports' and their systems' through gatehouse.access.requests.visible_requests. change_approvalstep
# makes an admin the fallback approver of every step (gatehouse.access.requests.why_not_decide).
ACCESS_B_MEMBER = {"access.add_accessrequest"}
ACCESS_B_READ_ALL = _crud("access", ("accessrequest", "accessrequestitem", "approvalstep"), actions=("view",))
ACCESS_B_ADMIN = ACCESS_B_READ_ALL | {"access.change_accessrequest", "access.change_approvalstep"}
TEAM_MEMBER_PERMISSIONS.update(ACCESS_B_MEMBER)
ROLES[AUDITOR]["permissions"] = ROLES[AUDITOR]["permissions"] | ACCESS_B_READ_ALL
ROLES[ADMIN]["permissions"] = ROLES[ADMIN]["permissions"] | ACCESS_B_ADMIN

# --- endpoints: KPIs, snapshots, exceptions ---
# view_kpisnapshot reads the KPI dashboard and snapshots; view_deviceexception reads every exception (security
# engineers, admins, auditors). Security engineers and admins grant and revoke exceptions. Team members see the
# exceptions on their own devices and managers their reports' through gatehouse.endpoints.exceptions.
ENDPOINTS_C_READ_ALL = {"endpoints.view_kpisnapshot", "endpoints.view_deviceexception"}
ENDPOINTS_C_MANAGE = ENDPOINTS_C_READ_ALL | {
    "endpoints.add_deviceexception",
    "endpoints.change_deviceexception",
}
ROLES[AUDITOR]["permissions"] = ROLES[AUDITOR]["permissions"] | ENDPOINTS_C_READ_ALL
ROLES[SECURITY_ENGINEER]["permissions"] = ROLES[SECURITY_ENGINEER]["permissions"] | ENDPOINTS_C_MANAGE
ROLES[ADMIN]["permissions"] = ROLES[ADMIN]["permissions"] | ENDPOINTS_C_MANAGE
# --- endpoints: devices, records, checks, OS catalog, platform policies ---
# view_device means "sees every device, its records and checks, and the mismatch report" (security engineers,
# admins, auditors; auditors change nothing). Every team member sees their own devices and managers their
# reports' through gatehouse.endpoints.selectors.visible_devices. Security engineers and admins manage devices,
# the OS release catalog and the platform policies.
_ENDPOINTS_B_MODELS = ("device", "sourcerecord", "checkresult", "osrelease", "platformpolicy")
ENDPOINTS_B_READ_ALL = _crud("endpoints", _ENDPOINTS_B_MODELS, actions=("view",))
ENDPOINTS_B_MANAGE = ENDPOINTS_B_READ_ALL | _crud("endpoints", ("device", "osrelease", "platformpolicy"))
ROLES[AUDITOR]["permissions"] = ROLES[AUDITOR]["permissions"] | ENDPOINTS_B_READ_ALL
ROLES[SECURITY_ENGINEER]["permissions"] = ROLES[SECURITY_ENGINEER]["permissions"] | ENDPOINTS_B_MANAGE
ROLES[ADMIN]["permissions"] = ROLES[ADMIN]["permissions"] | ENDPOINTS_B_MANAGE

# --- endpoints: feeds ---
# view_feedimport reads the Feeds page and API (import runs and sync status); add_feedimport runs an import or a
# sync (security engineers, admins). Commands and scheduled syncs run as the system.
ENDPOINTS_A_READ = {"endpoints.view_feedimport"}
ENDPOINTS_A_RUN = ENDPOINTS_A_READ | {"endpoints.add_feedimport"}
ROLES[AUDITOR]["permissions"] = ROLES[AUDITOR]["permissions"] | ENDPOINTS_A_READ
ROLES[SECURITY_ENGINEER]["permissions"] = ROLES[SECURITY_ENGINEER]["permissions"] | ENDPOINTS_A_RUN
ROLES[ADMIN]["permissions"] = ROLES[ADMIN]["permissions"] | ENDPOINTS_A_RUN

ROLE_CHOICES = [(name, spec["label"]) for name, spec in ROLES.items()]


def sync_roles(sender=None, apps=global_apps, using="default", **kwargs) -> None:
    """Create one group per role and give it exactly the role's permissions."""
    from django.contrib.auth.management import create_permissions

    # post_migrate reaches this app before the apps after it have their permissions; make them all now.
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    all_perms = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.using(using).select_related("content_type")
    }
    for name, spec in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        wanted = [all_perms[p] for p in sorted(spec["permissions"]) if p in all_perms]
        group.permissions.set(wanted)
