from django.urls import path

from server.accounts import views
from server.core.routing import method_route

urlpatterns = [
    path("auth/token/", views.AuthTokenCreateApi.as_view(), name="auth-token"),
    path("auth/token/revoke/", views.AuthTokenRevokeApi.as_view(), name="auth-token-revoke"),
    path("auth/login/", views.AuthLoginApi.as_view(), name="auth-login"),
    path("auth/logout/", views.AuthLogoutApi.as_view(), name="auth-logout"),
    path("auth/me/", views.AuthMeApi.as_view(), name="auth-me"),
    path("projects/", method_route(get=views.ProjectListApi, post=views.ProjectCreateApi), name="project-list"),
    path(
        "projects/<int:project_id>/",
        method_route(get=views.ProjectDetailApi, patch=views.ProjectUpdateApi, delete=views.ProjectDeleteApi),
        name="project-detail",
    ),
    path(
        "projects/<int:project_id>/members/",
        method_route(get=views.MemberListApi, post=views.MemberAddApi),
        name="project-members",
    ),
    path(
        "projects/<int:project_id>/members/<int:user_id>/",
        method_route(patch=views.MemberUpdateApi, delete=views.MemberRemoveApi),
        name="project-member",
    ),
    path(
        "projects/<int:project_id>/labels/",
        method_route(get=views.LabelListApi, post=views.LabelCreateApi),
        name="project-labels",
    ),
    path(
        "labels/<int:label_id>/",
        method_route(patch=views.LabelUpdateApi, delete=views.LabelDeleteApi),
        name="label-detail",
    ),
]
