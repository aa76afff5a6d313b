"""Feature extraction is identical everywhere, and both pipeline paths (in-process, remote code) work offline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoFeatureExtractor, HubertConfig, Wav2Vec2Config, WavLMConfig, pipeline

from data_prep.audio import centre_crop as data_prep_centre_crop
from recipe import SERConfig, SERFeatureExtractor, SERForAudioClassification
from recipe.modeling.feature_extraction_ser import centre_crop
from tests.support.fresh_process import run_remote_code_script
from tests.support.tiny_models import save_tiny_ser_model

SR = 16000


@pytest.fixture(scope="module")
def full_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    # The optional parts on, so the remote-code test runs them from config.json too.
    return save_tiny_ser_model(
        tmp_path_factory.mktemp("ser") / "model", use_weighted_layer_sum=True, encoder_output_norm=True
    )


def _normalise(wave: np.ndarray) -> np.ndarray:
    return ((wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)).astype(np.float32)


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (
        0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.05 * rng.standard_normal(t.size)
    ).astype(np.float32)


# ---------------------------------------------------------------- feature extractor
@pytest.mark.parametrize("n", [5, 16, 17, 128000, 128001, 192000])
def test_crop_matches_data_prep(n: int) -> None:
    wave = np.arange(n, dtype=np.float32)
    max_samples = 16 if n < 1000 else 128000
    np.testing.assert_array_equal(centre_crop(wave, max_samples), data_prep_centre_crop(wave, max_samples))


def test_extractor_crops_then_normalises_each_clip() -> None:
    extractor = SERFeatureExtractor(max_duration=1.0)
    long_clip, short_clip = _speechlike(1.5, seed=1), _speechlike(0.5, seed=2)
    batch = extractor([long_clip, short_clip], sampling_rate=SR, return_tensors="np")
    assert batch["input_values"].shape == (2, SR)
    np.testing.assert_allclose(batch["input_values"][0], _normalise(long_clip[4000:20000]), atol=1e-5)
    np.testing.assert_allclose(batch["input_values"][1, :8000], _normalise(short_clip), atol=1e-5)
    assert not batch["input_values"][1, 8000:].any()  # zero padding after normalising
    alone = extractor(short_clip, sampling_rate=SR, return_tensors="np")["input_values"][0]
    np.testing.assert_array_equal(alone, batch["input_values"][1, :8000])
    assert "attention_mask" not in batch  # group-norm default
    no_crop = SERFeatureExtractor(max_duration=None)(long_clip, sampling_rate=SR)["input_values"][0]
    assert no_crop.shape == (long_clip.size,)


def test_extractor_rejects_wrong_sampling_rate_and_stereo() -> None:
    extractor = SERFeatureExtractor()
    with pytest.raises(ValueError, match="expects audio at 16000 Hz, got 44100 Hz"):
        extractor(_speechlike(0.5), sampling_rate=44100)
    with pytest.raises(ValueError, match="mono"):
        extractor([np.zeros((2, 100), dtype=np.float32)], sampling_rate=SR)


@pytest.mark.parametrize(
    ("config", "wants_mask"),
    [
        (Wav2Vec2Config(), False),  # wav2vec2-base: group norm, trained without masks
        (Wav2Vec2Config(feat_extract_norm="layer", do_stable_layer_norm=True), True),  # large-lv60 style
        (HubertConfig(feat_extract_norm="layer"), True),
        (WavLMConfig(), False),
        ({"model_type": "data2vec-audio"}, True),
        (SERConfig(encoder_config=HubertConfig(feat_extract_norm="layer").to_dict()), True),
    ],
)
def test_for_encoder_decides_attention_mask(config, wants_mask: bool) -> None:
    extractor = SERFeatureExtractor.for_encoder(config, max_duration=6.0)
    assert extractor.return_attention_mask is wants_mask
    assert extractor.max_duration == 6.0 and extractor.max_samples == 96000


def test_extractor_save_load_keeps_settings(tmp_path: Path) -> None:
    SERFeatureExtractor(max_duration=5.5, return_attention_mask=True).save_pretrained(tmp_path)
    loaded = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert isinstance(loaded, SERFeatureExtractor)
    assert loaded.max_duration == 5.5 and loaded.return_attention_mask is True


# ---------------------------------------------------------------- pipeline, in-process
def test_pipeline_twelve_seconds_equals_centre_eight_through_model(tiny_ser_model: str) -> None:
    classifier = pipeline("audio-classification", model=tiny_ser_model, device="cpu")
    assert isinstance(classifier.model, SERForAudioClassification)
    clip = _speechlike(12.0, seed=4)
    out = classifier(clip, top_k=None, function_to_apply="none")  # raw logits
    pipe_logits = {item["label"]: item["score"] for item in out}

    centre = clip[2 * SR : 10 * SR]  # start = (12 s - 8 s) // 2
    model = SERForAudioClassification.from_pretrained(tiny_ser_model).eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(_normalise(centre))[None]).logits[0]
    for index, label in model.config.id2label.items():
        assert pipe_logits[label] == pytest.approx(float(logits[index]), abs=1e-5)


def test_pipeline_scores_are_probabilities_over_six_emotions(tiny_ser_model: str) -> None:
    classifier = pipeline("audio-classification", model=tiny_ser_model, device="cpu")
    out = classifier({"raw": _speechlike(3.0), "sampling_rate": SR}, top_k=None)
    assert sorted(item["label"] for item in out) == ["anger", "fear", "happy", "neutral", "sad", "surprise"]
    assert sum(item["score"] for item in out) == pytest.approx(1.0, abs=1e-5)
    assert len(classifier(_speechlike(3.0), top_k=2)) == 2


# ---------------------------------------------------------------- pipeline, remote code in a clean process
REMOTE_SCRIPT = """
import json, sys
import numpy as np
from transformers import pipeline
clip = np.load(sys.argv[2])
classifier = pipeline("audio-classification", model=sys.argv[1], trust_remote_code=True, device="cpu")
out = classifier({"raw": clip, "sampling_rate": 16000}, top_k=None, function_to_apply="none")
print(json.dumps({
    "model_module": type(classifier.model).__module__,
    "extractor_module": type(classifier.feature_extractor).__module__,
    "project_modules": sorted(m for m in sys.modules if m.split(".")[0] in ("recipe", "data_prep", "tests")),
    "logits": {item["label"]: item["score"] for item in out},
}))
"""


@pytest.mark.slow
def test_remote_code_pipeline_in_fresh_process(full_model_dir: str, tmp_path: Path) -> None:
    clip = _speechlike(10.0, seed=5)
    # -I: isolated mode (no PYTHONPATH, no cwd or script dir on sys.path); cwd is a folder without this project.
    report = run_remote_code_script(REMOTE_SCRIPT, full_model_dir, clip, tmp_path)
    assert report["model_module"].startswith("transformers_modules.")
    assert report["extractor_module"].startswith("transformers_modules.")
    assert report["project_modules"] == []
    config = json.loads((Path(full_model_dir) / "config.json").read_text())
    assert config["use_weighted_layer_sum"] and config["encoder_output_norm"] and config["attention_hidden_size"] == 384

    in_process = pipeline("audio-classification", model=full_model_dir, device="cpu")
    expected = {item["label"]: item["score"] for item in in_process(clip, top_k=None, function_to_apply="none")}
    assert report["logits"] == pytest.approx(expected, abs=1e-5)
