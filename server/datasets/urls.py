from django.urls import path

from server.datasets import views

urlpatterns = [
    path("projects/<int:project_id>/exports/", views.ExportCreateApi.as_view(), name="project-exports"),
    path("exports/<int:job_id>/download/", views.ExportDownloadApi.as_view(), name="export-download"),
    path("projects/<int:project_id>/evaluate/", views.EvaluationStartApi.as_view(), name="project-evaluate"),
    path(
        "model-versions/<int:model_version_id>/evaluations/",
        views.EvaluationReportListApi.as_view(),
        name="model-version-evaluations",
    ),
]
