#!/usr/bin/env bash
# Production web process: migrations, static files, gunicorn (put nginx in front for TLS).
set -euo pipefail
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-server.config.settings.production}"
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py collectstatic --noinput -v 0
.venv/bin/python manage.py ensure_admin
exec .venv/bin/gunicorn server.config.wsgi:application \
  --bind "${AVS_BIND:-127.0.0.1:8000}" --workers "${AVS_WEB_WORKERS:-4}" --timeout 120
