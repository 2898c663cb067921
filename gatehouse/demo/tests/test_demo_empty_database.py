"""The demo on an empty database: the command, its refusal of a database with other data, and the remediation
its import queues. Kept apart from the modules that share one loaded demo (conftest.py)."""

import io

import pytest
from django.core.management import call_command

from gatehouse.audit.models import AuditEvent
from gatehouse.core.permissions import SYSTEM
from gatehouse.demo.services import DemoError, load_demo, read_data
from gatehouse.desk.models import Request
from gatehouse.directory.models import Person
from gatehouse.endpoints.models import Remediation
from gatehouse.users.models import User

PASSWORD = read_data("users.yml")["password"]


def test_the_command_is_audited_as_cli_and_prints_the_sign_ins(db):
    out = io.StringIO()
    call_command("demo", stdout=out)
    text = out.getvalue()
    assert "People: " in text and "Systems: 20 (20 new)" in text and "Users: 10 (10 new)" in text
    assert f"owner       {PASSWORD}  System owner" in text
    events = AuditEvent.objects.all()
    assert events.count() > 200
    assert set(events.values_list("source", flat=True)) == {"cli"}
    assert events.filter(actor_label__startswith="cli:").count() == events.count()
    # The password appears nowhere in the trail, hashed or not.
    user_events = events.filter(object_type="users.user")
    assert user_events.count() == 10
    assert all("password" not in e.changes for e in user_events)


def test_the_demo_refuses_a_database_with_other_data(db):
    from gatehouse.directory.services import create_person

    create_person(actor=SYSTEM, email="real.person@example.com", name="Real Person")
    events = AuditEvent.objects.count()
    with pytest.raises(DemoError, match=r"real\.person@example\.com"):
        load_demo(actor=SYSTEM)
    assert Person.objects.count() == 1
    assert AuditEvent.objects.count() == events
    assert not User.objects.exists()


def test_the_queued_remediation_after_the_commit_files_nothing_more(
    db, django_capture_on_commit_callbacks, huey_immediate
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        load_demo(actor=SYSTEM)
        filed = Remediation.objects.count()
        requests = Request.objects.count()
    assert callbacks and filed > 20
    assert Remediation.objects.count() == filed and Request.objects.count() == requests
