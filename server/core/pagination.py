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


class CountedQuerySet:
    """A queryset whose length is known already (a stored counter): the paginator takes `count()` from here instead
    of running `COUNT(*)` over the rows, and slices the queryset for the page."""

    def __init__(self, queryset: QuerySet[Any], count: int) -> None:
        self.queryset = queryset
        self._count = max(0, count)

    def count(self) -> int:
        return self._count

    def __getitem__(self, key: Any) -> Any:
        return self.queryset[key]

    @property
    def ordered(self) -> bool:
        return self.queryset.ordered


def get_paginated_response(
    *,
    pagination_class: type[PageNumberPagination],
    serializer_class: type[BaseSerializer],
    queryset: QuerySet[Any],
    request: Request,
    view: APIView,
    count: int | None = None,
) -> Response:
    """One page of `queryset` as `{"count", "next", "previous", "results"}` (HackSoft's helper). `count`: the
    queryset's length when a counter knows it (None: counted).

    A view using it sets `pagination_class` so that drf-spectacular documents the envelope.
    """
    paginator = pagination_class()
    if count is not None:
        queryset = CountedQuerySet(queryset, count)  # type: ignore[assignment]
    page = paginator.paginate_queryset(queryset, request, view=view)
    serializer = serializer_class(page, many=True, context={"request": request})
    return paginator.get_paginated_response(serializer.data)
