"""Serializers shared by several apps' APIs."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


def json_nul_free(value: Any) -> None:
    """Validator of free-form JSON input (dicts, lists, strings at any depth, keys included): refuse NUL
    characters, which PostgreSQL cannot store in text or jsonb (the request would fail with a 500)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise serializers.ValidationError("Text cannot contain NUL characters (\\u0000).")
        elif isinstance(item, dict):
            pending += [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple):
            pending += item


class UserSummarySerializer(serializers.Serializer):
    """Who did something: `{"id", "username"}`."""

    id = serializers.IntegerField()
    username = serializers.CharField()

    class Meta:
        ref_name = "UserSummary"
