"""Signed, expiring media URLs for Label Studio tasks, and the views that serve them.

Label Studio's browser loads a task's picture and sound straight from us, without our session: the URL carries a
token signed with SECRET_KEY (`django.core.signing`, one salt per kind of file) that names the frame or clip and
expires after AVS_LS_MEDIA_URL_MAX_AGE seconds; a push renews them. The token is the only credential: there is no
unsigned URL, a bad token answers 403 and an expired one 403 saying how to renew it.

URLs are absolute, built from AVS_PUBLIC_URL (how Label Studio's users reach this server).
"""

from __future__ import annotations

import mimetypes
from typing import Any

from django.conf import settings
from django.core import signing
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_safe

from server.media.models import AudioTrack, Clip, Frame

FRAME_SALT = "avs.labelstudio.media.frame"
AUDIO_SALT = "avs.labelstudio.media.audio"
CACHE_CONTROL = "private, max-age=3600"


def public_url(path: str) -> str:
    """`path` (absolute, from `reverse`) on this server as Label Studio reaches it (AVS_PUBLIC_URL)."""
    return settings.AVS_PUBLIC_URL.rstrip("/") + path


def frame_media_token(*, frame_id: int) -> str:
    return signing.dumps({"frame": int(frame_id)}, salt=FRAME_SALT)


def audio_media_token(*, clip_id: int) -> str:
    return signing.dumps({"clip": int(clip_id)}, salt=AUDIO_SALT)


def frame_media_url(*, frame_id: int) -> str:
    """A signed URL of the frame's JPEG, valid AVS_LS_MEDIA_URL_MAX_AGE seconds."""
    return public_url(reverse("ls-media-frame", kwargs={"token": frame_media_token(frame_id=frame_id)}))


def audio_media_url(*, clip_id: int) -> str:
    """A signed URL of the clip's WAV track, valid AVS_LS_MEDIA_URL_MAX_AGE seconds."""
    return public_url(reverse("ls-media-audio", kwargs={"token": audio_media_token(clip_id=clip_id)}))


class MediaTokenError(Exception):
    """A media token that does not open anything (403, with a message for people)."""


def media_token_read(token: str, *, salt: str, key: str, max_age: float | None = None) -> int:
    """The id a token signed with `salt` names under `key`; MediaTokenError when forged, damaged or expired."""
    age = settings.AVS_LS_MEDIA_URL_MAX_AGE if max_age is None else max_age
    try:
        value = signing.loads(token, salt=salt, max_age=age)
    except signing.SignatureExpired:
        raise MediaTokenError(
            "This media link has expired: push the project to Label Studio again to renew its links."
        ) from None
    except signing.BadSignature:
        raise MediaTokenError("This media link is not valid.") from None
    if not isinstance(value, dict) or not isinstance(value.get(key), int):
        raise MediaTokenError("This media link is not valid.")
    return int(value[key])


def _refused(message: str, status: int = 403) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


def _stream(field: FieldFile, *, content_type: str | None = None) -> HttpResponse:
    try:
        handle = field.open("rb")
    except FileNotFoundError:
        return _refused("The file is missing from media storage.", 404)
    response = FileResponse(
        handle, content_type=content_type or mimetypes.guess_type(field.name)[0] or "application/octet-stream"
    )
    response["Cache-Control"] = CACHE_CONTROL
    response["X-Content-Type-Options"] = "nosniff"
    # Label Studio's web page (another origin) draws the picture and the waveform from these bytes.
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
def frame_media_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET /ls/media/frame/<token>: the frame's JPEG to whoever holds a valid token (no session needed)."""
    try:
        frame_id = media_token_read(token, salt=FRAME_SALT, key="frame")
    except MediaTokenError as exc:
        return _refused(str(exc))
    frame = Frame.objects.filter(pk=frame_id, clip__status=Clip.Status.READY).first()
    if frame is None:
        return _refused("This frame no longer exists.", 404)
    return _stream(frame.image, content_type="image/jpeg")


@require_safe
def audio_media_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET /ls/media/audio/<token>: the clip's mono 16-bit PCM WAV to whoever holds a valid token."""
    try:
        clip_id = media_token_read(token, salt=AUDIO_SALT, key="clip")
    except MediaTokenError as exc:
        return _refused(str(exc))
    audio: Any = AudioTrack.objects.filter(clip_id=clip_id).first()
    if audio is None:
        return _refused("This clip has no audio track.", 404)
    return _stream(audio.file, content_type="audio/wav")


RENEW_AFTER = 0.25  # a push renews a media URL once this fraction of its lifetime has passed


def media_url_fresh(url: Any) -> bool:
    """Whether a media URL a push sent is still good to keep: built on today's AVS_PUBLIC_URL, valid, and younger
    than RENEW_AFTER of AVS_LS_MEDIA_URL_MAX_AGE (so every URL a push leaves has most of its lifetime ahead)."""
    if not isinstance(url, str) or url == "":
        return url == ""
    for name, salt, key in (("ls-media-frame", FRAME_SALT, "frame"), ("ls-media-audio", AUDIO_SALT, "clip")):
        prefix = public_url(reverse(name, kwargs={"token": "T"})).removesuffix("T")
        if url.startswith(prefix):
            try:
                media_token_read(
                    url.removeprefix(prefix),
                    salt=salt,
                    key=key,
                    max_age=settings.AVS_LS_MEDIA_URL_MAX_AGE * RENEW_AFTER,
                )
            except MediaTokenError:
                return False
            return True
    return False
