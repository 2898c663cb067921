"""Sign-in, sign-out and the profile page with API tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from gatehouse.core.views import apply_service_errors
from gatehouse.users.forms import LoginForm, TokenForm
from gatehouse.users.roles import ROLES
from gatehouse.users.selectors import tokens_of
from gatehouse.users.services import LockedOut, create_api_token, revoke_api_token, sign_in


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return settings.LOGIN_REDIRECT_URL


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def login(request):
    """Throttled sign-in: once locked out, the password is not even checked until the lockout ends."""
    if request.user.is_authenticated:
        return redirect(_next_url(request))
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = sign_in(request, form.cleaned_data["username"], form.cleaned_data["password"])
        except LockedOut:
            minutes = settings.LOGIN_LOCKOUT_MINUTES
            form.add_error(None, f"Too many failed sign-ins; try again in {minutes} minutes.")
            status = 429
        else:
            if user is not None:
                auth_login(request, user)
                return redirect(_next_url(request))
            form.add_error(None, "Wrong username or password.")
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    return render(request, "users/login.html", {"form": form, "next": next_url}, status=status)


@require_POST
def logout(request):
    auth_logout(request)
    return redirect(settings.LOGOUT_REDIRECT_URL)


def _profile(request, form=None, new_token=None, secret: str = "", status: int = 200):
    user = request.user
    context = {
        "form": form or TokenForm(),
        "tokens": tokens_of(user),
        "roles": sorted(ROLES[name]["label"] for name in user.role_names() if name in ROLES),
        "new_token": new_token,
        "secret": secret,
        "title": "Your profile",
        "read_only_forced": user.has_role("auditor"),
    }
    response = render(request, "users/profile.html", context, status=status)
    response["Cache-Control"] = "no-store"  # the page may hold a token's secret
    return response


@login_required
@never_cache
def profile(request):
    return _profile(request)


@login_required
@require_POST
def token_create(request):
    """Create a token and show its secret on this response only: it is stored as a hash and never shown again."""
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            token, secret = create_api_token(actor=request.user, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            return _profile(request, new_token=token, secret=secret)
    return _profile(request, form=form, status=422)


@login_required
@require_POST
def token_revoke(request, pk: int):
    token = get_object_or_404(tokens_of(request.user), pk=pk)
    revoke_api_token(token, actor=request.user)
    messages.success(request, f"Revoked token {token}.")
    return redirect("users:profile")
