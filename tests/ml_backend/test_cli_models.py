"""`python -m ml_backend models fetch`: verified, resumable downloads and a config.json the loader reads.

Every download comes from a real HTTP server on 127.0.0.1 started by the test (Range support, byte counting,
a connection it can cut part-way); the manifest points at a host that does not exist and the mirror option
(`base_url`) sends every request to the local server, so nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ml_backend.__main__ import main
from ml_backend.foundation.config import load_config
from ml_backend.foundation.fetch import (
    CLAP_REVISION,
    DEFAULT_MANIFEST,
    FetchError,
    Manifest,
    ModelSource,
    RemoteFile,
    build_config,
    fetch_models,
)

ROOT = Path(__file__).resolve().parents[2]
FAKE_HOST = "https://models.invalid"  # never resolved: every test passes the local server as the mirror


# --- a small HTTP server with Range support ---------------------------------------------------------------------


@dataclass
class FileServer:
    """Serves `files` (URL path -> bytes). Counts body bytes per path, records each request's Range header, and
    can cut a response short (`cut[path] = n`: send n body bytes, then close) or ignore Range (`ranges = False`)."""

    files: dict[str, bytes]
    url: str = ""
    served: Counter = field(default_factory=Counter)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    cut: dict[str, int] = field(default_factory=dict)
    ranges: bool = True


def _handler(state: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a stuck client cannot hold a server thread for long

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            range_header = self.headers.get("Range")
            state.requests.append((self.path, range_header))
            data = state.files.get(self.path)
            if data is None:
                self.send_error(404, "Not Found")
                return
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
            if match and state.ranges:
                start = int(match.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.path in state.cut:
                body = body[: state.cut.pop(self.path)]
            self.wfile.write(body)
            self.wfile.flush()
            state.served[self.path] += len(body)

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture
def server():
    state = FileServer(files={})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- a small manifest ---------------------------------------------------------------------------------------


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


CONTENT = {
    "clap/config.json": b'{"model_type": "clap"}\n',
    "clap/weights.bin": os.urandom(300_000),
    "grounding_dino/config.json": b'{"model_type": "grounding-dino"}\n',
    "sam/ckpt.pth": os.urandom(120_000),
    "llm/model.safetensors": os.urandom(50_000),
}


def serve_manifest(
    server: FileServer,
    content: dict[str, bytes],
    models: list[tuple[str, str, dict]],
    sets: dict[str, tuple[str, ...]],
    pipeline: dict,
    *,
    unpublished: tuple[str, ...] = (),
) -> Manifest:
    """Put `content` ("folder/name" -> bytes) on the server and describe it: one source per (key, folder,
    settings), every file with its size and SHA-256 except in the `unpublished` folders."""
    sources = []
    for key, folder, settings in models:
        names = sorted(p.split("/", 1)[1] for p in content if p.startswith(folder + "/"))
        for name in names:
            server.files[path_of(f"{folder}/{name}")] = content[f"{folder}/{name}"]
        files = tuple(
            RemoteFile(name)
            if folder in unpublished
            else RemoteFile(name, len(content[f"{folder}/{name}"]), sha(content[f"{folder}/{name}"]))
            for name in names
        )
        base_url = f"{FAKE_HOST}/org/{folder}/resolve/abc123"
        sources.append(ModelSource(key, folder, f"org/{folder}@abc123", base_url, files, settings))
    return Manifest(models=tuple(sources), sets=sets, pipeline=pipeline)


def small_manifest(server: FileServer) -> Manifest:
    """clap, grounding, sam (light) + llm (default); the llm file has no published size or digest."""
    return serve_manifest(
        server,
        CONTENT,
        [
            ("clap", "clap", {"path": "clap"}),
            ("grounding", "grounding_dino", {"kind": "grounding_dino", "path": "grounding_dino"}),
            ("sam", "sam", {"type": "vit_b", "checkpoint": "sam/ckpt.pth"}),
            ("llm", "llm", {"path": "llm"}),
        ],
        {"light": ("clap", "grounding", "sam"), "default": ("clap", "grounding", "sam", "llm")},
        {"top_k": 3},
        unpublished=("llm",),
    )


def fetch(out: Path, server: FileServer, manifest: Manifest, **kwargs):
    lines: list[str] = []
    report = fetch_models(out, manifest=manifest, base_url=server.url, log=lines.append, timeout=10, **kwargs)
    return report, lines


def path_of(relative: str) -> str:
    folder, name = relative.split("/", 1)
    return f"/org/{folder}/resolve/abc123/{name}"


# --- config writing -----------------------------------------------------------------------------------------


def test_fetch_writes_files_and_a_config_the_project_loader_reads(server, tmp_path):
    manifest = small_manifest(server)
    out = tmp_path / "models"
    report, lines = fetch(out, server, manifest, set_name="light")

    assert sorted(report.downloaded) == sorted(p for p in CONTENT if not p.startswith("llm/"))
    for relative in report.downloaded:
        assert (out / relative).read_bytes() == CONTENT[relative]
    assert not list(out.rglob("*.partial"))
    assert "clap/weights.bin: 300.0 kB (sha256 ok)" in lines
    config = load_config(out / "config.json")  # the project's own loader
    assert config.models.clap.path == str(out.resolve() / "clap")  # relative in the file, absolute once loaded
    assert config.models.grounding.path == str(out.resolve() / "grounding_dino")
    assert config.models.sam.checkpoint == str(out.resolve() / "sam" / "ckpt.pth")
    assert config.models.sam.type == "vit_b" and config.models.llm is None and config.pipeline.top_k == 3
    assert config.allow_network is False and config.device == "auto"
    written = json.loads((out / "config.json").read_text())
    assert written["models"]["clap"] == {"path": "clap"}  # relative: the folder can be moved as a whole

    # the default set adds the LLM (size and digest not published: recorded as "unknown")
    report, lines = fetch(out, server, manifest, set_name="default")
    assert report.downloaded == ["llm/model.safetensors"]
    assert "llm/model.safetensors: 50.0 kB (sha256 not published, recorded in downloads.json)" in lines
    assert load_config(out / "config.json").models.llm.path == str(out.resolve() / "llm")
    assert "llm" not in json.loads((out / "config.json.bak").read_text())["models"]  # the light config is kept
    records = json.loads((out / "downloads.json").read_text())["files"]
    assert records["llm/model.safetensors"]["sha256"] == sha(CONTENT["llm/model.safetensors"])
    assert records["llm/model.safetensors"]["sha256_expected"] == "unknown"
    assert records["sam/ckpt.pth"]["sha256_expected"] == sha(CONTENT["sam/ckpt.pth"])
    assert records["sam/ckpt.pth"]["url"] == f"{server.url}/org/sam/resolve/abc123/ckpt.pth"


@pytest.mark.parametrize("set_name", ["light", "default"])
def test_the_shipped_manifest_gives_a_config_the_loader_reads(tmp_path, set_name):
    (tmp_path / "config.json").write_text(json.dumps(build_config(DEFAULT_MANIFEST, set_name)))
    config = load_config(tmp_path / "config.json")
    assert config.models.clap.path == str(tmp_path.resolve() / "clap")
    assert config.models.grounding.kind == "grounding_dino"
    assert config.models.sam.type == "vit_b"
    assert config.models.sam.checkpoint == str(tmp_path.resolve() / "sam" / "sam_vit_b_01ec64.pth")
    assert config.models.clip.path == str(tmp_path.resolve() / "clip")
    assert (config.models.llm is None) == (set_name == "light")
    for source in DEFAULT_MANIFEST.select(set_name):  # pinned and well-formed
        assert source.base_url.startswith("https://") and "/main" not in source.base_url
        assert any(f.sha256 for f in source.files)  # at least the weights are verified by digest
        for file in source.files:
            assert file.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", file.sha256)


def test_fetched_tiny_models_load_with_the_real_loaders(server, tmp_path, tiny_models):
    """The downloaded layout is what the loaders read: serve the tiny fixture models, fetch them, load each one."""
    from ml_backend.foundation.loading import LoadContext
    from ml_backend.foundation.registry import model_registry

    source_root = tiny_models.parent
    fixture_config = json.loads(tiny_models.read_text())
    folders = {"clap": "clap", "grounding": "grounding_dino", "sam": "sam", "llm": "llm", "clip": "clip"}
    content = {
        f"{folder}/{p.relative_to(source_root / folder)}": p.read_bytes()
        for folder in folders.values()
        for p in sorted((source_root / folder).rglob("*"))
        if p.is_file()
    }
    models = [(key, folder, fixture_config["models"][key]) for key, folder in folders.items()]
    manifest = serve_manifest(server, content, models, {"default": tuple(folders)}, fixture_config["pipeline"])
    out = tmp_path / "models"
    fetch(out, server, manifest)
    config = load_config(out / "config.json")
    for kind in folders:
        component = model_registry[kind](getattr(config.models, kind), LoadContext())
        assert component is not None


# --- resume, checksums, skipping ------------------------------------------------------------------------------


def test_an_interrupted_download_resumes_with_a_range_request_for_the_rest(server, tmp_path):
    manifest = small_manifest(server)
    out = tmp_path / "models"
    weights = path_of("clap/weights.bin")
    server.cut[weights] = 100_000  # the connection drops after 100 kB of 300 kB

    with pytest.raises(FetchError) as caught:
        fetch(out, server, manifest, set_name="light")
    message = str(caught.value)
    assert f"{server.url}{weights}" in message and "run the command again to resume" in message
    assert "\n" not in message
    partial = out / "clap" / "weights.bin.partial"
    assert partial.stat().st_size == 100_000 and not (out / "clap" / "weights.bin").exists()
    assert not (out / "config.json").exists()  # written only once every file is complete

    server.served.clear()
    server.requests.clear()
    report, _ = fetch(out, server, manifest, set_name="light")
    assert (weights, "bytes=100000-") in server.requests
    assert server.served[weights] == 200_000  # only the rest came over the wire
    assert (out / "clap" / "weights.bin").read_bytes() == CONTENT["clap/weights.bin"]
    assert not partial.exists() and "clap/weights.bin" in report.downloaded
    assert "clap/config.json" in report.skipped  # finished in the first run
    load_config(out / "config.json")


def test_a_server_without_range_support_restarts_the_file(server, tmp_path):
    manifest = small_manifest(server)
    out = tmp_path / "models"
    (out / "clap").mkdir(parents=True)
    (out / "clap" / "weights.bin.partial").write_bytes(b"\0" * 1000)  # not even the right bytes
    server.ranges = False
    fetch(out, server, manifest, set_name="light")
    assert (out / "clap" / "weights.bin").read_bytes() == CONTENT["clap/weights.bin"]


def test_a_checksum_mismatch_names_the_file_and_both_digests_and_leaves_nothing_complete(server, tmp_path):
    manifest = small_manifest(server)
    out = tmp_path / "models"
    bad = bytearray(CONTENT["sam/ckpt.pth"])
    bad[500] ^= 0xFF  # same size, one byte differs
    server.files[path_of("sam/ckpt.pth")] = bytes(bad)

    with pytest.raises(FetchError) as caught:
        fetch(out, server, manifest, set_name="light")
    message = str(caught.value)
    assert message.startswith("sam/ckpt.pth: sha256 mismatch")
    assert sha(CONTENT["sam/ckpt.pth"]) in message and sha(bytes(bad)) in message
    assert f"{server.url}/org/sam/resolve/abc123/ckpt.pth" in message
    assert not (out / "sam" / "ckpt.pth").exists() and not (out / "sam" / "ckpt.pth.partial").exists()
    assert not (out / "config.json").exists()

    server.files[path_of("sam/ckpt.pth")] = CONTENT["sam/ckpt.pth"]  # the mirror is fixed: the next run succeeds
    fetch(out, server, manifest, set_name="light")
    assert (out / "sam" / "ckpt.pth").read_bytes() == CONTENT["sam/ckpt.pth"]


def test_a_file_of_the_wrong_size_is_refused(server, tmp_path):
    manifest = small_manifest(server)
    server.files[path_of("clap/config.json")] = b"<html>a login page</html>"
    with pytest.raises(FetchError, match=r"^clap/config.json: downloaded 25 bytes from .*, expected 23"):
        fetch(tmp_path / "models", server, manifest, set_name="light")
    assert not (tmp_path / "models" / "clap" / "config.json").exists()


def test_complete_files_are_skipped_and_verify_replaces_a_damaged_one(server, tmp_path):
    manifest = small_manifest(server)
    out = tmp_path / "models"
    fetch(out, server, manifest, set_name="default")
    server.requests.clear()

    report, _ = fetch(out, server, manifest, set_name="default")
    assert server.requests == [] and report.downloaded == []  # nothing asked of the server
    assert sorted(report.skipped) == sorted(CONTENT)

    damaged = out / "sam" / "ckpt.pth"
    damaged.write_bytes(b"\1" * len(CONTENT["sam/ckpt.pth"]))  # same size: only a digest notices
    report, lines = fetch(out, server, manifest, set_name="default", verify=True)
    assert report.downloaded == ["sam/ckpt.pth"] and damaged.read_bytes() == CONTENT["sam/ckpt.pth"]
    assert any("sam/ckpt.pth: sha256" in line and "downloading it again" in line for line in lines)

    llm = out / "llm" / "model.safetensors"  # no published digest: checked against downloads.json
    llm.write_bytes(b"\2" * 10)
    report, _ = fetch(out, server, manifest, set_name="default", verify=True)
    assert report.downloaded == ["llm/model.safetensors"] and llm.read_bytes() == CONTENT["llm/model.safetensors"]


def test_an_http_error_names_the_url_and_the_status(server, tmp_path):
    manifest = small_manifest(server)
    del server.files[path_of("clap/weights.bin")]
    with pytest.raises(
        FetchError, match=r"could not download http://127\.0\.0\.1:\d+/org/clap/.*weights\.bin: HTTP 404"
    ):
        fetch(tmp_path / "models", server, manifest, set_name="light")


# --- the command line ---------------------------------------------------------------------------------------


def test_offline_the_command_fails_in_one_line_naming_the_url_and_the_reason(tmp_path, capsys):
    port = closed_port()
    code = main(
        ["models", "fetch", "--out", str(tmp_path / "m"), "--set", "light", "--base-url", f"http://127.0.0.1:{port}"]
    )
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    url = f"http://127.0.0.1:{port}/laion/clap-htsat-unfused/resolve/{CLAP_REVISION}/config.json"
    assert lines[0].startswith(f"error: could not download {url}: ")
    assert "Connection refused" in lines[0]


def test_the_mirror_variable_is_used_and_no_traceback_is_printed(tmp_path):
    port = closed_port()
    env = {**os.environ, "AVS_MODEL_MIRROR": f"http://127.0.0.1:{port}/hf"}
    result = subprocess.run(
        [sys.executable, "-m", "ml_backend", "models", "fetch", "--out", str(tmp_path / "m")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: could not download http://127.0.0.1:{port}/hf/laion/clap-htsat-unfused/")
    assert "Traceback" not in result.stderr


def test_the_command_fetches_the_shipped_manifest_through_a_mirror_and_checks_digests(server, tmp_path, capsys):
    """The pinned URLs, through the mirror: a stand-in for the first file fails its published digest."""
    server.files[f"/laion/clap-htsat-unfused/resolve/{CLAP_REVISION}/config.json"] = b"x" * 5390
    code = main(["models", "fetch", "--out", str(tmp_path / "m"), "--base-url", server.url])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: clap/config.json: sha256 mismatch: expected 9efb9557")
    assert server.requests == [(f"/laion/clap-htsat-unfused/resolve/{CLAP_REVISION}/config.json", None)]
