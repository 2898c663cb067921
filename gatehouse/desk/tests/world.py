"""A small desk world for part A's tests: import the `desk` fixture into a test module to use it.

The seeded defaults (gatehouse/desk/defaults.py) hold the triage queue, the default SLA policy and the seven
request types; the world gives the triage queue a helpdesk team, as an admin (or the demo) would.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.core import mail

from gatehouse.catalog.models import ContactRole, SystemContact
from gatehouse.catalog.tests.factories import SystemFactory
from gatehouse.desk.models import Queue
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory


@pytest.fixture
def desk(make_user, settings):
    """Queued jobs (mail) run at once, as the worker would after the commit."""
    from huey.contrib import djhuey

    saved = djhuey.HUEY.immediate
    djhuey.HUEY.immediate = True
    try:
        yield _world(make_user, settings)
    finally:
        djhuey.HUEY.immediate = saved


def _world(make_user, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # ten users per test
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    helpdesk = TeamFactory(slug="helpdesk", name="Helpdesk")
    Queue.objects.filter(slug="triage").update(team=helpdesk)
    triage = Queue.objects.get(slug="triage")

    alice = PersonFactory(email="alice@example.com", name="Alice", department="Sales")
    bob = PersonFactory(email="bob@example.com", name="Bob")
    analyst_person = PersonFactory(email="ana@example.com", name="Ana Analyst")
    owner_person = PersonFactory(email="olga@example.com", name="Olga Owner")
    engineer_person = PersonFactory(email="eve@example.com", name="Eve Engineer")
    outsider_person = PersonFactory(email="oscar@example.com", name="Oscar")
    business_owner = PersonFactory(email="boris@example.com", name="Boris Business-owner")

    helpdesk.members.add(analyst_person)
    okta_team = TeamFactory(slug="okta-owners", name="Okta owners", members=[owner_person, engineer_person])
    okta = SystemFactory(slug="okta", name="Okta", owner_team=okta_team, label="corpsys::okta")
    SystemContact.objects.create(system=okta, role=ContactRole.BUSINESS_OWNER, person=business_owner)
    orphan = SystemFactory(slug="orphan", name="Orphan", owner_team=None, label="corpsys::orphan")
    other_team = TeamFactory(slug="github-owners", name="GitHub owners")
    github = SystemFactory(slug="github", name="GitHub", owner_team=other_team, label="corpsys::github")

    return SimpleNamespace(
        helpdesk=helpdesk,
        triage=triage,
        okta=okta,
        okta_team=okta_team,
        orphan=orphan,
        github=github,
        github_team=other_team,
        alice_person=alice,
        bob_person=bob,
        alice=make_user(username="alice", email="alice@example.com", person=alice),
        bob=make_user(username="bob", email="bob@example.com", person=bob),
        analyst=make_user("helpdesk_analyst", username="ana", email="ana@example.com", person=analyst_person),
        owner=make_user(username="olga", email="olga@example.com", person=owner_person),
        engineer=make_user("engineer", username="eve", email="eve@example.com", person=engineer_person),
        outsider_engineer=make_user(
            "engineer", username="oscar", email="oscar@example.com", person=outsider_person
        ),
        business_owner=make_user(username="boris", email="boris@example.com", person=business_owner),
        admin=make_user("admin", username="root", email="root@example.com"),
        auditor=make_user("auditor", username="audrey", email="audrey@example.com"),
    )


CONFIG_CHANGE = {"environment": "Production", "risk": "Low", "change_summary": "Add the SCIM app."}
ACCESS = {"access_level": "Standard", "justification": "New role."}
