"""Download the real models of the OpenAVS pipeline, verify them and write a `config.json` that points at them.

`fetch_models(out, set_name="default")` fills `out` (the `light` set leaves out the LLM):

    out/clap/                       laion/clap-htsat-unfused          (ClapModel + ClapProcessor)
    out/grounding_dino/             IDEA-Research/grounding-dino-tiny (GroundingDinoForObjectDetection + processor)
    out/sam/sam_vit_b_01ec64.pth    segment-anything ViT-B checkpoint
    out/clip/                       openai/clip-vit-base-patch32      (CLIPModel + CLIPProcessor)
    out/llm/                        Qwen/Qwen2.5-0.5B-Instruct        (default and tracking sets)
    out/sam2.1_hiera_tiny/          facebook/sam2.1-hiera-tiny        (tracking set only: Sam2VideoModel + processor,
                                                                       the annotator's mask propagation, models.tracker)
    out/sam3/                       facebook/sam3                     (sam3 set: Sam3VideoModel weights + Sam3Processor,
                                                                       models.segmenter in place of Grounding DINO;
                                                                       GATED: accept its licence on the hub first)
    out/config.json                 the model configuration (`ml_backend.foundation.config`), paths relative to out/
    out/downloads.json              per file: URL, size, SHA-256 of what arrived, and the SHA-256 expected ("unknown"
                                    where no digest is published for that file)

Each file is downloaded to `<file>.partial`, resumed with an HTTP Range request when an earlier run stopped
part-way, checked (size, and SHA-256 where the manifest knows it) and only then renamed into place: a file under
its own name is complete, so a second run skips it. A file whose digest or size is wrong is deleted and the error
names it with both digests. `config.json` is written last, once every file of the set is complete, and read back
with the project's loader (`load_config`).

A mirror (`base_url`, e.g. from `AVS_MODEL_MIRROR`) replaces the scheme and host of every URL and serves the same
paths: `<mirror>/<org>/<repo>/resolve/<revision>/<file>` and `<mirror>/segment_anything/sam_vit_b_01ec64.pth`.
Network and disk failures raise `FetchError` with a one-line message naming the URL or the file and the reason.

Gated models (`ModelSource.gated`, facebook/sam3): the hub serves their files only to an account that accepted the
model's licence on its page, with that account's access token. The token comes from `token`, else `HF_TOKEN`, else
the one `huggingface-cli login` stored; it is sent to huggingface.co only (never to a mirror or any other host). A
refusal (HTTP 401/403) says so: accept the licence on the page, log in with a token, run the command again. A file
marked `optional` that the hub does not have at that revision (HTTP 404) is skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIRROR_ENV = "AVS_MODEL_MIRROR"
CHUNK = 1 << 20  # bytes read and written at a time
USER_AGENT = "avs-studio-models-fetch/1"
UNKNOWN = "unknown"


class FetchError(RuntimeError):
    """A model file could not be fetched or verified; the message is one line naming the URL or file and why."""


class HttpStatusError(FetchError):
    """The server answered a download with an HTTP error `status` (401, 403, 404, ...)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


HUB_HOST = "huggingface.co"  # the only host an access token is sent to


def hub_token() -> str | None:
    """The Hugging Face access token for gated models: HF_TOKEN, else the one `huggingface-cli login` stored."""
    token = os.environ.get("HF_TOKEN", "").strip()
    if token:
        return token
    try:
        from huggingface_hub import get_token
    except ImportError:  # pragma: no cover (huggingface_hub comes with transformers)
        return None
    return get_token()


def gated_hint(source: ModelSource) -> str:
    """What a person does to get a gated model's files."""
    return (
        f"{source.source.split('@')[0]} is gated: accept its licence while logged in at {source.gated}, then log in "
        "here with an access token of that account (`huggingface-cli login`, or HF_TOKEN=<token>) and run the "
        "command again"
    )


@dataclass(frozen=True)
class RemoteFile:
    """One file of a model: its path under the model's folder (and under the source URL)."""

    name: str
    size: int | None = None  # bytes; None when no size is published for this revision
    sha256: str | None = None  # hex digest; None when none is published (downloads.json records what arrived)
    optional: bool = False  # skipped when the server does not have it (HTTP 404): layouts differ between uploads


