"""recipe.predict: folders and files, any sample rate and channel count, bad files reported, batching, --chunk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from transformers import pipeline

from data_prep.audio import load_audio
from recipe.components.model_io import load_model
from recipe.components.prediction import find_audio_files, predict_files, window_clip
from recipe.predict import main
from tests.support.tiny_models import save_tiny_ser_model

SR = 16000


def _tone(seconds: float, sr: int, freq: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("audio")
    sf.write(folder / "a_16k_mono.wav", _tone(2.0, 16000, 200), 16000)
    stereo = np.stack([_tone(3.0, 44100, 300, 1), _tone(3.0, 44100, 310, 2)], axis=1)
    sf.write(folder / "b_44k_stereo.flac", stereo, 44100)
    (folder / "sub").mkdir()
    sf.write(folder / "sub" / "c_long_12s.wav", _tone(12.0, 22050, 150, 3), 22050)
    (folder / "d_corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage, not a real file")
    (folder / "notes.txt").write_text("not audio, and not picked up from a folder")
    return folder


def test_cli_classifies_folder_and_reports_corrupt_file(
    tiny_ser_model: str, audio_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main([tiny_ser_model, str(audio_dir), "--batch_size", "2"]) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    names = [Path(line.split("\t")[0]).name for line in lines]
    assert names == ["a_16k_mono.wav", "b_44k_stereo.flac", "c_long_12s.wav"]
    for line in lines:
        label, score = line.split("\t")[1].split(" ")
        assert label in {"anger", "fear", "happy", "neutral", "sad", "surprise"} and 0 < float(score) <= 1
    assert f"{audio_dir / 'd_corrupt.wav'}: " in err
    assert "classified 3 file(s), 1 could not be used" in err


def test_cli_json_top_k_and_chunk(tiny_ser_model: str, audio_dir: Path, capsys: pytest.CaptureFixture) -> None:
    long_clip = audio_dir / "sub" / "c_long_12s.wav"
    missing = audio_dir / "nope.wav"
    assert (
        main(
            [
                tiny_ser_model,
                str(long_clip),
                str(missing),
                str(audio_dir / "a_16k_mono.wav"),
                "--json",
                "--top_k",
                "3",
                "--chunk",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    by_name = {Path(p["path"]).name: p for p in report["predictions"]}
    assert by_name["c_long_12s.wav"]["windows"] == 2  # 8 s + 4 s
    assert by_name["c_long_12s.wav"]["duration_s"] == pytest.approx(12.0, abs=1e-3)
    assert by_name["a_16k_mono.wav"]["windows"] == 1
    for pred in report["predictions"]:
        scores = [item["score"] for item in pred["top_k"]]
        assert len(scores) == 3 and scores == sorted(scores, reverse=True)
        assert pred["label"] == pred["top_k"][0]["label"]
    assert report["errors"] == [{"path": str(missing), "error": "missing file"}]


def test_cli_fails_when_nothing_could_be_classified(
    tiny_ser_model: str, audio_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main([tiny_ser_model, str(audio_dir / "d_corrupt.wav"), str(audio_dir / "notes.txt")]) == 1
    err = capsys.readouterr().err
    assert "d_corrupt.wav: " in err and "notes.txt: not audio" in err
    assert "classified 0 file(s), 2 could not be used" in err


def test_predict_matches_pipeline_on_same_audio(tiny_ser_model: str, audio_dir: Path) -> None:
    model, extractor = load_model(tiny_ser_model, "cpu")
    files = [audio_dir / "a_16k_mono.wav", audio_dir / "b_44k_stereo.flac", audio_dir / "sub" / "c_long_12s.wav"]
    report = predict_files(model, extractor, files, top_k=6, batch_size=1)
    classifier = pipeline("audio-classification", model=tiny_ser_model, device="cpu")
    for path, pred in zip(files, report.predictions):
        # The pipeline gets the full decoded clip and crops it itself; predict crops while decoding.
        expected = {d["label"]: d["score"] for d in classifier(load_audio(path, max_duration=None), top_k=None)}
        assert dict(zip(pred.labels, pred.scores)) == pytest.approx(expected, abs=1e-5)


def test_batched_equals_one_by_one_for_layer_norm_model(tmp_path: Path, audio_dir: Path) -> None:
    model, extractor = load_model(save_tiny_ser_model(tmp_path / "layer", arch="wavlm", feat_extract_norm="layer"))
    assert extractor.return_attention_mask
    files, errors = find_audio_files([audio_dir, audio_dir / "a_16k_mono.wav"])  # listed twice, kept once
    assert len(files) == 4 and errors == []
    batched = predict_files(model, extractor, files, top_k=6, batch_size=4)
    single = predict_files(model, extractor, files, top_k=6, batch_size=1)
    assert [p.path for p in batched.predictions] == [p.path for p in single.predictions]
    for a, b in zip(batched.predictions, single.predictions):
        assert dict(zip(a.labels, a.scores)) == pytest.approx(dict(zip(b.labels, b.scores)), abs=1e-4)
    assert [Path(e["path"]).name for e in batched.errors] == ["d_corrupt.wav"]


def test_window_clip() -> None:
    wave = np.arange(100, dtype=np.float32)
    assert [len(w) for w in window_clip(wave, 40, 10)] == [40, 40, 20]
    assert [len(w) for w in window_clip(wave, 45, 11)] == [45, 45]  # 10-sample tail dropped
    assert [len(w) for w in window_clip(wave[:5], 40, 10)] == [5]
