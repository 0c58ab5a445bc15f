"""Failed-sign-in lockouts for the admin's login form (`/admin/login/`); the API's sign-in endpoints check
them in `server.accounts.services` (see `server.accounts.login_guard`)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from server.accounts.login_guard import login_lockout_check
from server.core.errors import TooManyRequestsError


class AdminLoginGuardMiddleware:
    """A POST to the admin's login page while its username or client address is locked out gets 429
    (plain text, with Retry-After) and never reaches the password check."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path == reverse("admin:login"):
            try:
                login_lockout_check(request=request, username=request.POST.get("username", ""))
            except TooManyRequestsError as exc:
                response = HttpResponse(exc.message, status=429, content_type="text/plain; charset=utf-8")
                response["Retry-After"] = str(exc.retry_after)
                return response
        return self.get_response(request)