@dataclass(frozen=True)
class ModelSource:
    """A model: where its files come from, the folder they go to, and its entry in `config.json`."""

    key: str  # the configuration's models.<key>: clap, grounding, sam, llm, clip
    folder: str  # under the output folder
    source: str  # for people: "laion/clap-htsat-unfused@8fa0f1c6..."
    base_url: str  # file `name` is downloaded from f"{base_url}/{name}"
    files: tuple[RemoteFile, ...]
    settings: Mapping[str, Any] = field(default_factory=dict, hash=False)  # models.<key>; paths relative to out/
    gated: str | None = None  # the hub page whose licence an account must accept before it may download the files

    def url(self, file: RemoteFile) -> str:
        return f"{self.base_url}/{file.name}"

    @property
    def size(self) -> int:
        return sum(f.size or 0 for f in self.files)


@dataclass(frozen=True)
class Manifest:
    """The models there are, the named sets of them, and the `pipeline` block written into `config.json`."""

    models: tuple[ModelSource, ...]
    sets: Mapping[str, tuple[str, ...]] = field(hash=False)  # set name -> model keys
    pipeline: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def select(self, set_name: str) -> tuple[ModelSource, ...]:
        if set_name not in self.sets:
            raise FetchError(f"unknown model set {set_name!r} (known: {', '.join(self.sets)})")
        by_key = {m.key: m for m in self.models}
        return tuple(by_key[key] for key in self.sets[set_name])


def _hf(repo: str, revision: str) -> str:
    return f"https://huggingface.co/{repo}/resolve/{revision}"


# Revisions are pinned to commits. Sizes and SHA-256 digests are the ones published for these exact revisions
# (the hub's LFS metadata for the weights; the SAM checkpoint's published digest); None where no digest for that
# revision was available: such files are checked by size when it is known, and downloads.json records the
# digest of what arrived.
CLAP_REVISION = "8fa0f1c6d0433df6e97c127f64b2a1d6c0dcda8a"
GROUNDING_REVISION = "a2bb814dd30d776dcf7e30523b00659f4f141c71"
CLIP_REVISION = "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268"
LLM_REVISION = "7ae557604adf67be50417f59c2c2f167def9a775"
# facebook/sam3 is gated: its files (and so its commits' digests) could not be read without an account that accepted
# the licence, so the entry follows the branch; downloads.json records the revision's files as they arrived. The
# transformers layout (Sam3VideoModel, model_type "sam3_video") serves both modes of models.segmenter.
SAM3_REVISION = "main"
# The revision that added the transformers weights. No SHA-256 of these files was at hand when the entry was written:
# they are checked by nothing but their arrival, and downloads.json records the digest of what arrived (the tracking
# set is opt-in for that reason).
TRACKER_REVISION = "de431c4043854a71d8101e17995dfe596bf101a5"

