from django.urls import path

from server.annotations import views
from server.core.routing import method_route

urlpatterns = [
    path("clips/<int:clip_id>/proposals/", views.ProposalListApi.as_view(), name="clip-proposals"),
    path("proposals/<int:proposal_id>/", views.ProposalDetailApi.as_view(), name="proposal-detail"),
    path(
        "proposals/<int:proposal_id>/frames/<int:frame_index>/probability-map/",
        views.ProposalProbabilityMapApi.as_view(),
        name="proposal-probability-map",
    ),
    path("projects/<int:project_id>/preannotate/", views.ProjectPreannotateApi.as_view(), name="project-preannotate"),
    path("clips/<int:clip_id>/annotations/", views.AnnotationListApi.as_view(), name="clip-annotations"),
    path(
        "frames/<int:frame_id>/annotation/",
        method_route(get=views.AnnotationDetailApi, put=views.AnnotationUpdateApi),
        name="frame-annotation",
    ),
    path(
        "frames/<int:frame_id>/annotation/accept-proposal/",
        views.AnnotationAcceptProposalApi.as_view(),
        name="frame-annotation-accept-proposal",
    ),
    path("frames/<int:frame_id>/sam/", views.FrameSamClickApi.as_view(), name="frame-sam"),
    path(
        "clips/<int:clip_id>/propagations/",
        method_route(get=views.PropagationListApi, post=views.PropagationCreateApi),
        name="clip-propagations",
    ),
    path("propagations/<int:propagation_id>/", views.PropagationDetailApi.as_view(), name="propagation-detail"),
    path(
        "propagations/<int:propagation_id>/accept/",
        views.PropagationAcceptApi.as_view(),
        name="propagation-accept",
    ),
    path("clips/<int:clip_id>/accept-proposals/", views.ClipAcceptProposalsApi.as_view(), name="clip-accept-proposals"),
    path(
        "projects/<int:project_id>/annotations/", views.ProjectAnnotationListApi.as_view(), name="project-annotations"
    ),
    path(
        "annotations/<int:annotation_id>/revisions/",
        views.AnnotationRevisionListApi.as_view(),
        name="annotation-revisions",
    ),
    path(
        "annotations/<int:annotation_id>/reviews/",
        method_route(get=views.ReviewListApi, post=views.ReviewCreateApi),
        name="annotation-reviews",
    ),
]
