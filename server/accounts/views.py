"""API for sign-in, projects, their members and their label vocabularies.

Who may do what (see `server.accounts.selectors.project_access`): any member reads; managers
(and superusers) change settings and members; managers and annotators add labels. Outsiders get
404, members lacking the role 403, anonymous requests 401. Creating projects is for staff and users
with the `media.add_project` permission unless AVS_PROJECT_CREATORS=anyone (`project_create_allowed`).

Members are shown by username and role; a member's email and full name only to that member and to staff
(`user_personal_data_visible`), so adding someone by username or id reveals nothing personal about them.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from server.accounts.authentication import token_expires_at
from server.accounts.models import Membership, Role
from server.accounts.selectors import (
    ADMIN,
    membership_get,
    membership_list,
    project_access,
    project_create_allowed,
    user_find,
    user_membership_list,
    user_personal_data_visible,
)
from server.accounts.services import (
    auth_session_login,
    auth_session_logout,
    auth_token_obtain,
    auth_token_revoke,
    label_create,
    label_delete,
    label_update,
    membership_add,
    membership_remove,
    membership_role_update,
    project_create,
    project_delete,
    project_update,
)
from server.annotations.preannotation import project_proposer
from server.core.errors import PermissionDeniedError
from server.core.pagination import DefaultPagination, get_paginated_response
from server.media.models import Label, Project
from server.media.selectors import label_get_for_user, label_list, project_get, project_list

COLOR_PATTERN = r"^#[0-9a-fA-F]{6}$"
COLOR_MESSAGE = "Colour must look like #RRGGBB."


def _limits(field: str) -> dict[str, Any]:
    """`min_value`/`max_value` of a numeric Project field, read from the model's validators."""
    limits: dict[str, Any] = {}
    for validator in Project._meta.get_field(field).validators:
        if isinstance(validator, MinValueValidator):
            limits["min_value"] = validator.limit_value
        elif isinstance(validator, MaxValueValidator):
            limits["max_value"] = validator.limit_value
    return limits


# --- shared output shapes ----------------------------------------------------------------------


class LabelOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "name", "color"]
        ref_name = "Label"


PERSONAL_HELP = "Only for yourself and for staff; null for everyone else."


class MemberOutputSerializer(serializers.ModelSerializer):
    """A member: username and role for everyone; email and full name only where
    `user_personal_data_visible` allows (the member themself, staff), else null. Needs the request in the
    serializer's context; without one, nothing personal is shown."""

    user_id = serializers.IntegerField(source="user.id")
    username = serializers.CharField(source="user.username")
    email = serializers.EmailField(source="user.email", allow_null=True, help_text=PERSONAL_HELP)
    first_name = serializers.CharField(source="user.first_name", allow_null=True, help_text=PERSONAL_HELP)
    last_name = serializers.CharField(source="user.last_name", allow_null=True, help_text=PERSONAL_HELP)
    joined_at = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Membership
        fields = ["user_id", "username", "email", "first_name", "last_name", "role", "joined_at"]
        ref_name = "Member"

    def to_representation(self, membership: Membership) -> dict[str, Any]:
        data = super().to_representation(membership)
        request = self.context.get("request")
        if not user_personal_data_visible(viewer=getattr(request, "user", None), user=membership.user):
            data.update(email=None, first_name=None, last_name=None)
        return data


class ClipCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField(source="clip_count")
    uploaded = serializers.IntegerField(source="clips_uploaded")
    processing = serializers.IntegerField(source="clips_processing")
    ready = serializers.IntegerField(source="clips_ready")
    failed = serializers.IntegerField(source="clips_failed")

    class Meta:
        ref_name = "ProjectClipCounts"


class ProjectOutputSerializer(serializers.ModelSerializer):
    """A project as listed: settings, the caller's role, member count and clip counts per status."""

    role = serializers.CharField(help_text="Your role: manager, annotator, reviewer, or admin (superusers).")
    member_count = serializers.IntegerField()
    clip_counts = ClipCountsSerializer(source="*")

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "fps",
            "frame_max_side",
            "audio_sample_rate",
            "created_at",
            "updated_at",
            "role",
            "member_count",
            "clip_counts",
        ]
        ref_name = "Project"


class ProposerSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=["openavs", "baseline", "student"], help_text="student: a trained student promoted to proposer."
    )
    name = serializers.CharField(help_text='e.g. "openavs(audio_tagging=clap, ...)" or "synchrony-baseline".')
    reason = serializers.CharField(
        allow_null=True, help_text="Why the weight-free baseline runs instead of OpenAVS; null for OpenAVS."
    )

    class Meta:
        ref_name = "ProjectProposer"


