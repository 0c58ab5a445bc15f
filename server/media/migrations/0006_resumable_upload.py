# The resumable (tus) uploads: server.media.models.Upload.

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0005_job_kind_propagate"),
        ("media", "0005_clip_and_project_counters"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Upload",
            fields=[
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                (
                    "filename",
                    models.CharField(help_text="The clip's name: the file name the client sent.", max_length=255),
                ),
                ("length", models.BigIntegerField(help_text="Bytes of the whole file (tus Upload-Length).")),
                ("offset", models.BigIntegerField(default=0, help_text="Bytes stored so far (tus Upload-Offset).")),
                (
                    "sha256",
                    models.CharField(
                        help_text="SHA-256 (hex) of the whole file, as declared by the client.", max_length=64
                    ),
                ),
                (
                    "metadata",
                    models.TextField(
                        blank=True, default="", help_text="The Upload-Metadata header sent at creation."
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("receiving", "Receiving"),
                            ("done", "Done"),
                            ("failed", "Failed"),
                            ("expired", "Expired"),
                        ],
                        default="receiving",
                        max_length=16,
                    ),
                ),
                ("error", models.TextField(blank=True, default="", help_text="Why the upload failed, for people.")),
                (
                    "expires_at",
                    models.DateTimeField(
                        help_text="An upload still receiving then expires (AVS_UPLOAD_EXPIRY_SECONDS)."
                    ),
                ),
                (
                    "duplicate",
                    models.BooleanField(
                        default=False, help_text="The project already had this file: nothing stored."
                    ),
                ),
                (
                    "clip",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="media.clip",
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                (
                    "job",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="jobs.job",
                    ),
                ),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="uploads", to="media.project"
                    ),
                ),
            ],
            options={
                "ordering": ["created_at"],
                "indexes": [models.Index(fields=["status", "expires_at"], name="upload_expiry")],
            },
        ),
    ]
