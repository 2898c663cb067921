"""Fulfilment tasks: grant or revoke an entitlement in its system, by a connector or by a provisioner by hand.

Every path that changes access downstream comes here: an approved request item, a joiner, a mover, a leaver,
an expired grant and a review revoke all call `create_task`.

States: open (a connector run is queued, or a failed run was retried), done, failed (the connector said why),
manual (needs manual work: the entitlement has no connector; the system's provisioners do it by hand).

- By connector: `create_task` queues `run_connector` after the commit; the job calls the connector and marks
  the task done with what the connector answered (and starts or ends the grant) or failed with the reason. It
  never reports a success it did not get.
- By hand: `complete_task(task, actor=, evidence=)` by one of the system's provisioner or deprovisioner
  contacts (directly or through their team) or an admin; evidence is required. It starts the grant (grant
  task) or ends it (revoke task) through gatehouse.access.grants.
- Granting admin-level access sets `security_flag`; the security list shows those tasks.
"""

from __future__ import annotations

import datetime
import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from gatehouse.access.models import Entitlement, FulfilmentTask, Grant, GrantSource
from gatehouse.catalog.models import ContactRole, System, SystemContact
from gatehouse.core.jobs import job
from gatehouse.core.permissions import SYSTEM
from gatehouse.core.services import create_object, update_object
from gatehouse.directory.models import Person

logger = logging.getLogger(__name__)

Kind = FulfilmentTask.Kind
State = FulfilmentTask.State
Reason = FulfilmentTask.Reason

VIEW_ALL = "access.view_fulfilmenttask"  # admins, auditors, security engineers: every task
WORK_ALL = "access.change_fulfilmenttask"  # admins: work every task
FULFILMENT_ROLES = (ContactRole.PROVISIONER, ContactRole.DEPROVISIONER)
OPEN_STATES = (State.OPEN, State.FAILED, State.MANUAL)
EVIDENCE_MAX = 5000


# --- who works a task ---------------------------------------------------------------------------------------


