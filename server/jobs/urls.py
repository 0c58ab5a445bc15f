from django.urls import path

from server.jobs import views

urlpatterns = [
    path("projects/<int:project_id>/jobs/", views.JobListApi.as_view(), name="project-jobs"),
    path("jobs/<int:job_id>/", views.JobDetailApi.as_view(), name="job-detail"),
    path("workers/", views.WorkerHealthApi.as_view(), name="workers"),
]
