"""Fixtures of the demo's tests."""

import pytest
from django.db import transaction
from django.test import override_settings

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The demo's sign-ins are made with the real hasher otherwise, which is slow on purpose."""
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture(scope="module")
def _demo_loaded(django_db_setup, django_db_blocker):
    """The demo, loaded once per test module inside a transaction that is rolled back after the module's last
    test; each test runs in a savepoint of it (what Django's setUpTestData does), so a test's own writes, a
    second load included, are undone before the next. A test that needs an empty database goes in a module
    without this fixture (test_demo_empty_database.py): within a module, the load stays for every later test."""
    from gatehouse.core.permissions import SYSTEM
    from gatehouse.demo.services import load_demo

    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            with override_settings(PASSWORD_HASHERS=FAST_HASHERS):
                summary = load_demo(actor=SYSTEM)
            yield summary
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def demo(_demo_loaded, db):
    """The demo's load summary, with the demo in the database."""
    return _demo_loaded