def _signed_in(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_active", True)


def fulfiller_system_ids(person_id: int | None) -> QuerySet:
    """Ids of the systems where the person is a provisioner or deprovisioner contact, directly or via a team."""
    if person_id is None:
        return System.objects.none().values("pk")
    contacts = SystemContact.objects.filter(role__in=FULFILMENT_ROLES).filter(
        Q(person_id=person_id) | Q(team__members=person_id)
    )
    return contacts.values("system_id")


def work_role(task: FulfilmentTask) -> str:
    """Grant tasks are the provisioners' work, revoke tasks the deprovisioners'."""
    return ContactRole.PROVISIONER if task.kind == Kind.GRANT else ContactRole.DEPROVISIONER


def can_work(user, task: FulfilmentTask) -> bool:
    """Admins; the system's provisioners (grant tasks) or deprovisioners (revoke tasks), directly or through
    a team. Auditors change nothing."""
    if user is SYSTEM:
        return True
    if not _signed_in(user):
        return False
    if user.has_perm(WORK_ALL):
        return True
    if user.has_role("auditor"):
        return False
    person_id = getattr(user, "person_id", None)
    if person_id is None:
        return False
    return SystemContact.objects.filter(
        Q(person_id=person_id) | Q(team__members=person_id),
        role=work_role(task),
        system_id=task.entitlement.system_id,
    ).exists()


def require_work(user, task: FulfilmentTask) -> None:
    if not can_work(user, task):
        who = "provisioners" if task.kind == Kind.GRANT else "deprovisioners"
        raise PermissionDenied(f"Only this system's {who} and admins can work this task.")


def visible_tasks(user) -> QuerySet[FulfilmentTask]:
    """Tasks the user may see: all with the view right (admins, auditors, security), else their systems'."""
    base = FulfilmentTask.objects.all()
    if user is SYSTEM:
        return base
    if not _signed_in(user):
        return base.none()
    if user.has_perm(VIEW_ALL):
        return base
    person_id = getattr(user, "person_id", None)
    if person_id is None:
        return base.none()
    return base.filter(entitlement__system_id__in=fulfiller_system_ids(person_id))


def task_list(user) -> QuerySet[FulfilmentTask]:
    """The queue page and API list: everything a row shows, fetched up front."""
    return visible_tasks(user).select_related("person", "entitlement__system", "done_by", "grant")


def get_task(user, pk) -> FulfilmentTask:
    """One task the user may see; FulfilmentTask.DoesNotExist otherwise (a 404, not a hint)."""
    return task_list(user).select_related("request_item", "lifecycle_event").get(pk=pk)


def security_flagged(user) -> QuerySet[FulfilmentTask]:
    """Admin-level grants for security to look at: admins, auditors and security engineers."""
    if user is not SYSTEM and not (_signed_in(user) and user.has_perm(VIEW_ALL)):
        raise PermissionDenied("You do not have permission to view the security list.")
    return task_list(user).filter(security_flag=True)


def is_overdue(task: FulfilmentTask, now: datetime.datetime | None = None) -> bool:
    return task.state in OPEN_STATES and task.due_at is not None and task.due_at < (now or timezone.now())


# --- services -----------------------------------------------------------------------------------------------


def _actor_user(actor):
    return None if actor is SYSTEM or not getattr(actor, "pk", None) else actor


def create_task(
    *,
    actor,
    kind: str,
    reason: str,
    person: Person,
    entitlement: Entitlement,
    grant: Grant | None = None,
    request_item=None,
    review_item=None,
    lifecycle_event=None,
    due_at: datetime.datetime | None = None,
) -> FulfilmentTask:
    """Open a grant or revoke task. With a connector the run is queued after the commit; without, the task
    needs manual work by the system's provisioners. An admin-level grant is flagged for security.

    Callers are other services (requests, lifecycle, reviews, expiry) that checked their own permissions; the
    actor is recorded by the audit trail's change context.
    """
    errors = {}
    if kind not in Kind.values:
        errors["kind"] = f"Must be one of: {', '.join(Kind.values)}."
    if reason not in Reason.values:
        errors["reason"] = f"Must be one of: {', '.join(Reason.values)}."
    if person is None or getattr(person, "pk", None) is None:
        errors["person"] = "A saved person is required."
    if entitlement is None or getattr(entitlement, "pk", None) is None:
        errors["entitlement"] = "A saved entitlement is required."
    if (
        grant is not None
        and not errors
        and (grant.person_id != person.pk or grant.entitlement_id != entitlement.pk)
    ):
        errors["grant"] = "The grant must be this person's grant of this entitlement."
    if errors:
        raise ValidationError(errors)
    if kind == Kind.REVOKE and grant is None:
        grant = Grant.objects.filter(person=person, entitlement=entitlement, ended_at__isnull=True).first()
    has_connector = bool(entitlement.connector)
    fields = {
        "kind": kind,
        "reason": reason,
        "person": person,
        "entitlement": entitlement,
        "grant": grant,
        "request_item": request_item,
        "review_item": review_item,
        "lifecycle_event": lifecycle_event,
        "due_at": due_at,
        "state": State.OPEN if has_connector else State.MANUAL,
        "security_flag": kind == Kind.GRANT and entitlement.is_admin,
    }
    with transaction.atomic():
        task = create_object(FulfilmentTask, fields=fields)
        if has_connector:
            task_id = task.pk
            transaction.on_commit(lambda: run_connector(task_id))
        else:
            transaction.on_commit(lambda: notify_fulfillers(task.pk))
    return task


def _lock(task: FulfilmentTask) -> FulfilmentTask:
    return FulfilmentTask.objects.select_for_update().select_related("entitlement", "person").get(pk=task.pk)


def complete_task(task: FulfilmentTask, *, actor, evidence: str) -> FulfilmentTask:
    """Done by hand, with evidence (required): starts the grant (grant task) or ends it (revoke task)."""
    require_work(actor, task)
    evidence = (evidence or "").strip()
    if not evidence:
        raise ValidationError({"evidence": "Say what was done (a ticket, a screenshot link, who did it)."})
    if len(evidence) > EVIDENCE_MAX:
        raise ValidationError({"evidence": f"At most {EVIDENCE_MAX} characters."})
    with transaction.atomic():
        locked = _lock(task)
        if locked.state == State.DONE:
            raise ValidationError({"state": "This task is already done."})
        if locked.state == State.OPEN and locked.entitlement.connector and locked.attempts == 0:
            # The connector run is still queued: finishing by hand now would race it.
            raise ValidationError({"state": "The connector has not run yet; wait for it or for its failure."})
        done = _finish(locked, actor=actor, evidence=evidence, connector_result=locked.connector_result)
    _copy(done, task)
    return task


def fail_task(task: FulfilmentTask, *, actor, reason: str) -> FulfilmentTask:
    """Mark a task failed with the reason (a provisioner who cannot do it, or the connector's error)."""
    require_work(actor, task)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why it failed."})
    with transaction.atomic():
        locked = _lock(task)
        if locked.state == State.DONE:
            raise ValidationError({"state": "This task is already done."})
        update_object(locked, fields={"state": State.FAILED, "connector_result": reason[:EVIDENCE_MAX]})
    _copy(locked, task)
    return task


def retry_task(task: FulfilmentTask, *, actor) -> FulfilmentTask:
    """Run the connector again for a failed connector task (queued after the commit)."""
    require_work(actor, task)
    with transaction.atomic():
        locked = _lock(task)
        if not locked.entitlement.connector:
            raise ValidationError({"state": "This entitlement has no connector: complete the task by hand."})
        if locked.state != State.FAILED:
            raise ValidationError({"state": "Only a failed task can be retried."})
        update_object(locked, fields={"state": State.OPEN})
        task_id = locked.pk
        transaction.on_commit(lambda: run_connector(task_id))
    _copy(locked, task)
    return task


def _copy(source: FulfilmentTask, target: FulfilmentTask) -> None:
    if source is not target:
        for f in source._meta.concrete_fields:
            setattr(target, f.attname, getattr(source, f.attname))


def _grant_source(task: FulfilmentTask) -> str:
    if task.reason == Reason.REQUEST:
        return GrantSource.REQUEST
    if task.reason == Reason.REVIEW:
        return GrantSource.REVIEW
    if task.reason == Reason.JOINER and task.entitlement.is_baseline:
        return GrantSource.BASELINE
    return GrantSource.BUNDLE


def _finish(task: FulfilmentTask, *, actor, evidence: str, connector_result: str) -> FulfilmentTask:
    """Inside a transaction with the task locked: start or end the grant, then mark the task done."""
    from gatehouse.access import grants

    grant = task.grant
    if task.kind == Kind.GRANT:
        live = Grant.objects.filter(
            person_id=task.person_id, entitlement_id=task.entitlement_id, ended_at__isnull=True
        ).first()
        if live is not None:
            grant = live  # already held (e.g. found by a sync): the task links it rather than doubling it
        else:
            ends_at = getattr(task.request_item, "ends_at", None) if task.request_item_id else None
            grant = grants.start_grant(
                actor=actor,
                person=task.person,
                entitlement=task.entitlement,
                source=_grant_source(task),
                ends_at=ends_at,
                request_item=task.request_item if task.request_item_id else None,
            )
    else:
        if grant is None or grant.ended_at is not None:
            grant = (
                Grant.objects.filter(
                    person_id=task.person_id, entitlement_id=task.entitlement_id, ended_at__isnull=True
                ).first()
                or grant
            )
        if grant is not None and grant.ended_at is None:
            grant = grants.end_grant(
                grant, actor=actor, reason=f"{task.get_reason_display()}: revoke task #{task.pk}"
            )
    update_object(
        task,
        fields={
            "state": State.DONE,
            "done_at": timezone.now(),
            "done_by": _actor_user(actor),
            "evidence": evidence,
            "connector_result": connector_result,
            "grant": grant,
        },
    )
    if task.kind == Kind.GRANT and task.request_item_id:
        from gatehouse.access.requests import mark_item_fulfilled

        # The access request (and its desk request) is fulfilled once every approved item is granted.
        mark_item_fulfilled(task.request_item, actor=actor)
    return task


# --- the connector run ---------------------------------------------------------------------------------------


def execute_connector(task_id: int) -> FulfilmentTask | None:
    """Call the connector for an open task and record the outcome. Returns the task, None if nothing to do."""
    from gatehouse.access.connectors import ConnectorError, get_connector

    task = FulfilmentTask.objects.select_related("entitlement__system", "person").filter(pk=task_id).first()
    if task is None or task.state != State.OPEN or not task.entitlement.connector:
        return None
    # Claim the run: attempts goes up under a row lock, so two workers do not both call the service.
    with transaction.atomic():
        locked = _lock(task)
        if locked.state != State.OPEN:
            return None
        FulfilmentTask.objects.filter(pk=task.pk).update(attempts=locked.attempts + 1)
    email = (task.person.email or "").strip()
    try:
        if not email:
            raise ConnectorError(f"{task.person} has no email address to look up in the system")
        connector = get_connector(task.entitlement)
        if connector is None:
            raise ConnectorError(f"Unknown connector {task.entitlement.connector!r}")
        if task.kind == Kind.GRANT:
            answer = connector.add_member(task.entitlement, email)
        else:
            answer = connector.remove_member(task.entitlement, email)
    except ConnectorError as exc:
        return _record_failure(task.pk, exc.reason)
    except Exception as exc:  # a bug or an SDK surprise: failed, never done; the class only, no secrets
        logger.exception("Connector run for task %s crashed", task.pk)
        return _record_failure(task.pk, f"The connector crashed ({type(exc).__name__}); see the worker log")
    with transaction.atomic():
        locked = _lock(task)
        if locked.state != State.OPEN:
            return locked
        return _finish(locked, actor=SYSTEM, evidence="", connector_result=str(answer)[:EVIDENCE_MAX])


def _record_failure(task_id: int, reason: str) -> FulfilmentTask:
    with transaction.atomic():
        locked = FulfilmentTask.objects.select_for_update().get(pk=task_id)
        if locked.state == State.OPEN:
            update_object(locked, fields={"state": State.FAILED, "connector_result": reason[:EVIDENCE_MAX]})
            transaction.on_commit(lambda: notify_fulfillers(task_id))
    return locked


@job()
def run_connector(task_id: int) -> str | None:
    """The worker job: one connector run (the HTTP client retries 429 and network errors itself, bounded)."""
    task = execute_connector(task_id)
    return task.state if task is not None else None


# --- telling the provisioners ----------------------------------------------------------------------------------


def fulfillers(task: FulfilmentTask) -> list:
    """The users to tell: provisioners for a grant, deprovisioners for a revoke (provisioners when none)."""
    from gatehouse.access import grants

    system = task.entitlement.system
    if task.kind == Kind.REVOKE:
        users = list(grants.deprovisioners(system)) or list(grants.provisioners(system))
    else:
        users = list(grants.provisioners(system))
    return users


@job()
def notify_fulfillers(task_id: int) -> int:
    """Mail the people who work a task that needs them (manual work or a failed connector run)."""
    from django.conf import settings
    from django.core.mail import send_mail

    task = FulfilmentTask.objects.select_related("entitlement__system", "person").filter(pk=task_id).first()
    if task is None or task.state not in (State.MANUAL, State.FAILED):
        return 0
    try:
        recipients = sorted({(u.email or "").strip().lower() for u in fulfillers(task)} - {""})
    except ImportError:  # the grants module is not there (partial install): nothing to tell
        return 0
    if not recipients:
        return 0
    base = getattr(settings, "BASE_URL", "").rstrip("/")
    what = "needs manual work" if task.state == State.MANUAL else "failed in the connector"
    body = (
        f"{task.get_kind_display()} {task.entitlement} for {task.person} ({task.get_reason_display()}) {what}.\n"
        + (f"Due: {task.due_at:%Y-%m-%d %H:%M %Z}\n" if task.due_at else "")
        + (f"Connector: {task.connector_result}\n" if task.state == State.FAILED else "")
        + f"\n{base}{task.get_absolute_url()}\n"
    )
    send_mail(f"[Gatehouse] Access task #{task.pk}: {what}", body, None, recipients)
    return len(recipients)


__all__ = [
    "can_work",
    "complete_task",
    "create_task",
    "execute_connector",
    "fail_task",
    "get_task",
    "is_overdue",
    "retry_task",
    "run_connector",
    "security_flagged",
    "task_list",
    "visible_tasks",
]
