#!/usr/bin/env bash
# One Celery worker pool. Usage: deploy/start-worker.sh ingest|inference|training [concurrency]
#   ingest    CPU pool (video decoding), concurrency = cores
#   inference GPU pool (pre-annotation), concurrency 1 per GPU
#   training  GPU pool (self-training rounds), concurrency 1
set -euo pipefail
cd "$(dirname "$0")/.."
queue="${1:?queue: ingest, inference or training}"
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-server.config.settings.production}"
exec .venv/bin/python -m celery -A server.config worker -Q "$queue" \
  --concurrency "${2:-1}" --hostname "${queue}@%h" --loglevel INFO
