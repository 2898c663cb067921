"""A small company for the access request tests (part B): import the `world` fixture from here."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from gatehouse.access.tests.factories import EntitlementFactory
from gatehouse.catalog.models import ContactRole
from gatehouse.catalog.tests.factories import SystemFactory, add_contact
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory


@pytest.fixture
def world(db, make_user, settings, huey_immediate):
    settings.BASE_URL = "https://gatehouse.example.com"
    # Nine sign-ins per test: a fast hasher keeps the suite quick (the hasher is not what these tests test).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    boss = PersonFactory(name="Bea Boss", email="bea@example.com")
    manager = PersonFactory(name="Mona Manager", email="mona@example.com", manager=boss)
    member = PersonFactory(name="Lucas Member", email="lucas@example.com", manager=manager)
    colleague = PersonFactory(name="Carla Colleague", email="carla@example.com", manager=manager)
    owner = PersonFactory(name="Omar Owner", email="omar@example.com", manager=boss)
    provisioner = PersonFactory(name="Pia Provisioner", email="pia@example.com", manager=boss)
    outsider = PersonFactory(name="Otto Outsider", email="otto@example.com")
    team = TeamFactory(name="Okta owners", slug="okta-owners", members=[owner])
    okta = SystemFactory(name="Okta SSO", slug="okta-sso", owner_team=team)
    add_contact(okta, ContactRole.PROVISIONER, person=provisioner)
    crown = SystemFactory(name="Crown Jewels", slug="crown", tier=1, effective_tier=1)
    add_contact(crown, ContactRole.BUSINESS_OWNER, person=owner)
    users = SimpleNamespace(
        boss=make_user("manager", username="bea", person=boss),
        manager=make_user("manager", username="mona", person=manager),
        member=make_user(username="lucas", person=member),
        colleague=make_user(username="carla", person=colleague),
        owner=make_user("system_owner", username="omar", person=owner),
        provisioner=make_user(username="pia", person=provisioner),
        outsider=make_user(username="otto", person=outsider),
        admin=make_user("admin", username="root"),
        auditor=make_user("auditor", username="audrey"),
    )
    ents = SimpleNamespace(
        user=EntitlementFactory(system=okta, slug="okta-user", name="Okta user"),
        admin=EntitlementFactory(system=okta, slug="okta-admin", name="Okta admin", privilege="admin"),
        baseline=EntitlementFactory(system=okta, slug="okta-base", name="Okta base", is_baseline=True),
        free=EntitlementFactory(
            system=okta, slug="okta-chat", name="Okta chat group", approval_policy="none"
        ),
        owner_only=EntitlementFactory(
            system=okta, slug="okta-ro", name="Okta read", approval_policy="owner_only"
        ),
        manager_only=EntitlementFactory(
            system=okta, slug="okta-mgr", name="Okta manager-only", approval_policy="manager_only"
        ),
        crown=EntitlementFactory(
            system=crown, slug="crown-read", name="Crown read", approval_policy="owner_only"
        ),
        closed=EntitlementFactory(system=okta, slug="okta-closed", name="Okta closed", is_requestable=False),
        short=EntitlementFactory(system=okta, slug="okta-short", name="Okta short", max_duration_days=30),
    )
    return SimpleNamespace(
        people=SimpleNamespace(
            boss=boss,
            manager=manager,
            member=member,
            colleague=colleague,
            owner=owner,
            provisioner=provisioner,
            outsider=outsider,
        ),
        users=users,
        ents=ents,
        okta=okta,
        crown=crown,
        team=team,
    )
