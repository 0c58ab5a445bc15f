"""Settings shared by every environment. All configuration comes from the environment.

Every setting read here is listed in `.env.example` and in the README's configuration table.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parents[3]
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(str(env_file))

SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-local-development-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])


def https_origins(hosts: list[str]) -> list[str]:
    """CSRF trusted origins for allowed hosts: `https://host`; `.example.org` → `https://*.example.org`."""
    return [f"https://*{host}" if host.startswith(".") else f"https://{host}" for host in hosts if host != "*"]


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
    "server.labelstudio",
    "server.buckets",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "server.accounts.middleware.AdminLoginGuardMiddleware",  # failed-sign-in lockouts on /admin/login/
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
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- accounts and sign-in (server/accounts) ----------------------------------------------
# Who may create projects: "staff" (staff users, superusers and users granted the media.add_project
# permission, directly or through a group) or "anyone" (every signed-in user).
AVS_PROJECT_CREATORS = env("AVS_PROJECT_CREATORS", default="staff")
if AVS_PROJECT_CREATORS not in ("staff", "anyone"):
    raise ImproperlyConfigured(f"AVS_PROJECT_CREATORS must be 'staff' or 'anyone', not '{AVS_PROJECT_CREATORS}'.")
# API tokens expire this many seconds after they were issued (0: never); an expired token is deleted on use.
AVS_TOKEN_TTL_SECONDS = env.int("AVS_TOKEN_TTL_SECONDS", default=0)
# Failed sign-ins (API token, web app, admin): after this many failures for one username (or from one client
# address) within AVS_LOGIN_LOCKOUT_SECONDS, further attempts get 429 until that window ends.
AVS_LOGIN_FAILURE_LIMIT = env.int("AVS_LOGIN_FAILURE_LIMIT", default=5)
AVS_LOGIN_IP_FAILURE_LIMIT = env.int("AVS_LOGIN_IP_FAILURE_LIMIT", default=20)
AVS_LOGIN_LOCKOUT_SECONDS = env.int("AVS_LOGIN_LOCKOUT_SECONDS", default=900)
# Behind a reverse proxy that terminates TLS and sets X-Forwarded-Proto and X-Forwarded-For (deploy/nginx.conf):
# requests it marks https are secure, and client addresses (throttles, lockouts) come from X-Forwarded-For.
AVS_BEHIND_TLS_PROXY = env.bool("AVS_BEHIND_TLS_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if AVS_BEHIND_TLS_PROXY else None
# Proxies in front of the web server that append to X-Forwarded-For (0: use the connection's address).
AVS_NUM_PROXIES = env.int("AVS_NUM_PROXIES", default=1 if AVS_BEHIND_TLS_PROXY else 0)
# Lockout counters and throttles live in this cache: use a shared one (redis://...) with several web processes.
CACHES = {"default": env.cache_url("AVS_CACHE_URL", default="locmemcache://")}

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
# Media in an S3-compatible bucket (AWS S3, MinIO, Ceph, ...; README "Media in a bucket"): set AVS_MEDIA_STORAGE to
# storages.backends.s3.S3Storage and AVS_S3_BUCKET; the web server and the workers then share no folder. The
# endpoint, region and keys are also those `manage.py ingest s3://...` and "Add videos from storage" list and read
# with (empty keys: boto3's own chain, e.g. an instance role).
S3_MEDIA_BACKENDS = ("storages.backends.s3.S3Storage", "storages.backends.s3boto3.S3Boto3Storage")
AVS_S3_BUCKET = env("AVS_S3_BUCKET", default="")
AVS_S3_ENDPOINT_URL = env("AVS_S3_ENDPOINT_URL", default="")  # empty: AWS; e.g. http://minio:9000
AVS_S3_REGION = env("AVS_S3_REGION", default="")
AVS_S3_ACCESS_KEY_ID = env("AVS_S3_ACCESS_KEY_ID", default="")
AVS_S3_SECRET_ACCESS_KEY = env("AVS_S3_SECRET_ACCESS_KEY", default="")
# "path" (http://host/bucket/key: MinIO and most self-hosted stores), "virtual" (http://bucket.host/key) or "auto".
AVS_S3_ADDRESSING_STYLE = env("AVS_S3_ADDRESSING_STYLE", default="auto")
# Seconds one connection attempt or read may take; failed requests are tried this many times in all.
AVS_S3_TIMEOUT = env.float("AVS_S3_TIMEOUT", default=30.0)
AVS_S3_MAX_ATTEMPTS = env.int("AVS_S3_MAX_ATTEMPTS", default=3)
# Lifetime (seconds) of the presigned URLs media downloads redirect to (AVS_MEDIA_DELIVERY=redirect).
AVS_S3_URL_EXPIRE_SECONDS = env.int("AVS_S3_URL_EXPIRE_SECONDS", default=300)
# How the API hands out a stored file once it has checked membership: "stream" (through the web server) or, for
# media in a bucket, "redirect" (302 to a presigned URL of the bucket, which browsers must then be able to reach).
AVS_MEDIA_DELIVERY = env("AVS_MEDIA_DELIVERY", default="stream")
# Buckets (or bucket/prefix) the web app's "Add videos from storage" may list and import from, e.g.
# "raw-videos,team-b/2026"; empty: that import is off (`manage.py ingest s3://...` is not limited).
AVS_IMPORT_BUCKETS = env.list("AVS_IMPORT_BUCKETS", default=[])
# Objects one listing of a bucket prefix shows at most (the rest: list a narrower prefix).
AVS_IMPORT_MAX_OBJECTS = env.int("AVS_IMPORT_MAX_OBJECTS", default=1000)
if AVS_MEDIA_DELIVERY not in ("stream", "redirect"):
    raise ImproperlyConfigured(f"AVS_MEDIA_DELIVERY must be 'stream' or 'redirect', not '{AVS_MEDIA_DELIVERY}'.")
if AVS_S3_ADDRESSING_STYLE not in ("auto", "path", "virtual"):
    raise ImproperlyConfigured(
        f"AVS_S3_ADDRESSING_STYLE must be 'auto', 'path' or 'virtual', not '{AVS_S3_ADDRESSING_STYLE}'."
    )
if AVS_S3_TIMEOUT <= 0 or AVS_S3_MAX_ATTEMPTS < 1 or AVS_S3_URL_EXPIRE_SECONDS < 1 or AVS_IMPORT_MAX_OBJECTS < 1:
    raise ImproperlyConfigured(
        "AVS_S3_TIMEOUT must be positive and AVS_S3_MAX_ATTEMPTS, AVS_S3_URL_EXPIRE_SECONDS and "
        "AVS_IMPORT_MAX_OBJECTS at least 1."
    )


def s3_options(**overrides: object) -> dict:
    """Keyword arguments of django-storages' S3Storage for the media bucket, from the AVS_S3_* settings above (each may
    be overridden by name, e.g. `AVS_S3_BUCKET="other"`). Names are never overwritten (a second file of the same name
    gets a suffix, as on a local disk); a file read from the bucket is buffered in memory up to 16 MiB, on disk
    beyond."""
    from botocore.config import Config

    names = [name for name in globals() if name.startswith("AVS_S3_")]
    unknown = set(overrides) - set(names)
    if unknown:
        raise ImproperlyConfigured(f"s3_options: no such setting {sorted(unknown)}")
    value = {**{name: globals()[name] for name in names}, **overrides}
    style = value["AVS_S3_ADDRESSING_STYLE"]
    return {
        "bucket_name": value["AVS_S3_BUCKET"],
        "endpoint_url": value["AVS_S3_ENDPOINT_URL"] or None,
        "region_name": value["AVS_S3_REGION"] or None,
        "access_key": value["AVS_S3_ACCESS_KEY_ID"] or None,
        "secret_key": value["AVS_S3_SECRET_ACCESS_KEY"] or None,
        "addressing_style": None if style == "auto" else style,
        "signature_version": "s3v4",
        "querystring_auth": True,
        "querystring_expire": value["AVS_S3_URL_EXPIRE_SECONDS"],
        "file_overwrite": False,
        "default_acl": None,
        "max_memory_size": 16 * 1024**2,
        "client_config": Config(
            connect_timeout=value["AVS_S3_TIMEOUT"],
            read_timeout=value["AVS_S3_TIMEOUT"],
            retries={"max_attempts": value["AVS_S3_MAX_ATTEMPTS"], "mode": "standard"},
            s3={"addressing_style": style},
            signature_version="s3v4",
        ),
    }


if STORAGES["default"]["BACKEND"] in S3_MEDIA_BACKENDS:
    if not AVS_S3_BUCKET:
        raise ImproperlyConfigured(
            f"AVS_MEDIA_STORAGE is {STORAGES['default']['BACKEND']}: set AVS_S3_BUCKET to the media bucket's name "
            "(and AVS_S3_ENDPOINT_URL for a store other than AWS S3)."
        )
    STORAGES["default"]["OPTIONS"] = s3_options()

# Uploads: anything above 2.5 MB goes to a temporary file (streamed, never whole in memory).
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_TEMP_DIR = env("AVS_UPLOAD_TEMP_DIR", default=None)
AVS_UPLOAD_MAX_BYTES = env.int("AVS_UPLOAD_MAX_BYTES", default=2 * 1024**3)  # 2 GiB
# Resumable uploads (tus 1.0.0, POST /api/uploads/; README "Uploads"): received bytes are appended to a part file in
# this local folder of the web server (several web processes on one machine share it; several web machines need it
# on a shared volume or sticky routing per upload), then the complete file is checked and stored in media storage
# (a bucket too). An upload left incomplete this many seconds after its last write expires and its part is deleted
# (`manage.py uploads_expire`, also run on each new upload). The web app sends PATCH bodies of this many bytes.
AVS_UPLOAD_DIR = env("AVS_UPLOAD_DIR", default=str(VAR_DIR / "uploads"))
AVS_UPLOAD_EXPIRY_SECONDS = env.int("AVS_UPLOAD_EXPIRY_SECONDS", default=24 * 3600)
AVS_UPLOAD_CHUNK_BYTES = env.int("AVS_UPLOAD_CHUNK_BYTES", default=16 * 1024**2)
if AVS_UPLOAD_EXPIRY_SECONDS < 60:
    raise ImproperlyConfigured("AVS_UPLOAD_EXPIRY_SECONDS must be at least 60.")
if AVS_UPLOAD_CHUNK_BYTES < 64 * 1024:
    raise ImproperlyConfigured("AVS_UPLOAD_CHUNK_BYTES must be at least 65536 (64 KiB).")
AVS_MAX_VIDEO_SECONDS = env.float("AVS_MAX_VIDEO_SECONDS", default=3600.0)
AVS_MAX_VIDEO_SIDE = env.int("AVS_MAX_VIDEO_SIDE", default=8192)
AVS_FRAME_JPEG_QUALITY = env.int("AVS_FRAME_JPEG_QUALITY", default=95)
# Non-file request bodies (JSON, form fields) above this get 413 (DRF reads JSON and form bodies through
# `request.body`, which Django bounds by it). A frame's annotation is one JSON body: 256 instances of a ragged
# 4K mask (~50 kB of RLE counts each) come to ~13 MB, above Django's 2.5 MB default.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("AVS_REQUEST_BODY_MAX_BYTES", default=16 * 1024**2)

# --- annotations ------------------------------------------------------------------------
# One save may hold at most this many instances, and add at most this many labels the project does not have.
AVS_MAX_INSTANCES_PER_ANNOTATION = env.int("AVS_MAX_INSTANCES_PER_ANNOTATION", default=256)
AVS_MAX_NEW_LABELS_PER_REQUEST = env.int("AVS_MAX_NEW_LABELS_PER_REQUEST", default=32)

# --- models (read by ml_backend.serving) ------------------------------------------------
AVS_MODEL_CONFIG = env("AVS_MODEL_CONFIG", default="")
# What model configurations may name (server/learning/model_policy.py; README, "Who may name code and files"):
# every model file must lie inside AVS_MODEL_ROOT (symlinks followed); left empty, every configuration is refused,
# except under the local settings of `make run` (AVS_MODEL_ROOT_REQUIRED = False there), where any path goes.
AVS_MODEL_ROOT = env("AVS_MODEL_ROOT", default="")
AVS_MODEL_ROOT_REQUIRED = True
# A configuration's `allow_network` (model downloads from a hub) is refused unless this is true.
AVS_MODEL_ALLOW_NETWORK = env.bool("AVS_MODEL_ALLOW_NETWORK", default=False)
# A `models.sam.builder` outside ml_backend's own build_* functions (arbitrary code) is refused unless this is true.
AVS_MODEL_ALLOW_CUSTOM_BUILDERS = env.bool("AVS_MODEL_ALLOW_CUSTOM_BUILDERS", default=False)
# Memory for loaded models per process (bytes of their weights; least recently used out): 8 GiB holds two full
# OpenAVS model sets in float32.
AVS_MODEL_CACHE_BYTES = env.int("AVS_MODEL_CACHE_BYTES", default=8 * 1024**3)
# Memory for the SAM click endpoint's image embeddings, per web process (LRU; vit_b: 4 MiB per frame).
AVS_SAM_CACHE_BYTES = env.int("AVS_SAM_CACHE_BYTES", default=512 * 1024**2)
# SAM clicks per user (DRF rate: "10/second", "300/minute"; counted in the cache, AVS_CACHE_URL) and running at
# once per web process (more wait up to AVS_SAM_WAIT_SECONDS, then get 503 with Retry-After).
AVS_SAM_CLICK_RATE = env("AVS_SAM_CLICK_RATE", default="10/second")
AVS_SAM_MAX_CONCURRENT = env.int("AVS_SAM_MAX_CONCURRENT", default=2)
AVS_SAM_WAIT_SECONDS = env.float("AVS_SAM_WAIT_SECONDS", default=1.0)
# Pre-annotation (queue `inference`): seconds one clip may take before its task is stopped and the clip fails.
AVS_PREANNOTATE_SOFT_TIME_LIMIT = env.int("AVS_PREANNOTATE_SOFT_TIME_LIMIT", default=1800)
# Clips are proposed from their stored frames, this many frames read at once (memory does not grow with the clip);
# clips with more frames than the budget are refused with a message (3600: an hour at 1 fps).
AVS_PREANNOTATE_CHUNK_FRAMES = env.int("AVS_PREANNOTATE_CHUNK_FRAMES", default=16)
AVS_PREANNOTATE_MAX_FRAMES = env.int("AVS_PREANNOTATE_MAX_FRAMES", default=3600)
if AVS_PREANNOTATE_CHUNK_FRAMES < 1 or AVS_PREANNOTATE_MAX_FRAMES < 1:
    raise ImproperlyConfigured("AVS_PREANNOTATE_CHUNK_FRAMES and AVS_PREANNOTATE_MAX_FRAMES must be at least 1.")
# Mask propagation in the annotator (queue `inference`, the configuration's models.tracker): frames one propagation
# may track (an explicit longer range is refused; "to the clip's end" stops there), and seconds it may take.
AVS_PROPAGATION_MAX_FRAMES = env.int("AVS_PROPAGATION_MAX_FRAMES", default=600)
AVS_PROPAGATION_SOFT_TIME_LIMIT = env.int("AVS_PROPAGATION_SOFT_TIME_LIMIT", default=1800)
if AVS_PROPAGATION_MAX_FRAMES < 2 or AVS_PROPAGATION_SOFT_TIME_LIMIT < 1:
    raise ImproperlyConfigured(
        "AVS_PROPAGATION_MAX_FRAMES must be at least 2 and AVS_PROPAGATION_SOFT_TIME_LIMIT at least 1."
    )
# What a proposal keeps besides masks (media storage): per frame an 8-bit probability map (PNG) whose longer side is
# at most this many pixels, per clip an evidence file (.npz: audio tags, audio and visual embeddings) of at most this
# many bytes (embeddings are pooled over consecutive frames until it fits).
AVS_PROBABILITY_MAP_MAX_SIDE = env.int("AVS_PROBABILITY_MAP_MAX_SIDE", default=256)
AVS_PROPOSAL_EVIDENCE_MAX_BYTES = env.int("AVS_PROPOSAL_EVIDENCE_MAX_BYTES", default=8 * 1024**2)
if AVS_PROBABILITY_MAP_MAX_SIDE < 1:
    raise ImproperlyConfigured("AVS_PROBABILITY_MAP_MAX_SIDE must be at least 1.")
if AVS_PROPOSAL_EVIDENCE_MAX_BYTES < 65536:
    raise ImproperlyConfigured("AVS_PROPOSAL_EVIDENCE_MAX_BYTES must be at least 65536 (64 KiB).")
# Self-training rounds (queue `training`): seconds a round may take before it is stopped and fails (its hard limit
# is 5 minutes more; CELERY_VISIBILITY_TIMEOUT must exceed that), the most frames one round trains on (accepted
# annotations first, then pseudo-labels, evenly subsampled), and the workers' local folder for per-epoch checkpoints
# and the students they run (checkpoints are also mirrored to media storage, so a round resumes on another machine).
AVS_TRAINING_SOFT_TIME_LIMIT = env.int("AVS_TRAINING_SOFT_TIME_LIMIT", default=2 * 3600)
AVS_TRAINING_MAX_ITEMS = env.int("AVS_TRAINING_MAX_ITEMS", default=2000)
AVS_TRAINING_DIR = env("AVS_TRAINING_DIR", default=str(VAR_DIR / "training"))
if AVS_TRAINING_SOFT_TIME_LIMIT < 1 or AVS_TRAINING_MAX_ITEMS < 1:
    raise ImproperlyConfigured("AVS_TRAINING_SOFT_TIME_LIMIT and AVS_TRAINING_MAX_ITEMS must be at least 1.")

# --- REST API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "server.accounts.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "server.core.pagination.DefaultPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "server.core.schema.ApiAutoSchema",  # documents every error response
    "EXCEPTION_HANDLER": "server.core.exceptions.api_exception_handler",
    "NUM_PROXIES": AVS_NUM_PROXIES,
    # Sign-in endpoints (POST /api/auth/token/, /api/auth/login/), per client address, successes included.
    "DEFAULT_THROTTLE_RATES": {"auth": env("AVS_AUTH_RATE", default="30/minute")},
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
        "StudentKindEnum": "server.learning.models.LearningSettings.StudentKind",
        "TrainingRoundStatusEnum": "server.learning.models.TrainingRound.Status",
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
    "server.labelstudio.tasks.*": {"queue": "ingest"},  # Label Studio pushes, pulls and webhook events: short CPU work
    "server.buckets.tasks.*": {"queue": "ingest"},  # import from a bucket: downloads, then uploads as clips
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis/SQS: CELERY_VISIBILITY_TIMEOUT must exceed the longest task time limit; workers refuse to start otherwise.
# A task item whose deliveries killed their worker (out of memory?) this many times in a row is failed, not retried.
AVS_TASK_MAX_DELIVERIES = env.int("AVS_TASK_MAX_DELIVERIES", default=3)
# Worker health (GET /api/workers/, a queued job's waiting_reason): how long one `active_queues` broadcast waits for
# the workers' replies (seconds), and how long its answer is cached (seconds, in the default cache).
AVS_WORKER_INSPECT_TIMEOUT = env.float("AVS_WORKER_INSPECT_TIMEOUT", default=1.0)
AVS_WORKER_HEALTH_TTL = env.int("AVS_WORKER_HEALTH_TTL", default=10)

# --- Label Studio bridge (server.labelstudio; README "Label Studio") ---
# How Label Studio and its annotators' browsers reach this server (task media URLs, the ML-backend URL pushed).
AVS_PUBLIC_URL = env("AVS_PUBLIC_URL", default="http://127.0.0.1:8000")
# HTTP Basic credentials Label Studio presents on /ls/* (ML backend and webhooks); the bridge is off while unset.
AVS_LS_BASIC_AUTH_USER = env("AVS_LS_BASIC_AUTH_USER", default="")
AVS_LS_BASIC_AUTH_PASS = env("AVS_LS_BASIC_AUTH_PASS", default="")
# Lifetime of the signed media URLs in pushed tasks (seconds); a later push renews them.
AVS_LS_MEDIA_URL_MAX_AGE = env.int("AVS_LS_MEDIA_URL_MAX_AGE", default=30 * 24 * 3600)
# Seconds one call to Label Studio's API may take before a push or pull gives up with a readable error.
AVS_LS_TIMEOUT = env.float("AVS_LS_TIMEOUT", default=30.0)
# Tasks sent per import call during a push.
AVS_LS_PUSH_BATCH = env.int("AVS_LS_PUSH_BATCH", default=100)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("AVS_LOG_LEVEL", default="INFO")},
}
