from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView


class DefaultPagination(PageNumberPagination):
    """`?page=N&page_size=M` (M ≤ 500). Every list endpoint is paginated."""

    page_size_query_param = "page_size"
    max_page_size = 500


def get_paginated_response(
    *,
    pagination_class: type[PageNumberPagination],
    serializer_class: type[BaseSerializer],
    queryset: QuerySet[Any],
    request: Request,
    view: APIView,
) -> Response:
    """One page of `queryset` as `{"count", "next", "previous", "results"}` (HackSoft's helper).

    A view using it sets `pagination_class` so that drf-spectacular documents the envelope.
    """
    paginator = pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    serializer = serializer_class(page, many=True, context={"request": request})
    return paginator.get_paginated_response(serializer.data)
