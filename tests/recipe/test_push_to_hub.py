"""push_to_hub end to end against a local Hub-compatible server (tests/hub_server.py) on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from tests.support.hub_server import HubServer
from tests.support.train_helpers import REPO, make_dataset, tiny_config, write_config

TOKEN = "hf_test_token"
REPO_ID = "someone/ser-tiny"

# The card stand-in (model_card renders the real one); the YAML header makes upload_folder validate it.
CARD = "---\nlicense: apache-2.0\npipeline_tag: audio-classification\n---\n# SER tiny\n"

LOAD_FROM_HUB = """
import json, sys
from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification
cfg = AutoConfig.from_pretrained(sys.argv[1], trust_remote_code=True)
fe = AutoFeatureExtractor.from_pretrained(sys.argv[1], trust_remote_code=True)
model = AutoModelForAudioClassification.from_pretrained(sys.argv[1], trust_remote_code=True)
print(json.dumps({"model_type": cfg.model_type, "labels": [cfg.id2label[i] for i in range(cfg.num_labels)],
                  "model_class": type(model).__name__, "fe_class": type(fe).__name__,
                  "max_duration": fe.max_duration}))
# the model card's usage: the pipeline on a 16 kHz mono float32 array
import soundfile as sf
from transformers import pipeline
wave, rate = sf.read(sys.argv[2], dtype="float32")
classifier = pipeline("audio-classification", model=sys.argv[1], trust_remote_code=True)
scores = classifier({"raw": wave, "sampling_rate": rate}, top_k=cfg.num_labels)
print(json.dumps({s["label"]: s["score"] for s in scores}))
"""


def _env(tmp_path, endpoint: str, token: str | None) -> dict[str, str]:
    # CI runs offline (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE): this test talks to its own local "Hub".
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "TRANSFORMERS_OFFLINE"))}
    env.update(
        PYTHONPATH=str(REPO),
        HF_ENDPOINT=endpoint,
        HF_HOME=str(tmp_path / "hf_home"),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
    )
    if token:
        env["HF_TOKEN"] = token
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_push_to_hub_end_to_end(tmp_path):
    data = make_dataset(tmp_path / "data", n_train=2, n_eval=1)
    config = write_config(tmp_path / "c.yaml", tiny_config(training={"num_train_epochs": 1}))
    out = tmp_path / "out"
    with HubServer(TOKEN) as hub:
        env = _env(tmp_path, hub.url, TOKEN)
        # 1. Training with --push_to_hub uploads the final folder at the end of the run.
        trained = _run(
            [
                "-m",
                "recipe.train",
                "--config",
                config,
                "--data",
                data,
                "--output_dir",
                str(out),
                "--push_to_hub",
                "--hub_model_id",
                REPO_ID,
            ],
            env,
        )
        assert trained.returncode == 0, trained.stderr[-3000:] + f"\nunknown: {hub.state.unknown_requests}"
        assert f"pushed {out} to {hub.url}/{REPO_ID}/commit/" in trained.stdout
        files = set(hub.state.repos[REPO_ID].files)
        expected = {
            "config.json",
            "model.safetensors",
            "modeling_ser.py",
            "configuration_ser.py",
            "feature_extraction_ser.py",
            "preprocessor_config.json",
            "trainer_state.json",
            "run_info.json",
            "train_config.yaml",
            "train_results.json",
            "validation_results.json",
            "all_results.json",
        }
        assert expected <= files, expected - files
        assert not [f for f in files if f.startswith("checkpoint-") or f == "training_args.bin"], files
        assert "README.md" not in files
        uploaded = json.loads(hub.state.repos[REPO_ID].files["config.json"])
        assert uploaded["auto_map"]["AutoModelForAudioClassification"] == "modeling_ser.SERForAudioClassification"

        # 2. After the card is written, `python -m recipe.hub` pushes the folder again, card included.
        (out / "README.md").write_text(CARD)
        pushed = _run(["-m", "recipe.hub", "--model", str(out), "--hub_model_id", REPO_ID], env)
        assert pushed.returncode == 0, pushed.stderr[-3000:]
        assert hub.state.repos[REPO_ID].files["README.md"].decode() == CARD
        assert len(hub.state.repos[REPO_ID].commits) == 2

        # 3. What arrived loads back through the Hub API (remote code from the repo, not from this checkout).
        loader_env = {**env, "PYTHONPATH": ""}
        clip = tmp_path / "clip.wav"
        sf.write(clip, 0.3 * np.sin(2 * np.pi * 220 * np.arange(12800) / 16000).astype(np.float32), 16000)  # 0.8 s
        loaded = subprocess.run(
            [sys.executable, "-c", LOAD_FROM_HUB, REPO_ID, str(clip)],
            cwd=tmp_path,
            env=loader_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert loaded.returncode == 0, loaded.stderr[-3000:] + f"\nunknown: {hub.state.unknown_requests}"
        info = json.loads(loaded.stdout.strip().splitlines()[-2])
        from_hub = json.loads(loaded.stdout.strip().splitlines()[-1])
        assert info == {
            "model_type": "ser_attention_pooling",
            "labels": ["anger", "fear", "happy", "neutral", "sad", "surprise"],
            "model_class": "SERForAudioClassification",
            "fe_class": "SERFeatureExtractor",
            "max_duration": 1.0,
        }
        # 4. The pipeline on the pushed model gives the probabilities recipe.predict gives on the trained folder.
        predicted = _run(
            ["-m", "recipe.predict", str(out), str(clip), "--json", "--top_k", "6", "--precision", "fp32"], env
        )
        assert predicted.returncode == 0, predicted.stderr[-3000:]
        (prediction,) = json.loads(predicted.stdout)["predictions"]
        local = {t["label"]: t["score"] for t in prediction["top_k"]}
        assert from_hub.keys() == local.keys() and len(local) == 6
        assert max(abs(from_hub[k] - local[k]) for k in local) < 1e-5


@pytest.mark.slow  # spawns the train and hub CLIs
def test_push_without_token_is_a_clear_error(tmp_path, small_dataset):
    data = small_dataset
    config = write_config(tmp_path / "c.yaml", tiny_config())
    with HubServer(TOKEN) as hub:
        env = _env(tmp_path, hub.url, token=None)
        result = _run(
            [
                "-m",
                "recipe.train",
                "--config",
                config,
                "--data",
                data,
                "--output_dir",
                str(tmp_path / "out"),
                "--push_to_hub",
                "--hub_model_id",
                REPO_ID,
            ],
            env,
        )
        assert result.returncode == 2
        assert "no Hugging Face token found" in result.stderr and "HF_TOKEN" in result.stderr
        assert not (tmp_path / "out").exists(), "fails before training"
        (tmp_path / "m").mkdir()
        for name in ("config.json", "model.safetensors", "preprocessor_config.json"):
            (tmp_path / "m" / name).write_text("{}")
        result = _run(["-m", "recipe.hub", "--model", str(tmp_path / "m"), "--hub_model_id", REPO_ID], env)
        assert result.returncode == 2 and "no Hugging Face token found" in result.stderr
        assert hub.state.repos == {}
