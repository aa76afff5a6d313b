"""Calibrated confidence (recipe.components.calibration): the ECE against a hand computation, temperature scaling
on a hand-made over-confident model (logits 5x a calibrated model's), recipe.evaluate storing the temperature,
and the stored temperature reaching from_pretrained, pipeline() and predict exactly once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import DatasetDict
from PIL import Image
from transformers import AutoModelForAudioClassification, pipeline

from recipe.components.calibration import (
    UNCERTAIN,
    check_min_confidence,
    decide,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
    write_temperature,
)
from recipe.components.evaluation import evaluate_model
from recipe.components.inference import classify_waves
from recipe.components.model_io import load_model
from recipe.components.onnx_export import synthetic_waves
from tests.support.tiny_models import save_tiny_ser_model
from tests.support.train_helpers import make_split

SR = 16000


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_ece_matches_a_hand_computation() -> None:
    probs = np.array(
        [
            [0.90, 0.05, 0.05],  # conf 0.90, correct -> bin (13/15, 14/15]
            [0.92, 0.04, 0.04],  # conf 0.92, correct -> same bin
            [0.10, 0.15, 0.75],  # conf 0.75, wrong   -> bin (11/15, 12/15]
            [0.50, 0.30, 0.20],  # conf 0.50, correct -> bin (7/15, 8/15]
            [0.55, 0.45, 0.00],  # conf 0.55, wrong   -> bin (8/15, 9/15]
        ]
    )
    labels = np.array([0, 0, 1, 0, 1])
    # (2/5)|1 - 0.91| + (1/5)|0 - 0.75| + (1/5)|1 - 0.5| + (1/5)|0 - 0.55| = 0.036 + 0.15 + 0.1 + 0.11
    assert expected_calibration_error(probs, labels) == pytest.approx(0.396)
    rows = reliability_bins(probs, labels)
    assert len(rows) == 15 and sum(row["count"] for row in rows) == 5
    assert rows[13]["count"] == 2 and rows[13]["confidence"] == pytest.approx(0.91) and rows[13]["accuracy"] == 1.0
    # A perfectly confident, always right model has ECE 0; always wrong at confidence 1, ECE 1.
    one_hot = np.eye(3)[[0, 1, 2]]
    assert expected_calibration_error(one_hot, [0, 1, 2]) == 0.0
    assert expected_calibration_error(one_hot, [1, 2, 0]) == 1.0


def test_temperature_scaling_undoes_logits_scaled_by_5() -> None:
    rng = np.random.default_rng(0)
    calibrated = rng.normal(0.0, 1.5, size=(6000, 6))  # a calibrated model: labels drawn from its softmax
    labels = np.array([rng.choice(6, p=p) for p in _softmax(calibrated)])
    overconfident = 5.0 * calibrated
    fit, held_out = slice(0, 3000), slice(3000, None)
    temperature = fit_temperature(overconfident[fit], labels[fit])
    assert temperature == pytest.approx(5.0, rel=0.1)
    before = expected_calibration_error(_softmax(overconfident[held_out]), labels[held_out])
    after = expected_calibration_error(_softmax(overconfident[held_out] / temperature), labels[held_out])
    assert before > 0.2 and after < 0.03, (before, after)
    # An already calibrated model keeps T close to 1.
    assert fit_temperature(calibrated[fit], labels[fit]) == pytest.approx(1.0, rel=0.1)
    with pytest.raises(ValueError, match="NaN"):
        fit_temperature(np.full((2, 3), np.nan), [0, 1])


def test_min_confidence_answers_uncertain() -> None:
    scores = {"anger": 0.41, "happy": 0.39, "sad": 0.2}
    assert decide(scores, None) == "anger"
    assert decide(scores, 0.4) == "anger"
    assert decide(scores, 0.5) == UNCERTAIN
    assert check_min_confidence(0.5) == 0.5
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="min_confidence"):
            check_min_confidence(bad)


def _raw_logits(model_dir: str, waves: list[np.ndarray]) -> np.ndarray:
    model, extractor = load_model(model_dir, "cpu")
    model.config.temperature = 1.0
    inputs = extractor(waves, sampling_rate=SR, padding=True, return_tensors="pt")
    with torch.inference_mode():
        return model(**inputs).logits.numpy()


def test_stored_temperature_round_trips_through_save_load_and_pipeline(tmp_path: Path) -> None:
    model_dir = save_tiny_ser_model(tmp_path / "model", seed=4)
    waves = synthetic_waves([1.2], SR, seed=3)
    raw = _raw_logits(model_dir, waves)
    write_temperature(model_dir, 2.5)
    assert json.loads((Path(model_dir) / "config.json").read_text())["temperature"] == 2.5

    model = AutoModelForAudioClassification.from_pretrained(model_dir).eval()
    assert model.config.temperature == 2.5
    with torch.inference_mode():
        logits = model(**load_model(model_dir, "cpu")[1](waves, sampling_rate=SR, return_tensors="pt")).logits
    np.testing.assert_allclose(logits.numpy(), raw / 2.5, rtol=1e-5, atol=1e-6)

    # pipeline(): its softmax of the forward's logits = softmax(raw / T), the temperature applied exactly once
    classifier = pipeline("audio-classification", model=model_dir, top_k=None)
    got = {item["label"]: item["score"] for item in classifier({"raw": waves[0], "sampling_rate": SR})}
    want = _softmax(raw / 2.5)[0]
    names = [model.config.id2label[i] for i in range(6)]
    assert max(abs(got[name] - want[i]) for i, name in enumerate(names)) < 1e-5
    assert max(abs(got[name] - _softmax(raw)[0][i]) for i, name in enumerate(names)) > 1e-3  # T really applied

    # predict's path (classify_waves) gives the same calibrated scores
    model, extractor = load_model(model_dir, "cpu")
    np.testing.assert_allclose(classify_waves(model, extractor, waves)[0], want, atol=1e-5)
    with pytest.raises(ValueError, match="temperature"):
        type(model.config)(temperature=0.0)


def _overconfident_model_and_data(root: Path) -> tuple[str, str]:
    """A tiny model whose classifier is scaled so its logits are 5x those of a `calibrated` model, and a prepared
    dataset whose labels are drawn from softmax(logits / 5): the calibrated model is right by construction."""
    model_dir = save_tiny_ser_model(root / "model", seed=11, max_duration=1.0)
    model = AutoModelForAudioClassification.from_pretrained(model_dir)
    with torch.no_grad():  # spread the random head's logits so that the calibrated probabilities are not uniform
        model.classifier.weight.mul_(40.0)
        model.classifier.bias.mul_(40.0)
    model.save_pretrained(model_dir)
    rng = np.random.default_rng(5)
    splits = {}
    for name, seed in (("train", 1), ("validation", 2), ("test", 3)):
        split = make_split(8 if name == "train" else 60, seed, min_s=0.4, max_s=0.4)
        logits = _raw_logits(model_dir, [np.asarray(a, dtype=np.float32) for a in split["audio"]])
        labels = [int(rng.choice(6, p=p)) for p in _softmax(logits / 5.0)]
        splits[name] = split.map(lambda _row, i: {"label": labels[i]}, with_indices=True)
    DatasetDict(splits).save_to_disk(str(root / "data"))
    return model_dir, str(root / "data")


def test_evaluate_fits_stores_and_reports_the_temperature(tmp_path: Path) -> None:
    model_dir, data_dir = _overconfident_model_and_data(tmp_path)
    results = evaluate_model(model_dir, data_dir, "test", also=(), precision="fp32")
    calibration = results["calibration"]
    assert calibration["fitted_on"] == "validation" and calibration["stored_in_config"]
    assert 3.0 < calibration["temperature"] < 8.0  # 360 clips: 5 within sampling noise
    assert json.loads((Path(model_dir) / "config.json").read_text())["temperature"] == calibration["temperature"]
    for name in ("validation", "test"):
        numbers = results["splits"][name]["calibration"]
        assert numbers["ece_after"] < numbers["ece_before"], (name, numbers)
        assert numbers["nll_after"] < numbers["nll_before"]
    saved = json.loads((Path(model_dir) / "eval_results.json").read_text())
    assert saved["figures"]["reliability_diagram"] == "reliability_diagram.png"
    assert saved["splits"]["test"]["calibration"] == results["splits"]["test"]["calibration"]
    with Image.open(Path(model_dir) / "reliability_diagram.png") as image:
        assert image.size == (1000, 460)

    # Evaluating again starts from the uncalibrated logits: the same temperature, not T * T.
    again = evaluate_model(model_dir, data_dir, "test", also=(), precision="fp32", write=False)
    assert again["calibration"]["temperature"] == pytest.approx(calibration["temperature"], rel=1e-4)
    assert again["splits"]["test"]["accuracy"] == results["splits"]["test"]["accuracy"]


@pytest.mark.slow
def test_onnx_graph_carries_the_temperature_once(tmp_path: Path) -> None:
    from recipe.components.inference import ModelFolderError
    from recipe.components.onnx_export import export_model

    model_dir = save_tiny_ser_model(tmp_path / "model", seed=6)
    waves = synthetic_waves([0.8, 1.9, 1.9, 3.0], SR, seed=4)
    raw = _raw_logits(model_dir, waves[:1])
    write_temperature(model_dir, 3.0)
    info = export_model(model_dir)
    assert info["temperature"] == 3.0
    torch_model, extractor = load_model(model_dir, "cpu")
    onnx_model, _ = load_model(model_dir, backend="onnx")
    assert onnx_model.temperature == 3.0
    reference = classify_waves(torch_model, extractor, waves, batch_size=2)
    assert np.abs(classify_waves(onnx_model, extractor, waves, batch_size=2) - reference).max() < 1e-4
    np.testing.assert_allclose(reference[0], _softmax(raw / 3.0)[0], atol=1e-5)  # divided once, not twice

    write_temperature(model_dir, 1.7)  # calibrated again after the export: the old graph is refused
    with pytest.raises(ModelFolderError, match="re-run python -m recipe.export"):
        load_model(model_dir, backend="onnx")
