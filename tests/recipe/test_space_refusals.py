"""The Space app (recipe/space/app.py, as `recipe.hub --with_app` writes it) run on its own, without the recipe on
the path: it refuses all-zero, NaN and over-long files with predict's reasons (data_prep.audio.load_clip, shipped
beside it), names the file but no server path, and serves with the documented limits."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from recipe.components.hub_push import write_space_app
from recipe.components.onnx_export import synthetic_waves
from tests.support.tiny_models import save_tiny_ser_model

SR = 16000
CALL_APP = """
import json, sys
import gradio as gr
import app
answers = {}
for path in sys.argv[1:]:
    try:
        answers[path.rsplit("/", 1)[-1]] = app.classify(path)
    except gr.Error as err:
        answers[path.rsplit("/", 1)[-1]] = "refused: " + err.message
demo = app.demo
answers["config"] = {
    "analytics": demo.analytics_enabled,
    "delete_cache": list(demo.delete_cache),
    "queue": [demo._queue.max_size, demo._queue.default_concurrency_limit],
    "data_prep": __import__("data_prep.audio").__file__,
}
print(json.dumps(answers))
"""


@pytest.mark.slow
def test_space_refuses_zeros_nan_and_long_files(tmp_path: Path) -> None:
    model_dir = Path(save_tiny_ser_model(tmp_path / "model", seed=2))
    space = tmp_path / "space"
    shutil.copytree(model_dir, space)
    written = write_space_app(space)
    assert {"app.py", "data_prep/audio.py", "data_prep/audio_limits.py", "requirements.txt"} <= set(written)

    uploads = tmp_path / "uploads"
    uploads.mkdir()
    sf.write(uploads / "zeros.wav", np.zeros(2 * SR, dtype=np.float32), SR)
    nan = synthetic_waves([2.0], SR, seed=1)[0]
    nan[100:200] = np.nan
    sf.write(uploads / "nan.wav", nan, SR, subtype="FLOAT")
    sf.write(uploads / "long.wav", np.zeros(601 * 8000, dtype=np.int16), 8000, subtype="PCM_16")
    sf.write(uploads / "speech.wav", synthetic_waves([2.0], SR, seed=2)[0], SR)
    (uploads / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt this is not audio")
    names = ["zeros.wav", "nan.wav", "long.wav", "speech.wav", "broken.wav"]

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "TRANSFORMERS_OFFLINE"))}
    env.update(PYTHONPATH="", HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"))
    ran = subprocess.run(
        [sys.executable, "-c", CALL_APP, *(str(uploads / name) for name in names)],
        cwd=space,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    answers = json.loads(ran.stdout.strip().splitlines()[-1])
    assert answers["zeros.wav"] == "refused: zeros.wav: all silent (peak <= 0.0001)"
    assert answers["nan.wav"] == "refused: nan.wav: NaN/inf samples (100 non-finite samples)"
    assert answers["long.wav"] == "refused: long.wav: too long (601.0 s > the 600 s limit)"
    assert answers["broken.wav"].startswith("refused: broken.wav: ") and str(tmp_path) not in answers["broken.wav"]
    assert set(answers["speech.wav"]) == {"anger", "fear", "happy", "neutral", "sad", "surprise"}
    assert sum(answers["speech.wav"].values()) == pytest.approx(1.0, abs=1e-4)
    config = answers["config"]
    assert config["analytics"] is False and config["delete_cache"] == [3600, 3600] and config["queue"] == [16, 1]
    assert Path(config["data_prep"]).resolve().is_relative_to(space.resolve())  # the shipped copy, not the recipe's
    assert "launch(max_file_size=MAX_FILE_SIZE, share=False" in (space / "app.py").read_text()
