"""The annotator web app: Django serves the built bundle's index.html for every client-side route.

Also Django's error views (`handler400/403/404/500` in the URLconf): under `/api/` they answer in the API's
error shape (`{"message": str, "extra": {...}}`), so a client gets JSON even where no API view ran (a URL
that matches no operation, an error before or outside DRF); elsewhere Django's own pages.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import ensure_csrf_cookie

API_PREFIX = "/api/"


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


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _api_error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"message": message, "extra": {}}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _api_error("The request was refused as malformed or unsafe.", 400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _api_error("You do not have permission to perform this action.", 403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _api_error("No API operation at this URL (the operations are listed at /api/docs/).", 404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return _api_error("Server error: the request failed on our side and was logged.", 500)
    return defaults.server_error(request)
