from rest_framework.pagination import PageNumberPagination


class DefaultPagination(PageNumberPagination):
    """`?page=N&page_size=M` (M ≤ 500). Every list endpoint is paginated."""

    page_size_query_param = "page_size"
    max_page_size = 500
