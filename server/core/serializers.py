"""Serializers shared by several apps' APIs."""

from __future__ import annotations

from rest_framework import serializers


class UserSummarySerializer(serializers.Serializer):
    """Who did something: `{"id", "username"}`."""

    id = serializers.IntegerField()
    username = serializers.CharField()

    class Meta:
        ref_name = "UserSummary"
