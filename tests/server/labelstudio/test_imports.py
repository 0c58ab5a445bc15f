"""One Label Studio annotation → ours (`server.labelstudio.imports`): import, idempotency, updates as new versions,
conflicts with local edits, retraction, authorship and the connection's import status."""

from __future__ import annotations

import pytest

from server.accounts.models import Role
from server.annotations.models import Annotation, AnnotationRevision, Review
from server.annotations.services import annotation_update
from server.core.errors import ApplicationError
from server.labelstudio.brush import BrushError
from server.labelstudio.imports import ImportSkipped, annotation_import, annotation_retract
from server.labelstudio.models import AnnotationLink, Connection
from tests.factories import AnnotationFactory, ClipFactory, FrameFactory, UserFactory
from tests.server.labelstudio.ls_world import ANNOTATOR_EMAIL, box, connect, ls_annotation, ls_task

pytestmark = pytest.mark.django_db

DOG = box(5, 5, 20, 30)
CAT = box(25, 30, 40, 60)


@pytest.fixture
def frame(project):
    return FrameFactory(clip=ClipFactory(project=project), index=0)


@pytest.fixture
def connection(project):
    return connect(project)


def do_import(connection, frame, **kwargs):
    return annotation_import(connection=connection, task=ls_task(frame), annotation=ls_annotation(frame, **kwargs))


def test_import_creates_a_submitted_annotation_authored_by_the_annotators_email(connection, frame):
    link = do_import(connection, frame, ls_id=501, masks=[(DOG, "dog")])

    annotation = Annotation.objects.get(frame=frame)
    assert annotation.instances == [{"mask": DOG, "label": "dog"}]
    assert annotation.status == Annotation.Status.SUBMITTED
    assert annotation.version == 1
    assert (annotation.external_source, annotation.external_id) == ("labelstudio", "501")
    assert annotation.author.email == ANNOTATOR_EMAIL
    assert not annotation.author.has_usable_password()
    assert (link.state, link.annotation_id, link.imported_version, link.previous_version) == (
        AnnotationLink.State.IMPORTED,
        annotation.pk,
        1,
        None,
    )
    assert link.ls_author_email == ANNOTATOR_EMAIL
    assert not annotation.author.memberships.exists()  # authorship only, no access


def test_author_is_the_existing_user_with_that_email(connection, frame):
    user = UserFactory(username="ann", email="Ann@LS.example")
    do_import(connection, frame, ls_id=501, masks=[(DOG, "dog")])
    assert Annotation.objects.get(frame=frame).author == user


def test_the_same_annotation_delivered_twice_changes_nothing(connection, frame):
    first = do_import(connection, frame, ls_id=501, masks=[(DOG, "dog")])
    again = do_import(connection, frame, ls_id=501, masks=[(DOG, "dog")])

    assert again.pk == first.pk
    assert Annotation.objects.get(frame=frame).version == 1
    assert AnnotationRevision.objects.count() == 1
    assert AnnotationLink.objects.count() == 1


def test_an_update_in_label_studio_becomes_a_new_version(connection, frame):
    do_import(connection, frame, ls_id=501, masks=[(DOG, "dog")])
    link = do_import(connection, frame, ls_id=501, masks=[(CAT, "cat")], updated_at="2026-01-02T10:00:00Z")

    annotation = Annotation.objects.get(frame=frame)
    assert annotation.version == 2
    assert annotation.instances == [{"mask": CAT, "label": "cat"}]
    assert [r.version for r in AnnotationRevision.objects.filter(annotation=annotation)] == [1, 2]
    assert (link.state, link.imported_version, link.ls_updated_at) == ("imported", 2, "2026-01-02T10:00:00Z")


def test_a_local_edit_since_the_import_is_a_conflict_and_is_not_overwritten(connection, frame):
    do_import(connection, frame, ls_id=501, masks=[(DOG, "dog")])
    editor = UserFactory(email="local@example.com")
    annotation_update(
        frame=frame, user=editor, role=Role.ANNOTATOR, instances=[{"mask": CAT, "label": "cat"}], version=1
    )

    link = do_import(connection, frame, ls_id=501, masks=[(DOG, "wolf")], updated_at="2026-01-02T10:00:00Z")

    annotation = Annotation.objects.get(frame=frame)
    assert annotation.version == 2 and annotation.instances == [{"mask": CAT, "label": "cat"}]
    assert link.state == AnnotationLink.State.CONFLICT
    assert "edited in AVS Studio since it was imported (version 2 by local@example.com" in link.detail
    assert "not applied" in link.detail


def test_a_frame_annotated_here_first_is_a_conflict(connection, frame):
    local = AnnotationFactory(frame=frame, instances=[{"mask": CAT, "label": "cat"}])

    link = do_import(connection, frame, ls_id=501, masks=[(DOG, "dog")])

    local.refresh_from_db()
    assert local.version == 1 and local.instances == [{"mask": CAT, "label": "cat"}]
    assert link.state == AnnotationLink.State.CONFLICT
    assert "already has an annotation made in AVS Studio" in link.detail


def test_the_settings_api_lists_conflicts_as_they_happen_for_the_manager(connection, frame, make_member, client_for):
    AnnotationFactory(frame=frame, instances=[{"mask": CAT, "label": "cat"}])
    do_import(connection, frame, ls_id=501, masks=[(DOG, "dog")])  # by webhook: no pull has counted it yet

    body = client_for(make_member(frame.clip.project, Role.MANAGER)).get(
        f"/api/projects/{frame.clip.project_id}/labelstudio/"
    )
    assert body.status_code == 200, body.content
    state = body.json()
    assert state["counts"]["conflicts"] == 1
    (conflict,) = state["conflicts"]
    assert (conflict["ls_annotation_id"], conflict["clip_id"], conflict["frame_index"]) == (
        501,
        frame.clip_id,
        frame.index,
    )
    assert conflict["clip_name"] == frame.clip.name
    assert "already has an annotation made in AVS Studio" in conflict["detail"]


