from django.apps import AppConfig


class AnnotationsConfig(AppConfig):
    name = "server.annotations"
    label = "annotations"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, pre_delete

        from server.annotations import records
        from server.annotations.models import Proposal
        from server.annotations.services import clip_deleting
        from server.media.models import Clip

        # A proposal's probability maps and evidence file go with it, however it is deleted (cascades included).
        post_delete.connect(records.proposal_deleted, sender=Proposal, dispatch_uid="annotations-proposal-records")
        post_delete.connect(records.clip_deleted, sender=Clip, dispatch_uid="annotations-clip-records")
        # A deleted clip's annotations leave the model versions' edit statistics.
        pre_delete.connect(clip_deleting, sender=Clip, dispatch_uid="annotations-clip-edit-stats")
