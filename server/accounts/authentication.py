"""API token authentication with an optional lifetime.

Each user has one API token (`rest_framework.authtoken`), issued by POST /api/auth/token/ and revoked by
POST /api/auth/token/revoke/. With AVS_TOKEN_TTL_SECONDS > 0 a token expires that many seconds after it
was issued (`Token.created`): a request with it gets 401 "This token has expired..." and the token is
deleted, so the next POST /api/auth/token/ issues a new key. 0 (the default) keeps tokens until revoked.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

TOKEN_EXPIRED = "This token has expired: sign in again (POST /api/auth/token/) for a new one."


def token_expires_at(*, token: Token) -> datetime.datetime | None:
    """When the token stops working; None while AVS_TOKEN_TTL_SECONDS is 0 (no expiry)."""
    ttl = settings.AVS_TOKEN_TTL_SECONDS
    return token.created + datetime.timedelta(seconds=ttl) if ttl > 0 else None


def token_expired(*, token: Token, now: datetime.datetime | None = None) -> bool:
    expires_at = token_expires_at(token=token)
    return expires_at is not None and (now or timezone.now()) >= expires_at


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, refused (401) and deleted once older than AVS_TOKEN_TTL_SECONDS."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        user, token = super().authenticate_credentials(key)
        if token_expired(token=token):
            token.delete()
            raise exceptions.AuthenticationFailed(TOKEN_EXPIRED)
        return user, token