DEFAULT_MANIFEST = Manifest(
    models=(
        ModelSource(
            key="clap",
            folder="clap",
            source=f"laion/clap-htsat-unfused@{CLAP_REVISION}",
            base_url=_hf("laion/clap-htsat-unfused", CLAP_REVISION),
            files=(
                RemoteFile("config.json", 5390, "9efb9557bc804f2ca6e394486af2e45dfed0b18554909735a99c6220b84e4288"),
                RemoteFile(
                    "preprocessor_config.json", 541, "9739f58296aa6f9ac18008fd0150fb2649bc554985fbde86d0a4041c882ac753"
                ),
                RemoteFile(
                    "pytorch_model.bin", 614525833, "1cd3c601bc4afe0fa87be3de4c13dd2cfadd249fac1e29acf74a9b296c3219bb"
                ),
                RemoteFile(
                    "special_tokens_map.json", 280, "06e405a36dfe4b9604f484f6a1e619af1a7f7d09e34a8555eb0b77b66318067f"
                ),
                RemoteFile(
                    "tokenizer.json", 2108746, "77ef92283d67f0d97e1454909a964afcbfa2019f0fb9f18f8e88d5c25c3ba729"
                ),
                RemoteFile(
                    "tokenizer_config.json", 384, "377f91458f7729a4574a84c77bdce67dbc3c58c1a345a29bbf8c4eb1307948a3"
                ),
                RemoteFile("vocab.json", 798293, "ed19656ea1707df69134c4af35c8ceda2cc9860bf2c3495026153a133670ab5e"),
                RemoteFile("merges.txt", 456356, "fe36cab26d4f4421ed725e10a2e9ddb7f799449c603a96e7f29b5a3c82a95862"),
            ),
            settings={"path": "clap"},
        ),
        ModelSource(
            key="grounding",
            folder="grounding_dino",
            source=f"IDEA-Research/grounding-dino-tiny@{GROUNDING_REVISION}",
            base_url=_hf("IDEA-Research/grounding-dino-tiny", GROUNDING_REVISION),
            files=(
                RemoteFile("config.json"),
                RemoteFile("preprocessor_config.json"),
                RemoteFile(
                    "model.safetensors", 689359096, "1a2412ef99bd74bcd3c2a246fa1e48581f8889a1300c9051974741314fc042f3"
                ),
                RemoteFile("added_tokens.json"),
                RemoteFile("special_tokens_map.json"),
                RemoteFile("tokenizer.json"),
                RemoteFile("tokenizer_config.json"),
                RemoteFile("vocab.txt"),
            ),
            settings={
                "kind": "grounding_dino",
                "path": "grounding_dino",
                "box_threshold": 0.25,
                "text_threshold": 0.25,
            },
        ),
        ModelSource(
            key="sam",
            folder="sam",
            source="segment-anything sam_vit_b_01ec64.pth",
            base_url="https://dl.fbaipublicfiles.com/segment_anything",
            files=(
                RemoteFile(
                    "sam_vit_b_01ec64.pth",
                    375042383,
                    "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
                ),
            ),
            settings={"type": "vit_b", "checkpoint": "sam/sam_vit_b_01ec64.pth"},
        ),
        ModelSource(
            key="clip",
            folder="clip",
            source=f"openai/clip-vit-base-patch32@{CLIP_REVISION}",
            base_url=_hf("openai/clip-vit-base-patch32", CLIP_REVISION),
            files=(
                RemoteFile("config.json", 4186, "b575ef3c36f2a057fa19e221650105052d61cc9c1a972ec15019c6261ec98770"),
                RemoteFile(
                    "preprocessor_config.json", 316, "910e70b3956ac9879ebc90b22fb3bc8a75b6a0677814500101a4c072bd7857bd"
                ),
                RemoteFile(
                    "pytorch_model.bin", 605247071, "a63082132ba4f97a80bea76823f544493bffa8082296d62d71581a4feff1576f"
                ),
                RemoteFile("special_tokens_map.json"),
                RemoteFile("tokenizer.json"),
                RemoteFile("tokenizer_config.json"),
                RemoteFile("vocab.json"),
                RemoteFile("merges.txt"),
            ),
            settings={"path": "clip"},
        ),
        ModelSource(
            key="llm",
            folder="llm",
            source=f"Qwen/Qwen2.5-0.5B-Instruct@{LLM_REVISION}",
            base_url=_hf("Qwen/Qwen2.5-0.5B-Instruct", LLM_REVISION),
            files=(
                RemoteFile("config.json", 659),
                RemoteFile("generation_config.json", 242),
                RemoteFile(
                    "model.safetensors", 988097824, "fdf756fa7fcbe7404d5c60e26bff1a0c8b8aa1f72ced49e7dd0210fe288fb7fe"
                ),
                RemoteFile(
                    "tokenizer.json", 7031645, "c0382117ea329cdf097041132f6d735924b697924d6f6fc3945713e96ce87539"
                ),
                RemoteFile("tokenizer_config.json", 7305),
                RemoteFile("vocab.json", 2776833),
                RemoteFile("merges.txt", 1671839),
            ),
            settings={"path": "llm", "max_new_tokens": 64},
        ),
        ModelSource(
            key="tracker",
            folder="sam2.1_hiera_tiny",
            source=f"facebook/sam2.1-hiera-tiny@{TRACKER_REVISION}",
            base_url=_hf("facebook/sam2.1-hiera-tiny", TRACKER_REVISION),
            files=(
                RemoteFile("config.json"),
                RemoteFile("model.safetensors"),
                RemoteFile("preprocessor_config.json"),
                RemoteFile("processor_config.json"),
                RemoteFile("video_preprocessor_config.json"),
            ),
            settings={"kind": "sam2_video", "path": "sam2.1_hiera_tiny", "min_confidence": 0.5},
        ),
        ModelSource(
            key="segmenter",
            folder="sam3",
            source=f"facebook/sam3@{SAM3_REVISION}",
            base_url=_hf("facebook/sam3", SAM3_REVISION),
            files=(
                RemoteFile("config.json"),
                RemoteFile("model.safetensors"),
                RemoteFile("processor_config.json"),
                RemoteFile("tokenizer.json"),
                RemoteFile("tokenizer_config.json", optional=True),
                RemoteFile("special_tokens_map.json", optional=True),
                RemoteFile("vocab.json", optional=True),
                RemoteFile("merges.txt", optional=True),
                RemoteFile("preprocessor_config.json", optional=True),
                # SAM 3's tracker as models.tracker (kind sam3_tracker_video) reads the video processor's settings
                RemoteFile("video_preprocessor_config.json", optional=True),
            ),
            settings={"kind": "sam3", "path": "sam3", "mode": "frame", "score_threshold": 0.5, "mask_threshold": 0.5},
            gated="https://huggingface.co/facebook/sam3",
        ),
    ),
    sets={
        "light": ("clap", "grounding", "sam", "clip"),
        "default": ("clap", "grounding", "sam", "clip", "llm"),
        # SAM 3 in place of Grounding DINO; SAM ViT-B stays for the annotator's clicks and the students' features
        "sam3": ("clap", "segmenter", "sam", "clip", "llm"),
        "tracking": ("clap", "grounding", "sam", "clip", "llm", "tracker"),
    },
    pipeline={"top_k": 5, "max_nouns": 5, "merge": "union", "bavs_filter": False, "clip_labels": False},
)