def test_accepted_import_status_accepts_with_a_review(project, frame):
    manager = UserFactory()
    connection = connect(project, import_status=Connection.ImportStatus.ACCEPTED, created_by=manager)

    do_import(connection, frame, ls_id=501, masks=[(DOG, "dog")])

    annotation = Annotation.objects.get(frame=frame)
    assert annotation.status == Annotation.Status.ACCEPTED
    review = Review.objects.get(annotation=annotation)
    assert review.verdict == Review.Verdict.ACCEPT and review.annotation_version == 1
    assert review.reviewer == manager
    assert "Accepted on import from Label Studio" in review.comment
    # an update in Label Studio still comes through, accepted again
    do_import(connection, frame, ls_id=501, masks=[(CAT, "cat")], updated_at="2026-01-02T10:00:00Z")
    annotation.refresh_from_db()
    assert (annotation.version, annotation.status) == (2, Annotation.Status.ACCEPTED)
    assert Review.objects.filter(annotation=annotation).count() == 2


def test_a_brush_of_the_wrong_size_is_refused_and_nothing_changes(connection, frame):
    with pytest.raises(BrushError, match="frame is 64x48"):
        do_import(connection, frame, ls_id=501, masks=[(box(0, 0, 3, 3, shape=(40, 64)), "dog")])
    assert not Annotation.objects.exists()
    assert not AnnotationLink.objects.exists()


def test_a_task_of_another_project_is_skipped(connection):
    elsewhere = FrameFactory(index=0)  # another project's frame
    with pytest.raises(ImportSkipped, match="is no frame of project"):
        do_import(connection, elsewhere, ls_id=501, masks=[(DOG, "dog")])
    assert not Annotation.objects.exists()


def test_completed_by_an_id_asks_for_the_email(connection, frame):
    asked = []

    def email_of(user_id):
        asked.append(user_id)
        return "seven@ls.example"

    annotation_import(
        connection=connection,
        task=ls_task(frame),
        annotation=ls_annotation(frame, ls_id=501, masks=[(DOG, "dog")], completed_by=7),
        email_of=email_of,
    )
    assert asked == [7]
    assert Annotation.objects.get(frame=frame).author.email == "seven@ls.example"


def test_an_unknown_annotator_without_a_token_to_ask_is_refused(connection, frame):
    with pytest.raises(ApplicationError, match="has no API token"):
        annotation_import(
            connection=connection,
            task=ls_task(frame),
            annotation=ls_annotation(frame, ls_id=501, masks=[(DOG, "dog")], completed_by=7),
        )
    assert not Annotation.objects.exists() and not AnnotationLink.objects.exists()


def test_an_annotator_email_that_is_no_email_is_refused_and_no_user_is_made(connection, frame):
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.count()
    with pytest.raises(ApplicationError, match="is not an email address"):
        annotation_import(
            connection=connection,
            task=ls_task(frame),
            annotation=ls_annotation(frame, ls_id=501, masks=[(DOG, "dog")], completed_by={"id": 3, "email": "admin"}),
        )
    assert get_user_model().objects.count() == users
    assert not Annotation.objects.exists() and not AnnotationLink.objects.exists()


def test_retract_deletes_what_the_import_created(connection, frame):
    do_import(connection, frame, ls_id=501, masks=[(DOG, "dog")])

    link = annotation_retract(connection=connection, ls_annotation_id=501)

    assert link.state == AnnotationLink.State.RETRACTED
    assert not Annotation.objects.filter(frame=frame).exists()
    assert annotation_retract(connection=connection, ls_annotation_id=501).state == "retracted"  # idempotent
    assert annotation_retract(connection=connection, ls_annotation_id=999) is None


def test_retract_writes_back_the_annotation_from_before_the_import(connection, frame):
    """Two Label Studio annotators on one task: the second import lands on top; retracting it restores the first,
    which still follows its own Label Studio updates afterwards."""
    do_import(connection, frame, ls_id=501, masks=[(DOG, "dog")])
    second = do_import(connection, frame, ls_id=502, masks=[(CAT, "cat")])
    assert (second.state, second.previous_version, second.imported_version) == ("imported", 1, 2)

    link = annotation_retract(connection=connection, ls_annotation_id=502)

    annotation = Annotation.objects.get(frame=frame)
    assert link.state == AnnotationLink.State.RETRACTED
    assert annotation.version == 3 and annotation.instances == [{"mask": DOG, "label": "dog"}]
    assert annotation.external_id == "501"
    first = do_import(connection, frame, ls_id=501, masks=[(DOG, "wolf")], updated_at="2026-01-03T00:00:00Z")
    assert first.state == "imported"
    assert Annotation.objects.get(frame=frame).instances == [{"mask": DOG, "label": "wolf"}]


def test_retract_after_a_local_edit_keeps_the_annotation_and_reports_it(connection, frame):
    do_import(connection, frame, ls_id=501, masks=[(DOG, "dog")])
    annotation_update(
        frame=frame, user=UserFactory(), role=Role.ANNOTATOR, instances=[{"mask": CAT, "label": "cat"}], version=1
    )

    link = annotation_retract(connection=connection, ls_annotation_id=501)

    assert link.state == AnnotationLink.State.CONFLICT
    assert "the annotation was kept" in link.detail
    assert Annotation.objects.get(frame=frame).instances == [{"mask": CAT, "label": "cat"}]
