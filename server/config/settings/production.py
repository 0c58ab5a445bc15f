"""Production: PostgreSQL, Redis/RabbitMQ broker, secrets and hosts from the environment.

HTTPS only, behind a reverse proxy that terminates TLS (deploy/nginx.conf): `manage.py check --deploy`
passes with these defaults.
"""

from .base import *  # noqa: F403
from .base import REST_FRAMEWORK, env, https_origins

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")  # required: no default in production
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Sign-in from the web app sends `Origin: https://<host>`: trusted for every allowed host unless listed here.
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=https_origins(ALLOWED_HOSTS))

# TLS ends at the proxy, which sets X-Forwarded-Proto (so Django knows the request was https: redirects,
# CSRF origin checks and absolute media URLs) and X-Forwarded-For. false: gunicorn is reached directly.
AVS_BEHIND_TLS_PROXY = env.bool("AVS_BEHIND_TLS_PROXY", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if AVS_BEHIND_TLS_PROXY else None
AVS_NUM_PROXIES = env.int("AVS_NUM_PROXIES", default=1 if AVS_BEHIND_TLS_PROXY else 0)
REST_FRAMEWORK = {**REST_FRAMEWORK, "NUM_PROXIES": AVS_NUM_PROXIES}
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# HSTS: browsers refuse plain http for this long. Try a new host with a small value (e.g. 3600) first;
# set DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS=false while sibling subdomains still serve plain http.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)  # one year
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    raise RuntimeError("production settings need DATABASE_URL pointing at PostgreSQL")
