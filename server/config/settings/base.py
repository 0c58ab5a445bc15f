"""Settings shared by every environment. All configuration comes from the environment.

Every setting read here is listed in `.env.example` and in the README's configuration table.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parents[3]
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(str(env_file))

SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-local-development-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "server.core",
    "server.accounts",
    "server.media",
    "server.annotations",
    "server.learning",
    "server.jobs",
    "server.datasets",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "server.config.urls"
WSGI_APPLICATION = "server.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# --- database ---------------------------------------------------------------------------
# Embedded default: an SQLite file under var/. Production: DATABASE_URL=postgres://...
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'avs_studio.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web server and worker write concurrently: wait for the lock instead of failing. IMMEDIATE takes
    # the write lock at BEGIN, so a transaction that read first never dies upgrading its lock
    # ("database is locked"): concurrent annotation saves queue up and the losers get a clean 409.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("AVS_STATIC_ROOT", default=str(VAR_DIR / "static"))
# The annotator web app (frontend/, built by `make`): index.html at `/`, assets under /static/app/.
AVS_FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
STATICFILES_DIRS = [("app", str(AVS_FRONTEND_DIST))] if AVS_FRONTEND_DIST.is_dir() else []

# --- media ------------------------------------------------------------------------------
# Media are never served from a public URL: the API checks project membership first.
MEDIA_ROOT = env.path("AVS_MEDIA_ROOT", default=str(VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": env("AVS_MEDIA_STORAGE", default="django.core.files.storage.FileSystemStorage")},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Uploads: anything above 2.5 MB goes to a temporary file (streamed, never whole in memory).
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_TEMP_DIR = env("AVS_UPLOAD_TEMP_DIR", default=None)
AVS_UPLOAD_MAX_BYTES = env.int("AVS_UPLOAD_MAX_BYTES", default=2 * 1024**3)  # 2 GiB
AVS_MAX_VIDEO_SECONDS = env.float("AVS_MAX_VIDEO_SECONDS", default=3600.0)
AVS_MAX_VIDEO_SIDE = env.int("AVS_MAX_VIDEO_SIDE", default=8192)
AVS_FRAME_JPEG_QUALITY = env.int("AVS_FRAME_JPEG_QUALITY", default=95)

# --- models (read by ml_backend.serving) ------------------------------------------------
AVS_MODEL_CONFIG = env("AVS_MODEL_CONFIG", default="")
# Memory for the SAM click endpoint's image embeddings, per web process (LRU; vit_b: 4 MiB per frame).
AVS_SAM_CACHE_BYTES = env.int("AVS_SAM_CACHE_BYTES", default=512 * 1024**2)
# Pre-annotation (queue `inference`): seconds one clip may take before its task is stopped and the clip fails.
AVS_PREANNOTATE_SOFT_TIME_LIMIT = env.int("AVS_PREANNOTATE_SOFT_TIME_LIMIT", default=1800)

# --- REST API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "server.core.pagination.DefaultPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "server.core.exceptions.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AVS Studio API",
    "DESCRIPTION": "Audio-visual segmentation annotation and active learning.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a `status` or `kind` field with different choices: name each enum.
    "ENUM_NAME_OVERRIDES": {
        "ClipStatusEnum": "server.media.models.Clip.Status",
        "AnnotationStatusEnum": "server.annotations.models.Annotation.Status",
        "AnnotationEditStatusEnum": "server.annotations.services.EDITABLE_STATUSES",
        "JobStatusEnum": "server.jobs.models.Job.Status",
        "JobKindEnum": "server.jobs.models.Job.Kind",
        "ModelVersionKindEnum": "server.learning.models.ModelVersion.Kind",
    },
}

# --- Celery -----------------------------------------------------------------------------
# Embedded default: kombu's filesystem transport under var/ (no broker server needed).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_FOLDER = env("AVS_BROKER_FOLDER", default=str(VAR_DIR / "broker"))
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": CELERY_BROKER_FOLDER,
        "data_folder_out": CELERY_BROKER_FOLDER,
        "processed_folder": CELERY_BROKER_FOLDER + "-processed",
        "control_folder": CELERY_BROKER_FOLDER + "-control",
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=4 * 3600)}
)
CELERY_RESULT_BACKEND = None  # progress and outcome live on Job rows
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_DEFAULT_QUEUE = "ingest"
CELERY_TASK_ROUTES = {
    "server.media.tasks.*": {"queue": "ingest"},
    "server.annotations.tasks.*": {"queue": "inference"},
    "server.learning.tasks.*": {"queue": "training"},
    "server.datasets.tasks.*": {"queue": "ingest"},  # exports and evaluations: CPU work beside video decoding
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("AVS_LOG_LEVEL", default="INFO")},
}
