"""`model_info`: which proposer a configuration means, decided without torch and without loading a model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ml_backend import serving
from ml_backend.foundation.config import config_hash

ROOT = Path(__file__).resolve().parents[3]


def test_model_info_imports_no_torch(tiny_models):
    probe = (
        "import sys\nfrom ml_backend.serving import model_info\n"
        f"info = model_info({str(tiny_models)!r})\n"
        "print(info['kind'], sorted(m for m in ('torch', 'transformers', 'segment_anything') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["openavs", "[]"]


def test_model_info_carries_the_configuration_it_hashes(tiny_models, tiny_config):
    info = serving.model_info(tiny_models)
    assert info["config"] == json.loads(json.dumps(tiny_config.to_dict()))
    assert config_hash(info["config"]) == info["config_hash"]
    baseline = serving.model_info(None)
    assert config_hash(baseline["config"]) == baseline["config_hash"]


def test_a_missing_model_file_means_the_baseline_naming_the_setting(tiny_models, tmp_path):
    config = json.loads(tiny_models.read_text())
    config["models"]["sam"]["checkpoint"] = str(tmp_path / "gone.pth")
    config["models"]["clap"]["path"] = str(tmp_path / "no-clap")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    info = serving.model_info(path)
    assert info["kind"] == "baseline" and info["name"] == "synchrony-baseline"
    assert f"models.clap.path = '{tmp_path / 'no-clap'}': no such model directory" in info["reason"]
    assert f"models.sam.checkpoint = '{tmp_path / 'gone.pth'}': no such checkpoint file" in info["reason"]
    assert info["config_hash"] == serving.model_info(None)["config_hash"]