Opener = Callable[..., Any]  # urllib.request.urlopen's shape: (request, timeout=...) -> response


class _NoCredentialsAcrossHosts(urllib.request.HTTPRedirectHandler):
    """Follows redirects, but not with the Authorization header to another host (the hub redirects downloads to
    signed URLs on its storage hosts, which need no token)."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).hostname != urllib.parse.urlsplit(req.full_url).hostname:
            new.remove_header("Authorization")
        return new


def open_url(request: urllib.request.Request, timeout: float) -> Any:
    """`urllib.request.urlopen`, except that an access token never follows a redirect to another host."""
    return urllib.request.build_opener(_NoCredentialsAcrossHosts).open(request, timeout=timeout)


@dataclass
class FetchReport:
    """What a run did: the config written, and the files downloaded / already complete."""

    config: Path
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes_downloaded: int = 0


def mirror_url(url: str, base_url: str | None) -> str:
    """`url` with its scheme and host replaced by `base_url` (which may carry a path prefix); `url` if none."""
    if not base_url:
        return url
    parts = urllib.parse.urlsplit(url)
    return base_url.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


def check_base_url(base_url: str | None) -> str | None:
    if not base_url:
        return None
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FetchError(f"the mirror URL must be http(s)://host[/prefix], got {base_url!r}")
    return base_url


def build_config(manifest: Manifest, set_name: str) -> dict[str, Any]:
    """The `config.json` data for a set: its models' settings (paths relative to the output folder)."""
    return {
        "device": "auto",
        "allow_network": False,
        "models": {m.key: dict(m.settings) for m in manifest.select(set_name)},
        "pipeline": dict(manifest.pipeline),
    }


def fetch_models(
    out: str | Path,
    *,
    set_name: str = "default",
    manifest: Manifest = DEFAULT_MANIFEST,
    base_url: str | None = None,
    verify: bool = False,
    timeout: float = 60.0,
    opener: Opener = open_url,
    log: Callable[[str], None] = print,
    progress: bool = False,
    token: str | None = None,
) -> FetchReport:
    """Download the set's models into `out`, verify them and write `out/config.json`; see the module docstring.

    `verify`: re-hash files already complete and download again those whose SHA-256 differs from the manifest
    (or, where it has none, from downloads.json). `opener` is injectable (tests, proxies). `token`: the access token
    for gated models (None: `hub_token()`, read only when the set has one). Raises `FetchError`.
    """
    root = Path(out).expanduser().resolve()
    sources = manifest.select(set_name)
    base_url = check_base_url(base_url)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot create {root}: {exc.strerror or exc}") from None
    report = FetchReport(config=root / "config.json")
    with _exclusive(root):
        records = _read_records(root)
        for source in sources:
            auth = _gated_headers(source, base_url, token, log=log)
            for file in source.files:
                relative = f"{source.folder}/{file.name}"
                url = mirror_url(source.url(file), base_url)
                target = root / source.folder / file.name
                record = records.get(relative)
                if _complete(target, file, record, verify=verify, log=log):
                    report.skipped.append(relative)
                    if record is None or record.get("size") != target.stat().st_size:
                        records[relative] = _record(url, target, file, _sha256(target))
                        _write_records(root, records)
                    continue
                try:
                    received = _fetch_file(
                        url, target, file, opener=opener, timeout=timeout, progress=progress, headers=auth
                    )
                except HttpStatusError as exc:
                    if exc.status == 404 and file.optional:
                        log(f"{relative}: not on the server at this revision (optional, skipped)")
                        continue
                    if exc.status in (401, 403) and source.gated:
                        raise FetchError(f"{exc}: {gated_hint(source)}") from None
                    raise
                digest = _verify(target.with_name(target.name + ".partial"), file, relative, url)
                os.replace(target.with_name(target.name + ".partial"), target)
                records[relative] = _record(url, target, file, digest)
                _write_records(root, records)
                report.downloaded.append(relative)
                report.bytes_downloaded += received
                check = "sha256 ok" if file.sha256 else "sha256 not published, recorded in downloads.json"
                log(f"{relative}: {_human(target.stat().st_size)} ({check})")
        _write_config(report.config, build_config(manifest, set_name), log=log)
    return report