class ProjectDetailOutputSerializer(ProjectOutputSerializer):
    members = MemberOutputSerializer(source="memberships", many=True)
    labels = LabelOutputSerializer(many=True)
    proposer = serializers.SerializerMethodField(
        help_text="The model pre-annotation runs: OpenAVS from the model configuration, or the weight-free baseline "
        "and why (decided without loading the models)."
    )

    class Meta(ProjectOutputSerializer.Meta):
        fields = [*ProjectOutputSerializer.Meta.fields, "model_config", "proposer", "members", "labels"]
        ref_name = "ProjectDetail"

    @extend_schema_field(ProposerSerializer)
    def get_proposer(self, project: Project) -> dict[str, Any]:
        return project_proposer(project=project)


class LabelInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    color = serializers.RegexField(
        COLOR_PATTERN,
        required=False,
        allow_null=True,
        error_messages={"invalid": COLOR_MESSAGE},
        help_text="#RRGGBB; omitted: the next unused colour of a fixed palette.",
    )

    class Meta:
        ref_name = "LabelInput"


# --- auth --------------------------------------------------------------------------------------


SIGN_IN_RESPONSES = {
    400: OpenApiResponse(description="Wrong username or password."),
    429: OpenApiResponse(
        description="Too many attempts: after repeated failures for this username or from this address "
        "(AVS_LOGIN_FAILURE_LIMIT, AVS_LOGIN_IP_FAILURE_LIMIT) or above AVS_AUTH_RATE; see Retry-After."
    ),
}


class AuthTokenCreateApi(APIView):
    """Failed attempts lock the username and the client address out for a while (429 with Retry-After,
    see `server.accounts.login_guard`); every attempt counts towards AVS_AUTH_RATE per address."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)

        class Meta:
            ref_name = "AuthTokenInput"

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(source="key", help_text="Send as `Authorization: Token <token>`.")
        expires_at = serializers.SerializerMethodField(
            help_text="When the token stops working (AVS_TOKEN_TTL_SECONDS after it was issued); null: never."
        )

        class Meta:
            ref_name = "AuthToken"

        @extend_schema_field(serializers.DateTimeField(allow_null=True))
        def get_expires_at(self, token: Any) -> str | None:
            expires_at = token_expires_at(token=token)
            return serializers.DateTimeField().to_representation(expires_at) if expires_at else None

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, **SIGN_IN_RESPONSES},
        auth=[],
        summary="Exchange a username and password for your API token (the same one until revoked or expired).",
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = auth_token_obtain(**serializer.validated_data, request=request._request)
        return Response(self.OutputSerializer(token).data)


class AuthTokenRevokeApi(APIView):
    @extend_schema(
        request=None,
        responses={204: None},
        summary="Revoke your API token: every client using it is signed out; the next POST /api/auth/token/ "
        "issues a new one. Your web session stays (sign out with POST /api/auth/logout/).",
    )
    def post(self, request: Request) -> Response:
        auth_token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeOutputSerializer(serializers.Serializer):
    class MembershipSerializer(serializers.Serializer):
        project_id = serializers.IntegerField()
        project_name = serializers.CharField(source="project.name")
        role = serializers.ChoiceField(choices=Role.choices)

        class Meta:
            ref_name = "MyMembership"

    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    is_superuser = serializers.BooleanField(help_text="Superusers are admins of every project.")
    memberships = MembershipSerializer(many=True)

    class Meta:
        ref_name = "Me"


def _me(user: Any) -> dict[str, Any]:
    return MeOutputSerializer(
        {
            "id": user.pk,
            "username": user.username,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "is_superuser": user.is_superuser,
            "memberships": user_membership_list(user=user),
        }
    ).data


class AuthLoginApi(APIView):
    """Session sign-in for the web app. CSRF is checked like any session write: send the `csrftoken`
    cookie's value (set by the web app's page and by GET /api/auth/me/) as `X-CSRFToken`. Throttled and
    locked out after failed attempts like POST /api/auth/token/."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)

        class Meta:
            ref_name = "LoginInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            200: MeOutputSerializer,
            **SIGN_IN_RESPONSES,
            403: OpenApiResponse(description="The CSRF check failed (no `csrftoken` cookie, or no matching header)."),
        },
        auth=[],
        summary="Sign in with a username and password; the session cookie authenticates later requests.",
    )
    def post(self, request: Request) -> Response:
        SessionAuthentication().enforce_csrf(request)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = auth_session_login(request=request._request, **serializer.validated_data)
        return Response(_me(user))


class AuthLogoutApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(request=None, responses={204: None}, summary="Sign out: end the session (tokens stay valid).")
    def post(self, request: Request) -> Response:
        auth_session_logout(request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


@method_decorator(ensure_csrf_cookie, name="dispatch")
class AuthMeApi(APIView):
    """Also sets the `csrftoken` cookie, so that a client can sign in after asking who it is."""

    @extend_schema(responses=MeOutputSerializer, summary="The signed-in user and their project roles.")
    def get(self, request: Request) -> Response:
        return Response(_me(request.user))


# --- projects ----------------------------------------------------------------------------------


class ProjectListApi(APIView):
    pagination_class = DefaultPagination

    class FilterSerializer(serializers.Serializer):
        search = serializers.CharField(required=False, allow_blank=True, help_text="Part of the project name.")

        class Meta:
            ref_name = "ProjectListFilter"

    @extend_schema(
        parameters=[FilterSerializer],
        responses=ProjectOutputSerializer(many=True),
        summary="Your projects (superusers: all), newest first, with clip counts per status.",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=ProjectOutputSerializer,
            queryset=project_list(user=request.user, **filters.validated_data),
            request=request,
            view=self,
        )


class ProjectCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        fps = serializers.FloatField(required=False, help_text="Frames kept per second.", **_limits("fps"))
        frame_max_side = serializers.IntegerField(
            required=False, help_text="Longer side of kept frames, in pixels.", **_limits("frame_max_side")
        )
        audio_sample_rate = serializers.IntegerField(
            required=False, help_text="Hz, mono.", **_limits("audio_sample_rate")
        )
        labels = LabelInputSerializer(many=True, required=False, help_text="The initial label vocabulary.")

        class Meta:
            ref_name = "ProjectCreateInput"

    @extend_schema(
        request=InputSerializer,
        responses={201: ProjectDetailOutputSerializer},
        summary="Create a project; you become its manager. Who may (AVS_PROJECT_CREATORS): by default staff and "
        "users with the 'Can add project' permission (media.add_project); others get 403.",
    )
    def post(self, request: Request) -> Response:
        if not project_create_allowed(user=request.user):
            raise PermissionDeniedError(
                "You may not create projects: creating projects is for staff and for users with the "
                "'Can add project' permission (media.add_project). Ask an administrator."
            )
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = project_create(user=request.user, **serializer.validated_data)
        project = project_get(user=request.user, project_id=project.pk)
        data = ProjectDetailOutputSerializer(project, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    @extend_schema(responses=ProjectDetailOutputSerializer, summary="A project with its members and labels (members).")
    def get(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id)
        project = project_get(user=request.user, project_id=project_id)
        return Response(ProjectDetailOutputSerializer(project, context={"request": request}).data)


class ProjectUpdateApi(APIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(required=False, allow_blank=True)
        fps = serializers.FloatField(
            required=False, help_text="Applies to clips ingested from now on.", **_limits("fps")
        )
        frame_max_side = serializers.IntegerField(required=False, **_limits("frame_max_side"))
        audio_sample_rate = serializers.IntegerField(required=False, **_limits("audio_sample_rate"))
        model_config = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=1000,
            help_text="Absolute path of the ML backend's config.json on the servers; blank: AVS_MODEL_CONFIG "
            "(administrators only: it names a file on the servers).",
        )

        class Meta:
            ref_name = "ProjectUpdateInput"

    @extend_schema(
        request=InputSerializer,
        responses=ProjectDetailOutputSerializer,
        summary="Change a project's settings (managers). New rates apply to clips ingested afterwards.",
    )
    def patch(self, request: Request, project_id: int) -> Response:
        role = project_access(user=request.user, project_id=project_id, roles=[Role.MANAGER])
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if "model_config" in serializer.validated_data and role != ADMIN:
            raise PermissionDeniedError(
                "Only administrators can change model_config: it names a file on the servers.",
                {"field": "model_config", "role": role},
            )
        project_update(project=Project.objects.get(pk=project_id), data=serializer.validated_data)
        project = project_get(user=request.user, project_id=project_id)
        return Response(ProjectDetailOutputSerializer(project, context={"request": request}).data)


class ProjectDeleteApi(APIView):
    @extend_schema(
        responses={204: None}, summary="Delete a project with all its clips, files and annotations (managers)."
    )
    def delete(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=[Role.MANAGER])
        project_delete(project=Project.objects.get(pk=project_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- members -----------------------------------------------------------------------------------


class MemberListApi(APIView):
    pagination_class = DefaultPagination

    @extend_schema(responses=MemberOutputSerializer(many=True), summary="A project's members (members).")
    def get(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=MemberOutputSerializer,
            queryset=membership_list(project_id=project_id),
            request=request,
            view=self,
        )


class MemberAddApi(APIView):
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(required=False, help_text="Either this or user_id.")
        user_id = serializers.IntegerField(required=False, help_text="Either this or username.")
        role = serializers.ChoiceField(choices=Role.choices)

        class Meta:
            ref_name = "MemberAddInput"

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if ("username" in attrs) == ("user_id" in attrs):
                raise serializers.ValidationError("Give either a username or a user_id.")
            return attrs

    @extend_schema(
        request=InputSerializer,
        responses={201: MemberOutputSerializer},
        summary="Add a user to the project with a role (managers). The answer shows their username and role, "
        "not their email or name.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=[Role.MANAGER])
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = user_find(username=data.get("username"), user_id=data.get("user_id"))
        membership = membership_add(project=Project.objects.get(pk=project_id), user=user, role=data["role"])
        data = MemberOutputSerializer(membership, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


class MemberUpdateApi(APIView):
    class InputSerializer(serializers.Serializer):
        role = serializers.ChoiceField(choices=Role.choices)

        class Meta:
            ref_name = "MemberUpdateInput"

    @extend_schema(
        request=InputSerializer,
        responses=MemberOutputSerializer,
        summary="Change a member's role (managers). The last manager cannot be demoted.",
    )
    def patch(self, request: Request, project_id: int, user_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=[Role.MANAGER])
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = membership_get(project_id=project_id, user_id=user_id)
        membership = membership_role_update(membership=membership, role=serializer.validated_data["role"])
        return Response(MemberOutputSerializer(membership, context={"request": request}).data)


class MemberRemoveApi(APIView):
    @extend_schema(
        responses={204: None}, summary="Remove a member from the project (managers). The last manager stays."
    )
    def delete(self, request: Request, project_id: int, user_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=[Role.MANAGER])
        membership_remove(membership=membership_get(project_id=project_id, user_id=user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- labels ------------------------------------------------------------------------------------


class LabelListApi(APIView):
    pagination_class = DefaultPagination

    @extend_schema(
        responses=LabelOutputSerializer(many=True), summary="A project's label vocabulary, by name (members)."
    )
    def get(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=LabelOutputSerializer,
            queryset=label_list(project_id=project_id),
            request=request,
            view=self,
        )


class LabelCreateApi(APIView):
    @extend_schema(
        request=LabelInputSerializer,
        responses={201: LabelOutputSerializer},
        summary="Add a label (managers, annotators). Names are unique per project, ignoring case.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project_access(user=request.user, project_id=project_id, roles=[Role.ANNOTATOR])
        serializer = LabelInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        label = label_create(project=Project.objects.get(pk=project_id), **serializer.validated_data)
        return Response(LabelOutputSerializer(label).data, status=status.HTTP_201_CREATED)


class LabelUpdateApi(APIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=120, required=False)
        color = serializers.RegexField(COLOR_PATTERN, required=False, error_messages={"invalid": COLOR_MESSAGE})

        class Meta:
            ref_name = "LabelUpdateInput"

    @extend_schema(
        request=InputSerializer,
        responses=LabelOutputSerializer,
        summary="Rename or recolour a label (managers). Saved annotations keep the old name.",
    )
    def patch(self, request: Request, label_id: int) -> Response:
        label = label_get_for_user(user=request.user, label_id=label_id, roles=[Role.MANAGER])
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        label = label_update(label=label, **serializer.validated_data)
        return Response(LabelOutputSerializer(label).data)


class LabelDeleteApi(APIView):
    @extend_schema(responses={204: None}, summary="Delete a label from the vocabulary (managers).")
    def delete(self, request: Request, label_id: int) -> Response:
        label_delete(label=label_get_for_user(user=request.user, label_id=label_id, roles=[Role.MANAGER]))
        return Response(status=status.HTTP_204_NO_CONTENT)
