"""Several one-operation API views behind one URL, chosen by HTTP method.

The style keeps one `APIView` per operation (`ClipListApi`, `ClipUploadApi`), while REST paths put
several operations on one URL (`GET` and `POST /api/projects/{id}/clips/`). `method_route` joins
them without merging their classes: each request goes to the view registered for its method, with
that view's own authentication, parsers, permissions and serializers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from rest_framework.views import APIView

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def method_route(**views: type[APIView]) -> Callable[..., HttpResponseBase]:
    """A URL callback sending each HTTP method to its own view: `method_route(get=XListApi, post=XCreateApi)`.

    A method no view handles is answered by the first view given, so the client sees DRF's usual
    401/403/405 in the project's error shape. `HEAD` follows `GET`.
    """
    if not views or any(method not in HTTP_METHODS for method in views):
        raise ValueError(f"method_route takes views keyed by {', '.join(HTTP_METHODS)}; got {sorted(views)}")
    for method, view in views.items():
        if not hasattr(view, method):
            raise ValueError(f"{view.__name__} has no {method}() handler")

    handlers = {method.upper(): view.as_view() for method, view in views.items()}
    if "GET" in handlers:
        handlers["HEAD"] = handlers["GET"]
    fallback = next(iter(handlers.values()))

    def route(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return handlers.get(request.method or "", fallback)(request, *args, **kwargs)

    route.csrf_exempt = True  # type: ignore[attr-defined]  # as for APIView.as_view(); session auth checks CSRF
    # drf-spectacular (and DRF's schema enumerator) inspect `callback.cls` once per method: give them
    # a class carrying each operation's handler, with its `@extend_schema`, and the list view's paginator.
    attrs: dict[str, Any] = {method: getattr(view, method) for method, view in views.items()}
    list_view = views.get("get")
    if list_view is not None and getattr(list_view, "pagination_class", None) is not None:
        attrs["pagination_class"] = list_view.pagination_class
    names = "".join(view.__name__.removesuffix("Api") for view in views.values())
    route.cls = type(f"{names}Route", (APIView,), attrs)  # type: ignore[attr-defined]
    route.initkwargs = {}  # type: ignore[attr-defined]
    return route
