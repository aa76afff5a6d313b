"""recipe.predict / recipe.evaluate: a missing or non-model folder is one line and exit 2; predict skips AppleDouble
files like data_prep, classifies a clip whose name is not UTF-8, and reports the file's own duration."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from recipe import evaluate, predict
from tests.support.tiny_models import save_tiny_ser_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return save_tiny_ser_model(tmp_path_factory.mktemp("ser") / "model")


def not_models(tmp_path: Path) -> list[Path]:
    empty = tmp_path / "empty"
    empty.mkdir()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "config.json").write_text(json.dumps({"hello": "world"}))  # no model_type: "Unrecognized model"
    plain_file = tmp_path / "file.txt"
    plain_file.write_text("x")
    return [tmp_path / "missing", empty, junk, plain_file]


def test_predict_bad_model_folder_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    clip = tmp_path / "a.wav"
    sf.write(clip, 0.1 * np.sin(np.arange(16000) / 10).astype(np.float32), 16000)
    for folder in not_models(tmp_path):
        assert predict.main([str(folder), str(clip)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(folder) in err and "Traceback" not in err, err


def test_evaluate_bad_model_folder_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for folder in not_models(tmp_path):
        assert evaluate.main(["--model", str(folder), "--data", str(tmp_path / "data")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(folder) in err, err


def test_evaluate_missing_data_is_one_line_exit_2(
    model_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert evaluate.main(["--model", model_dir, "--data", str(tmp_path / "nope")]) == 2
    assert "folder not found" in capsys.readouterr().err


def test_predict_skips_appledouble_reads_non_utf8_names_and_reports_file_duration(
    model_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    rng = np.random.default_rng(0)
    name = os.fsdecode(b"caf\xe9_12s.wav")
    sf.write(os.fsencode(tmp_path / name), (0.1 * rng.standard_normal(12 * 16000)).astype(np.float32), 16000)
    (tmp_path / "._caf.wav").write_bytes(b"\x00\x05\x16\x07 AppleDouble resource fork")
    assert predict.main([model_dir, str(tmp_path), "--json"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert result["errors"] == [] and "1 file(s), 0 could not be used" in err
    (pred,) = result["predictions"]
    assert pred["path"].endswith("caf\\xe9_12s.wav")
    assert pred["duration_s"] == 12.0 and pred["used_s"] == 8.0


def test_train_on_an_unloadable_dataset_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """What an old data_prep left for a corpus with nothing usable: split folders without any Arrow file."""
    from recipe.train import main as train_main
    from tests.support.train_helpers import tiny_config, write_config

    data = tmp_path / "data"
    for split in ("train", "validation", "test"):
        (data / split).mkdir(parents=True)
        (data / split / "state.json").write_text(json.dumps({"_data_files": [], "_fingerprint": "x"}))
        (data / split / "dataset_info.json").write_text("{}")
    (data / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "validation", "test"]}))
    config = write_config(tmp_path / "c.yaml", tiny_config())
    assert train_main(["--config", config, "--data", str(data), "--output_dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "cannot be loaded" in err and "make prepare" in err and "Traceback" not in err
