"""Really concurrent saves from the same base version: exactly one wins, nothing is lost or mixed."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError, connection

from server.accounts.models import Role
from server.annotations.models import Annotation, AnnotationRevision
from server.annotations.services import AnnotationConflictError, annotation_update
from tests.factories import AnnotationFactory, FrameFactory, UserFactory
from tests.server.annotations.conftest import box_mask

WRITERS = 4


@pytest.mark.django_db(transaction=True)
def test_simultaneous_saves_from_one_version_have_exactly_one_winner():
    frame = FrameFactory()
    AnnotationFactory(frame=frame, version=1)
    users = [UserFactory() for _ in range(WRITERS)]
    masks = [box_mask(0, 0, 10 * (i + 1), 8) for i in range(WRITERS)]
    start = threading.Barrier(WRITERS)
    outcomes: dict[int, str] = {}

    def save(i: int) -> None:
        from django.db import connection as thread_connection

        try:
            start.wait()
            annotation_update(
                frame=frame,
                user=users[i],
                role=Role.ANNOTATOR,
                instances=[{"mask": masks[i], "label": f"source {i}"}],
                version=1,
            )
            outcomes[i] = "won"
        except AnnotationConflictError as exc:
            outcomes[i] = f"conflict at {exc.extra['current_version']}"
        except OperationalError:
            outcomes[i] = "locked"
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=save, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [i for i, outcome in outcomes.items() if outcome == "won"]
    assert len(winners) == 1, outcomes
    losers = {outcome for i, outcome in outcomes.items() if i != winners[0]}
    if connection.vendor == "postgresql":
        assert losers == {"conflict at 2"}  # each loser waited for the row lock, then saw version 2
    else:
        # SQLite's in-memory test database shares one cache between threads, which answers "table is
        # locked" instead of waiting; the file database the app uses waits (transaction_mode IMMEDIATE).
        assert losers <= {"conflict at 2", "locked"}
    stored = Annotation.objects.get(frame=frame)
    assert stored.version == 2
    assert stored.author == users[winners[0]]
    assert stored.instances == [{"mask": masks[winners[0]], "label": f"source {winners[0]}"}]
    assert list(AnnotationRevision.objects.values_list("version", flat=True)) == [2]
