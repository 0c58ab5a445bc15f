"""`models fetch` and SAM 3 (ml_backend.foundation.fetch): the catalogue's `sam3` set and the gated facebook/sam3
entry, offline. Requests go to an in-process opener, never to a network: what a person sees when the hub refuses
(accept the licence, log in with a token), where the token is sent (huggingface.co only), optional files."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from email.message import Message

import pytest

from ml_backend.__main__ import main
from ml_backend.foundation.config import load_config
from ml_backend.foundation.fetch import (
    DEFAULT_MANIFEST,
    FetchError,
    Manifest,
    ModelSource,
    RemoteFile,
    _NoCredentialsAcrossHosts,
    build_config,
    fetch_models,
)

HUB = "https://huggingface.co"


def test_the_sam3_set_puts_the_gated_facebook_sam3_in_place_of_grounding_dino(tmp_path):
    sources = {s.key: s for s in DEFAULT_MANIFEST.select("sam3")}
    assert list(sources) == ["clap", "segmenter", "sam", "clip", "llm"]  # SAM stays for the annotator's clicks
    sam3 = sources["segmenter"]
    assert sam3.source.startswith("facebook/sam3@") and sam3.folder == "sam3"
    assert sam3.base_url.startswith(f"{HUB}/facebook/sam3/resolve/")
    assert sam3.gated == f"{HUB}/facebook/sam3"
    assert all(not s.gated for key, s in sources.items() if key != "segmenter")
    required = [f.name for f in sam3.files if not f.optional]
    assert required == ["config.json", "model.safetensors", "processor_config.json", "tokenizer.json"]
    (tmp_path / "config.json").write_text(json.dumps(build_config(DEFAULT_MANIFEST, "sam3")))
    config = load_config(tmp_path / "config.json")  # the project's loader: no grounding needed with a segmenter
    assert config.models.grounding is None and config.models.sam.type == "vit_b"
    assert config.models.segmenter.path == str(tmp_path.resolve() / "sam3")
    assert (config.models.segmenter.kind, config.models.segmenter.mode) == ("sam3", "frame")


def test_models_list_says_that_sam3_is_gated_and_what_to_do(capsys):
    assert main(["models", "list", "--set", "sam3"]) == 0
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if "GATED" in line]
    assert "facebook/sam3 is gated: accept its licence while logged in at https://huggingface.co/facebook/sam3" in line
    assert "huggingface-cli login" in line and "HF_TOKEN" in line
    assert "sam3/" in out and "optional" in out


# --- downloads through an in-process opener ---------------------------------------------------------------------


class Hub:
    """Answers requests like the hub would: `files` (URL -> bytes); a gated repository's files only with the right
    token (401 without one, 403 with another); 404 for anything else. Records (URL, Authorization) per request."""

    def __init__(self, files: dict[str, bytes], *, gated: str = "", token: str = "") -> None:
        self.files, self.gated, self.token = files, gated, token
        self.requests: list[tuple[str, str | None]] = []

    def __call__(self, request: urllib.request.Request, timeout: float):
        url, auth = request.full_url, request.get_header("Authorization")
        self.requests.append((url, auth))
        if self.gated and url.startswith(self.gated):
            if auth is None:
                raise urllib.error.HTTPError(url, 401, "Unauthorized", Message(), None)
            if auth != f"Bearer {self.token}":
                raise urllib.error.HTTPError(url, 403, "Forbidden", Message(), None)
        if url not in self.files:
            raise urllib.error.HTTPError(url, 404, "Not Found", Message(), None)
        response = io.BytesIO(self.files[url])
        response.status = 200
        response.headers = {"Content-Length": str(len(self.files[url]))}
        return response


BASE = f"{HUB}/org/gated-sam3/resolve/abc123"
CLAP = f"{HUB}/org/clap/resolve/abc123"


def manifest() -> Manifest:
    """A small clap + gated SAM 3 set, shaped like the shipped one (`sam3` set: segmenter in place of grounding)."""
    return Manifest(
        models=(
            ModelSource("clap", "clap", "org/clap@abc123", CLAP, (RemoteFile("config.json"),), {"path": "clap"}),
            ModelSource(
                "segmenter",
                "sam3",
                "org/gated-sam3@abc123",
                BASE,
                (RemoteFile("config.json"), RemoteFile("vocab.json", optional=True)),
                {"kind": "sam3", "path": "sam3"},
                gated=f"{HUB}/org/gated-sam3",
            ),
        ),
        sets={"sam3": ("clap", "segmenter")},
    )


FILES = {f"{CLAP}/config.json": b'{"model_type": "clap"}', f"{BASE}/config.json": b'{"model_type": "sam3_video"}'}


def test_a_refused_gated_download_says_to_accept_the_licence_and_log_in(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)  # and HF_HOME is an empty folder in these tests: no stored token
    hub = Hub(FILES, gated=BASE, token="right")
    lines: list[str] = []
    with pytest.raises(FetchError) as refused:
        fetch_models(tmp_path / "m", manifest=manifest(), set_name="sam3", opener=hub, log=lines.append)
    message = str(refused.value)
    assert message.startswith(f"could not download {BASE}/config.json: HTTP 401 Unauthorized: ")
    assert f"org/gated-sam3 is gated: accept its licence while logged in at {HUB}/org/gated-sam3" in message
    assert "huggingface-cli login" in message and "HF_TOKEN=<token>" in message and "\n" not in message
    assert any("is gated and no access token was found" in line for line in lines)  # said before trying, too
    assert (tmp_path / "m" / "clap" / "config.json").is_file()  # what came before stays for the next run
    assert not (tmp_path / "m" / "config.json").exists()

    with pytest.raises(FetchError, match=r"HTTP 403 Forbidden: org/gated-sam3 is gated: accept its licence"):
        fetch_models(tmp_path / "m", manifest=manifest(), set_name="sam3", opener=hub, log=lines.append, token="old")


def test_the_token_goes_to_huggingface_co_for_the_gated_model_only(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "right")
    hub = Hub(FILES, gated=BASE, token="right")
    lines: list[str] = []
    report = fetch_models(tmp_path / "m", manifest=manifest(), set_name="sam3", opener=hub, log=lines.append)
    assert sorted(report.downloaded) == ["clap/config.json", "sam3/config.json"]
    sent = dict(hub.requests)
    assert sent[f"{CLAP}/config.json"] is None  # not gated: no token
    assert sent[f"{BASE}/config.json"] == sent[f"{BASE}/vocab.json"] == "Bearer right"
    assert "sam3/vocab.json: not on the server at this revision (optional, skipped)" in lines  # 404, optional
    assert load_config(report.config).models.segmenter.path == str((tmp_path / "m" / "sam3").resolve())

    mirror = Hub({url.replace(HUB, "http://mirror.test"): data for url, data in FILES.items()})
    fetch_models(tmp_path / "n", manifest=manifest(), set_name="sam3", opener=mirror, base_url="http://mirror.test")
    assert all(auth is None for _, auth in mirror.requests)  # a mirror never sees the token


def test_a_missing_required_file_is_an_error_even_for_a_gated_model(tmp_path):
    files = {f"{CLAP}/config.json": FILES[f"{CLAP}/config.json"]}
    hub = Hub(files, gated=BASE, token="right")
    with pytest.raises(FetchError, match=rf"could not download {BASE}/config.json: HTTP 404 Not Found$"):
        fetch_models(
            tmp_path / "m", manifest=manifest(), set_name="sam3", opener=hub, log=lambda _: None, token="right"
        )


def test_a_redirect_to_another_host_drops_the_token():
    handler = _NoCredentialsAcrossHosts()
    request = urllib.request.Request(f"{BASE}/model.safetensors", headers={"Authorization": "Bearer right"})
    elsewhere = handler.redirect_request(request, None, 302, "Found", Message(), "https://cdn.example/signed")
    assert elsewhere.full_url == "https://cdn.example/signed" and not elsewhere.has_header("Authorization")
    same = handler.redirect_request(request, None, 302, "Found", Message(), f"{HUB}/api/resolve-cache/x")
    assert same.get_header("Authorization") == "Bearer right"
