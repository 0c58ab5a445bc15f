"""Query building blocks shared by selectors."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, IntegerField, Model, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce


def subquery_count(model: type[Model], *, link: str, **filters: Any) -> Coalesce:
    """`COUNT(*)` of `model` rows whose `link` points at the outer row, as an annotation (0 when none).

    A correlated subquery: a list annotated with several counts stays one query, whatever its length.
    """
    rows = (
        model.objects.filter(**{link: OuterRef("pk")}, **filters)
        .order_by()
        .values(link)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))
