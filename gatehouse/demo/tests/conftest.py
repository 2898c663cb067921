"""Fixtures of the demo's tests."""

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The demo's sign-ins are made with the real hasher otherwise, which is slow on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
