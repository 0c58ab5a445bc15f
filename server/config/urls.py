from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from server.core.views import frontend_index

api_patterns = [
    path("", include("server.accounts.urls")),
    path("", include("server.media.urls")),
    path("", include("server.annotations.urls")),
    path("", include("server.learning.urls")),
    path("", include("server.jobs.urls")),
    path("", include("server.datasets.urls")),
    path("", include("server.labelstudio.api_urls")),
    path("", include("server.buckets.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("ls/", include("server.labelstudio.urls")),  # Label Studio's ML backend, webhooks and task media
    # Client-side routes of the web app; never a file-like path (a dot in the last segment) nor media/ or ls/.
    re_path(r"^(?!api/|admin/|static/|media/|ls/)(?![^?]*\.[^/]*/?$).*$", frontend_index, name="frontend"),
]

# Under /api/, errors raised outside the API views (no matching operation, a crash) answer in the API's shape.
handler400 = "server.core.views.bad_request"
handler403 = "server.core.views.permission_denied"
handler404 = "server.core.views.page_not_found"
handler500 = "server.core.views.server_error"
