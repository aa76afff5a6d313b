"""The Space app (recipe/space/app.py, as `recipe.hub --with_app` writes it) run on its own, without the recipe on
the path: it refuses all-zero, NaN and over-long files with predict's reasons (the shipped data_prep modules),
names the file but no server path, serves with the documented limits, and cuts a long recording at its speech
into the segments `recipe.predict --segment vad` finds (the shipped recipe.components modules)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from demo.recording import make_recording
from recipe.components.hub_push import write_space_app
from recipe.components.onnx_export import synthetic_waves
from recipe.predict import main as predict_main
from tests.support.fresh_process import run_in_space
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
    answers = run_in_space(space, CALL_APP, [str(uploads / name) for name in names], env)
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


CALL_SEGMENTS = """
import json, sys
import gradio as gr
import app
call, short, zeros = sys.argv[1:]
scores, table = app.page(call)
_, short_table = app.page(short)
try:
    app.segments(zeros)
    refused = None
except gr.Error as err:
    refused = err.message
print(json.dumps({
    "segments": app.segments(call),
    "page": {"scores": scores, "rows": table.value["data"], "visible": table.visible},
    "short_visible": short_table.visible,
    "zeros": refused,
    "modules": [__import__(m, fromlist=["x"]).__file__ for m in ("recipe.components.segment_inference",)],
}))
"""


@pytest.mark.slow
def test_space_segments_a_long_recording_like_predict(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model_dir = save_tiny_ser_model(tmp_path / "model", seed=2)
    space = tmp_path / "space"
    shutil.copytree(model_dir, space)
    write_space_app(space)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    # 30 s of pseudo-speech utterances between silences: longer than the model's 8 s max_duration.
    sf.write(uploads / "call.wav", make_recording(30, SR, seed=2, speech="demo")[0], SR)
    sf.write(uploads / "short.wav", synthetic_waves([2.0], SR, seed=2)[0], SR)
    sf.write(uploads / "zeros.wav", np.zeros(20 * SR, dtype=np.float32), SR)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "TRANSFORMERS_OFFLINE"))}
    env.update(PYTHONPATH="", HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"))
    answer = run_in_space(space, CALL_SEGMENTS, [str(uploads / n) for n in ("call.wav", "short.wav", "zeros.wav")], env)
    assert Path(answer["modules"][0]).resolve().is_relative_to(space.resolve())  # the shipped copy

    argv = [model_dir, str(uploads / "call.wav"), "--segment", "vad", "--json", "--top_k", "6", "--precision", "fp32"]
    assert predict_main(argv) == 0
    (expected,) = json.loads(capsys.readouterr().out)["predictions"]
    got, want = answer["segments"]["segments"], expected["segments"]
    assert len(want) >= 5  # the speech of the recording, not one window or 8 s windows
    assert [(s["start"], s["end"], s["label"]) for s in got] == [(s["start"], s["end"], s["label"]) for s in want]
    for g, w in zip(got, want):
        assert max(abs(g["scores"][k] - w["scores"][k]) for k in w["scores"]) < 1e-5
    assert answer["segments"]["file"] == "call.wav" and answer["segments"]["label"] == expected["label"]
    assert answer["segments"]["summary"].keys() == expected["summary"].keys()

    page = answer["page"]  # the page shows the same segments as a table, and the overall scores
    assert page["visible"] is True and answer["short_visible"] is False
    assert [row[:3] for row in page["rows"]] == [[s["start"], s["end"], s["label"]] for s in want]
    assert max(abs(page["scores"][k] - expected["scores"][k]) for k in expected["scores"]) < 1e-5
    assert answer["zeros"] == "zeros.wav: all silent (peak <= 0.0001)"
