"""`recipe.hub --with_app` against the local Hub server: app.py + requirements.txt arrive beside the model, and the
pushed files run on their own (no recipe on the path) with recipe.predict's answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from recipe.predict import main as predict_main
from tests.support.fresh_process import run_in_space
from tests.support.hub_server import HubServer
from tests.support.tiny_models import save_tiny_ser_model

REPO = Path(__file__).resolve().parents[2]
TOKEN, REPO_ID = "hf_test_token", "someone/ser-space"
CALL_APP = """
import json, sys
import app
print(json.dumps({"long": app.classify(sys.argv[1]), "short": app.classify(sys.argv[2])}))
"""


@pytest.mark.slow
def test_push_with_app_runs_as_a_space(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model_dir = save_tiny_ser_model(tmp_path / "model", seed=5)
    rng = np.random.default_rng(0)
    clips = {"long": tmp_path / "long.wav", "short": tmp_path / "short.wav"}
    sf.write(clips["long"], (0.2 * rng.standard_normal(17 * 16000)).astype(np.float32), 16000)
    sf.write(clips["short"], (0.2 * rng.standard_normal(2 * 16000)).astype(np.float32), 16000)
    with HubServer(TOKEN) as hub:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "TRANSFORMERS_OFFLINE"))}
        env.update(
            PYTHONPATH=str(REPO),
            HF_ENDPOINT=hub.url,
            HF_HOME=str(tmp_path / "hf_home"),
            HF_TOKEN=TOKEN,
            HF_HUB_DISABLE_TELEMETRY="1",
        )
        pushed = subprocess.run(
            [sys.executable, "-m", "recipe.hub", "--model", model_dir, "--hub_model_id", REPO_ID, "--with_app"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert pushed.returncode == 0, pushed.stderr[-3000:]
        files = hub.state.repos[REPO_ID].files
    assert {"app.py", "requirements.txt", "config.json", "model.safetensors", "modeling_ser.py"} <= set(files)
    assert {"data_prep/__init__.py", "data_prep/audio.py", "data_prep/audio_limits.py"} <= set(files)
    assert {"recipe/components/segmentation.py", "recipe/components/segment_inference.py"} <= set(files)
    pins = files["requirements.txt"].decode().split()
    assert {pin.split("==")[0] for pin in pins} == {
        "torch",
        "transformers",
        "numpy",
        "librosa",
        "soundfile",
        "soxr",
        "gradio",
        "silero-vad",
        "onnxruntime",
    }

    # The Space's checkout: the repo's files only; this project is not importable there.
    space = tmp_path / "space"
    space.mkdir()
    for name, content in files.items():
        (space / name).parent.mkdir(parents=True, exist_ok=True)
        (space / name).write_bytes(content)
    space_env = {**env, "PYTHONPATH": "", "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    answers = run_in_space(space, CALL_APP, [str(clips["long"]), str(clips["short"])], space_env)
    for name, extra in (("long", ["--chunk"]), ("short", [])):
        # fp32: the Space's app runs the model in fp32, the CLI's default precision is auto
        argv = [model_dir, str(clips[name]), "--json", "--top_k", "6", "--precision", "fp32", *extra]
        assert predict_main(argv) == 0
        (expected,) = json.loads(capsys.readouterr().out)["predictions"]
        want = {item["label"]: item["score"] for item in expected["top_k"]}
        assert answers[name].keys() == want.keys()
        assert max(abs(answers[name][k] - want[k]) for k in want) < 1e-5
