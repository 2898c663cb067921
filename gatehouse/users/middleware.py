from django.contrib.auth import logout
from django.shortcuts import redirect


class ExpiredAccessMiddleware:
    """A session outlives nothing: a user whose access expired is signed out on their next request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and (user.access_expired or not user.is_active):
            logout(request)
            if not request.path.startswith("/api/"):
                return redirect("users:login")
        return self.get_response(request)
