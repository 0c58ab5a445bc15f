from django.urls import path

from server.buckets import views

urlpatterns = [
    path("projects/<int:project_id>/storage/objects/", views.BucketObjectListApi.as_view(), name="bucket-objects"),
    path("projects/<int:project_id>/storage/import/", views.BucketImportApi.as_view(), name="bucket-import"),
]