# --- one file ---------------------------------------------------------------------------------------------------


def _complete(target: Path, file: RemoteFile, record: dict | None, *, verify: bool, log: Callable[[str], None]) -> bool:
    """True when `target` is there and whole (its size as published); with `verify`, also its SHA-256."""
    if not target.is_file():
        return False
    size = target.stat().st_size
    if file.size is not None and size != file.size:
        log(f"{target}: {size} bytes instead of {file.size}: downloading it again")
        target.unlink()
        return False
    if verify:
        expected = file.sha256 or (record or {}).get("sha256")
        if expected and (digest := _sha256(target)) != expected:
            log(f"{target}: sha256 {digest} differs from {expected}: downloading it again")
            target.unlink()
            return False
    return True


def _gated_headers(
    source: ModelSource, base_url: str | None, token: str | None, *, log: Callable[[str], None]
) -> dict[str, str]:
    """The Authorization header for a gated model's files on huggingface.co ({} for other models and hosts)."""
    if not source.gated or urllib.parse.urlsplit(mirror_url(source.base_url, base_url)).hostname != HUB_HOST:
        return {}
    token = token or hub_token()
    if not token:
        log(f"{source.key}: {source.source} is gated and no access token was found; {gated_hint(source)}")
        return {}
    return {"Authorization": f"Bearer {token}"}


def _fetch_file(
    url: str,
    target: Path,
    file: RemoteFile,
    *,
    opener: Opener,
    timeout: float,
    progress: bool,
    headers: Mapping[str, str] | None = None,
) -> int:
    """Bring `<target>.partial` to the whole file, resuming from its current length. Returns the bytes received.
    `headers`: sent with the request besides User-Agent and Range (the access token of a gated model)."""
    partial = target.with_name(target.name + ".partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot create {target.parent}: {exc.strerror or exc}") from None
    offset = partial.stat().st_size if partial.is_file() else 0
    if file.size is not None and offset > file.size:
        partial.unlink()
        offset = 0
    if file.size is not None and offset == file.size and partial.is_file():
        return 0  # a previous run got every byte but stopped before checking it
    extra = dict(headers or {})
    headers = {**extra, "User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = opener(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the range starts at or past the end: the partial file is whole, or longer
            if _content_range_total(exc.headers.get("Content-Range")) == offset:
                return 0
            partial.unlink()
            return _fetch_file(url, target, file, opener=opener, timeout=timeout, progress=progress, headers=extra)
        raise HttpStatusError(f"could not download {url}: HTTP {exc.code} {_one_line(exc.reason)}", exc.code) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        hint = f"no network? a mirror can be given with --base-url or {MIRROR_ENV}"
        raise FetchError(f"could not download {url}: {_reason(exc)} ({hint})") from None
    with response:
        status = getattr(response, "status", 200)
        if offset and status == 206:
            if _content_range_start(response.headers.get("Content-Range")) != offset:  # not the range asked for
                response.close()
                partial.unlink()
                return _fetch_file(url, target, file, opener=opener, timeout=timeout, progress=progress, headers=extra)
            mode = "ab"
        else:
            mode, offset = "wb", 0  # the whole file (a server without Range support): start over
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        received = _copy(
            response,
            partial,
            mode,
            url=url,
            total=offset + expected if expected else file.size,
            start=offset,
            progress=progress,
        )
    if expected is not None and received != expected:
        raise FetchError(
            f"could not download {url}: the connection ended after {offset + received} of {offset + expected} bytes "
            "(run the command again to resume)"
        )
    return received


def _copy(response: Any, partial: Path, mode: str, *, url: str, total: int | None, start: int, progress: bool) -> int:
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=total, initial=start, unit="B", unit_scale=True, desc=partial.name[: -len(".partial")], leave=False
        )
    received = 0
    try:
        with partial.open(mode) as stream:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    raise FetchError(
                        f"could not download {url}: the connection broke after {start + received} bytes "
                        f"({_reason(exc)}; run the command again to resume)"
                    ) from None
                if not chunk:
                    break
                try:
                    stream.write(chunk)
                except OSError as exc:
                    raise FetchError(f"cannot write {partial}: {exc.strerror or exc}") from None
                received += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
    except OSError as exc:
        raise FetchError(f"cannot write {partial}: {exc.strerror or exc}") from None
    finally:
        if bar is not None:
            bar.close()
    return received


