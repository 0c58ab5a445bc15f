from typing import Any, ClassVar

from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class CountersModel(models.Model):
    """A model with counters that services store from other rows (`counter_fields`, e.g. a clip's annotation counts).

    Saving a whole row (`save()` without `update_fields`) writes every other field but never the counters, so an
    instance read before a concurrent write cannot put back the counts that write stored. Services write counters with
    `QuerySet.update` or name them in `update_fields`.
    """

    counter_fields: ClassVar[tuple[str, ...]] = ()

    class Meta:
        abstract = True

    def save(self, **kwargs: Any) -> None:
        if kwargs.get("update_fields") is None and not self._state.adding and not kwargs.get("force_insert"):
            deferred = self.get_deferred_fields()
            kwargs["update_fields"] = [
                f.attname
                for f in self._meta.concrete_fields
                if not f.primary_key and f.name not in self.counter_fields and f.attname not in deferred
            ]
        super().save(**kwargs)
