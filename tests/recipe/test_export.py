"""recipe.export and `recipe.predict --backend onnx`: the fp32 graph gives PyTorch's probabilities through the same
decode, crop and batching path; the int8 graph runs and its agreement with fp32 is reported; bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from recipe.components.inference import classify_waves
from recipe.components.model_io import load_model
from recipe.components.onnx_export import export_model, synthetic_waves
from recipe.export import main as export_main
from recipe.predict import main as predict_main
from tests.support.tiny_models import save_tiny_ser_model
from tests.support.train_helpers import make_dataset

pytestmark = pytest.mark.slow  # each export traces the model with torch.export (~25 s for a tiny model)
SR = 16000


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A group-norm tiny model exported with int8 and the agreement measured on a prepared validation split."""
    root = tmp_path_factory.mktemp("export")
    model_dir = save_tiny_ser_model(root / "model")
    data = make_dataset(root / "data", n_train=1, n_eval=2)
    assert export_main(["--model", model_dir, "--quantize", "int8", "--data", data]) == 0
    return model_dir, Path(model_dir) / "onnx"


@pytest.fixture(scope="module")
def wav_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wavs")
    for i, wave in enumerate(synthetic_waves([0.7, 2.2, 1.4, 2.2, 9.0, 3.1], SR, seed=7)):
        sf.write(folder / f"clip{i}.wav", wave, SR)
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEfmt not audio")
    return folder


def _predict(argv: list[str], capsys: pytest.CaptureFixture) -> dict[str, dict[str, float]]:
    assert predict_main([*argv, "--json", "--top_k", "6"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [Path(e["path"]).name for e in report["errors"]] == ["broken.wav"]
    return {Path(p["path"]).name: {t["label"]: t["score"] for t in p["top_k"]} for p in report["predictions"]}


def test_export_writes_a_runnable_folder_and_reports_int8_agreement(exported: tuple[str, Path]) -> None:
    _, onnx_dir = exported
    assert {"model.onnx", "model_int8.onnx", "config.json", "preprocessor_config.json", "export_info.json"} <= {
        p.name for p in onnx_dir.iterdir()
    }
    info = json.loads((onnx_dir / "export_info.json").read_text())
    assert info["inputs"] == ["input_values"]  # group norm: no attention mask
    assert info["fp32_vs_torch_max_abs_prob_diff"] < 1e-4
    agreement = info["int8_agreement"]
    assert agreement["split"] == "validation" and agreement["n"] == 12
    assert 0.0 <= agreement["top1_agreement"] <= 1.0 and agreement["max_abs_prob_diff"] >= 0.0


def test_onnx_backend_equals_torch_through_the_cli(
    exported: tuple[str, Path], wav_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    model_dir, onnx_dir = exported
    torch_run = _predict([model_dir, str(wav_dir), "--precision", "fp32"], capsys)  # the graph is fp32
    for target in (model_dir, str(onnx_dir)):  # the model folder (finds onnx/) or the export folder itself
        onnx_run = _predict([target, str(wav_dir), "--backend", "onnx"], capsys)
        assert onnx_run.keys() == torch_run.keys() and len(onnx_run) == 6
        diff = max(abs(onnx_run[f][k] - torch_run[f][k]) for f in torch_run for k in torch_run[f])
        assert diff < 1e-4
    int8_run = _predict([model_dir, str(wav_dir), "--backend", "onnx", "--quantize", "--chunk"], capsys)
    assert int8_run.keys() == torch_run.keys()
    for scores in int8_run.values():
        assert sum(scores.values()) == pytest.approx(1.0, abs=1e-4)


def test_layer_norm_export_takes_the_attention_mask(tmp_path: Path) -> None:
    model_dir = save_tiny_ser_model(tmp_path / "model", feat_extract_norm="layer")
    info = export_model(model_dir, tmp_path / "onnx")
    assert info["inputs"] == ["input_values", "attention_mask"]
    torch_model, extractor = load_model(model_dir, "cpu")
    onnx_model, _ = load_model(tmp_path / "onnx", backend="onnx")
    waves = synthetic_waves([0.5, 1.9, 1.1, 3.0, 2.5], SR, seed=3)  # one padded batch of five lengths
    diff = np.abs(classify_waves(onnx_model, extractor, waves) - classify_waves(torch_model, extractor, waves))
    assert diff.max() < 1e-4


def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert export_main(["--model", str(tmp_path)]) == 2
    assert f"{tmp_path}: no config.json" in capsys.readouterr().err
    model_dir = save_tiny_ser_model(tmp_path / "model")
    assert predict_main([model_dir, str(tmp_path), "--backend", "onnx"]) == 2
    assert "no model.onnx here or in onnx/ (run python -m recipe.export" in capsys.readouterr().err