def _verify(partial: Path, file: RemoteFile, relative: str, url: str) -> str:
    """The SHA-256 of the downloaded file; a size or digest other than the manifest's deletes it and raises."""
    size = partial.stat().st_size
    if file.size is not None and size != file.size:
        partial.unlink()
        raise FetchError(
            f"{relative}: downloaded {size} bytes from {url}, expected {file.size}: the file was deleted "
            "(a wrong mirror or a changed file; run the command again to retry)"
        )
    digest = _sha256(partial)
    if file.sha256 is not None and digest != file.sha256:
        partial.unlink()
        raise FetchError(
            f"{relative}: sha256 mismatch: expected {file.sha256}, got {digest} (from {url}); the file was deleted "
            "(a wrong mirror or a damaged download; run the command again to retry)"
        )
    return digest


# --- bookkeeping ---------------------------------------------------------------------------------------------


def _record(url: str, target: Path, file: RemoteFile, digest: str) -> dict[str, Any]:
    return {"url": url, "size": target.stat().st_size, "sha256": digest, "sha256_expected": file.sha256 or UNKNOWN}


def _read_records(root: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((root / "downloads.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return {k: v for k, v in files.items() if isinstance(v, dict)} if isinstance(files, dict) else {}


def _write_records(root: Path, records: dict[str, dict[str, Any]]) -> None:
    _write_atomic(root / "downloads.json", json.dumps({"files": dict(sorted(records.items()))}, indent=2) + "\n")


def _write_config(path: Path, data: dict[str, Any], *, log: Callable[[str], None]) -> None:
    """Write `config.json` (an older one that differs is kept as config.json.bak) and read it back with the loader."""
    from ml_backend.foundation.config import ConfigError, load_config

    text = json.dumps(data, indent=2) + "\n"
    if path.is_file():
        old = path.read_text(encoding="utf-8", errors="replace")
        if old != text:
            _write_atomic(path.with_name("config.json.bak"), old)
            log(f"kept the previous configuration as {path.with_name('config.json.bak')}")
    _write_atomic(path, text)
    try:
        load_config(path)
    except ConfigError as exc:
        raise FetchError(f"wrote {path}, but the configuration loader refuses it: {exc}") from None
    log(f"wrote {path}")


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        raise FetchError(f"cannot write {path}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    """One fetch at a time per output folder (two would append to the same partial files)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    try:
        lock = open(root / ".fetch.lock", "w")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise FetchError(f"cannot write into {root}: {exc.strerror or exc}") from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise FetchError(f"another `models fetch` is writing into {root}; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# --- helpers ----------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _content_range_start(value: str | None) -> int | None:
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", value or "")
    return int(match.group(1)) if match else None


def _content_range_total(value: str | None) -> int | None:
    match = re.match(r"bytes (?:\*|\d+-\d+)/(\d+)", value or "")
    return int(match.group(1)) if match else None


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) if isinstance(exc, urllib.error.URLError) else exc
    text = str(reason or "").strip() or type(reason or exc).__name__
    return _one_line(text)


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())


def _human(size: int) -> str:
    """1234567 -> "1.2 MB" (decimal units)."""
    value = float(size)
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
