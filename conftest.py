"""Fixtures shared by every app's tests."""

from __future__ import annotations

import pytest

from gatehouse.core import context
from gatehouse.core.context import Source


@pytest.fixture(autouse=True)
def _isolated_change_context():
    with context.change_context(source=Source.SYSTEM, request_id="", actor=None, actor_label="test"):
        yield


@pytest.fixture
def huey_immediate():
    """Jobs run in this process when queued (Huey's immediate mode, in-memory storage)."""
    from huey.contrib import djhuey

    huey = djhuey.HUEY
    saved = huey.immediate
    huey.immediate = True
    try:
        yield huey
    finally:
        huey.storage.flush_all()
        huey.immediate = saved


@pytest.fixture
def make_user(db):
    from gatehouse.users.tests.factories import UserFactory

    def make(*roles: str, person=None, **fields):
        user = UserFactory(roles=list(roles), **fields)
        if person is not None:
            user.person = person
            user.save(update_fields=["person"])
        return user

    return make


@pytest.fixture
def admin_user(make_user):
    return make_user("admin", username="admin-user")


@pytest.fixture
def member_user(make_user):
    return make_user(username="member-user")


@pytest.fixture
def auditor_user(make_user):
    return make_user("auditor", username="auditor-user")


@pytest.fixture
def client_for(client):
    """A test client signed in as the given user."""

    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def token_for(db):
    """An API token for the user: returns the Authorization header value."""
    from gatehouse.core.permissions import SYSTEM
    from gatehouse.users.services import create_api_token

    def make(user, read_only: bool = False) -> str:
        _, raw = create_api_token(actor=SYSTEM, user=user, name="test", read_only=read_only)
        return f"Bearer {raw}"

    return make


@pytest.fixture
def shared_data():
    """../shared/data/ beside the project; tests that need it skip, saying why, where it is absent."""
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"{path} is absent: the real-world sample files live beside the project, not in it")
    return path
