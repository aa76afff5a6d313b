"""No path emits NaN scores: absurd amplitudes are refused per file (the others are still classified), the feature
extractor normalises without overflow, and a model that returns NaN gets an error line, never a NaN in --json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from recipe.components.model_io import load_model
from recipe.components.prediction import predict_files
from recipe.modeling import SERFeatureExtractor
from recipe.predict import main


def tone(seconds: float = 1.0, sr: int = 16000, peak: float | None = None) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    wave = (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
    if peak is not None:
        wave[len(wave) // 3] = peak
    return wave


def no_nan(text: str) -> dict:
    """Parse strict JSON: NaN/Infinity (which json.dump writes by default) are refused."""

    def refuse(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def test_absurd_file_is_refused_and_the_others_classified(
    tiny_ser_model: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    sf.write(tmp_path / "good.wav", tone(), 16000)
    sf.write(tmp_path / "huge.wav", tone(peak=1e37), 16000, subtype="FLOAT")
    capsys.readouterr()
    assert main([tiny_ser_model, str(tmp_path / "good.wav"), str(tmp_path / "huge.wav"), "--json"]) == 0
    out, err = capsys.readouterr()
    result = no_nan(out)
    assert [Path(p["path"]).name for p in result["predictions"]] == ["good.wav"]
    assert [(Path(e["path"]).name, e["error"].split(" (")[0]) for e in result["errors"]] == [
        ("huge.wav", "amplitude out of range")
    ]
    assert sum("huge.wav: amplitude out of range" in line for line in err.splitlines()) == 1


@pytest.mark.parametrize("return_attention_mask", [False, True])
def test_extractor_normalises_huge_values_without_overflow(return_attention_mask: bool) -> None:
    extractor = SERFeatureExtractor(return_attention_mask=return_attention_mask)
    wave = tone(peak=1e37)
    values = extractor([wave, tone(0.5)], sampling_rate=16000, return_tensors="np")["input_values"]
    assert np.isfinite(values).all()
    # Hand-computed: one spike of 1e37 among n samples of |x| <= 0.3 gives std ~ 1e37 / sqrt(n), so the spike
    # normalises to about sqrt(n - 1) and the rest to about -1 / sqrt(n).
    n = len(wave)
    assert values[0, n // 3] == pytest.approx(np.sqrt(n - 1), rel=1e-3)
    assert values[0, 0] == pytest.approx(-1 / np.sqrt(n), rel=1e-2)


def test_non_finite_model_scores_become_an_error_not_a_nan(
    tiny_ser_model: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    model, extractor = load_model(tiny_ser_model, "cpu")
    with torch.no_grad():
        next(p for name, p in model.named_parameters() if "classifier" in name or "head" in name).fill_(float("nan"))
    poisoned = tmp_path / "nan_model"
    model.save_pretrained(str(poisoned))
    extractor.save_pretrained(str(poisoned))
    sf.write(tmp_path / "a.wav", tone(), 16000)
    report = predict_files(model, extractor, [tmp_path / "a.wav"])
    assert report.predictions == [] and report.errors[0]["error"] == "the model gave non-finite (NaN/inf) scores"
    capsys.readouterr()
    assert main([str(poisoned), str(tmp_path / "a.wav"), "--json"]) == 1
    result = no_nan(capsys.readouterr().out)
    assert result["predictions"] == [] and "non-finite" in result["errors"][0]["error"]


def test_extractor_stays_finite_at_the_float32_limits() -> None:
    extractor = SERFeatureExtractor()
    opposite = np.full(16000, -3.4e38, np.float32)
    opposite[0] = 3.4e38  # the deviation from the mean is itself beyond float32's range
    constant = np.full(16000, 3.4e38, np.float32)
    values = extractor([opposite, constant], sampling_rate=16000, return_tensors="np")["input_values"]
    assert np.isfinite(values).all()
    assert values[0, 0] == pytest.approx(np.sqrt(16000 - 1), rel=1e-3) and not values[1].any()
