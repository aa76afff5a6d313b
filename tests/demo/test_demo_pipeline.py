"""The last step of `make demo`: one clip through pipeline("audio-classification"), and where the results are."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from demo.pipeline import main as demo_main
from recipe.train import main as train_main
from tests.support.train_helpers import tiny_config, write_config


@pytest.mark.slow  # trains one epoch
def test_demo_pipeline_classifies_one_clip(tmp_path, capsys, small_dataset):
    data = small_dataset
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "c.yaml", tiny_config(training={"num_train_epochs": 1}))
    assert train_main(["--config", cfg, "--data", data, "--output_dir", str(out)]) == 0
    corpus = tmp_path / "corpus" / "sad"
    corpus.mkdir(parents=True)
    t = np.arange(8000) / 8000
    sf.write(corpus / "spk01_sad_00.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 8000)
    capsys.readouterr()

    assert demo_main(["--model", str(out), "--corpus", str(tmp_path / "corpus")]) == 0
    printed = capsys.readouterr().out
    # The dataset's test paths do not exist on disk here, so the first corpus file is used.
    assert "spk01_sad_00.wav (first audio file under" in printed and "folder label: sad" in printed
    assert (
        len(
            [
                line
                for line in printed.splitlines()
                if line.startswith("  ") and line.split()[0] in ("anger", "fear", "happy", "neutral", "sad", "surprise")
            ]
        )
        == 3
    )
    assert f"{out / 'model.safetensors'}" in printed and "model card" in printed


def test_demo_pipeline_errors(tmp_path, capsys):
    assert demo_main(["--model", str(tmp_path), "--corpus", str(tmp_path)]) == 2
    assert "no trained model" in capsys.readouterr().err
