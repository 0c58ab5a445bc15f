"""The annotator web app: Django serves the built bundle's index.html for every client-side route."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import ensure_csrf_cookie


@ensure_csrf_cookie
def frontend_index(request: HttpRequest) -> HttpResponse:
    index = settings.AVS_FRONTEND_DIST / "index.html"
    if not index.is_file():
        return HttpResponse(
            "The web interface is not built. Run `make run` (it builds frontend/ with npm), "
            "or use the API at /api/docs/.",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(index.read_bytes(), content_type="text/html; charset=utf-8")
