"""`python -m recipe.predict --segment vad|fixed` and its outputs: the JSON segments and summary, a CSV table, JSON
lines, WebVTT cues (header, HH:MM:SS.mmm timestamps, time order), --output written whole or not at all."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from demo.recording import make_recording
from recipe.components.segment_output import make_writer, speech_shares, vtt_time
from recipe.predict import main

LABELS = {"anger", "fear", "happy", "neutral", "sad", "surprise"}
CUE_TIME = r"(\d{2}):(\d{2}):(\d{2})\.(\d{3})"


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 s of demo pseudo-speech between silences, 44.1 kHz stereo 16-bit."""
    wave, _ = make_recording(30, 44100, seed=2, speech="demo")
    path = tmp_path_factory.mktemp("rec") / "call.wav"
    sf.write(path, np.stack([wave, wave], axis=1), 44100, subtype="PCM_16")
    return path


def _seconds(stamp: str) -> float:
    h, m, s, ms = (int(x) for x in re.fullmatch(CUE_TIME, stamp).groups())  # None (an error) if not HH:MM:SS.mmm
    return h * 3600 + m * 60 + s + ms / 1000


def test_vtt_time() -> None:
    assert vtt_time(0) == "00:00:00.000"
    assert vtt_time(3725.4567) == "01:02:05.457"


def test_json_segments_and_summary(tiny_ser_model: str, recording: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([tiny_ser_model, str(recording), "--segment", "vad", "--json", "--max_segment", "4"]) == 0
    (pred,) = json.loads(capsys.readouterr().out)["predictions"]
    segments = pred["segments"]
    assert len(segments) >= 5 and pred["windows"] == len(segments)
    for seg in segments:
        assert set(seg) == {"start", "end", "label", "score", "scores"}
        assert seg["start"] == round(seg["start"], 2) and seg["end"] == round(seg["end"], 2)
        assert 1.0 - 0.011 <= seg["end"] - seg["start"] <= 4.0 + 0.011  # --min_segment 1 .. --max_segment 4
        assert set(seg["scores"]) == LABELS and seg["label"] == max(seg["scores"], key=seg["scores"].get)
    assert all(a["end"] <= b["start"] for a, b in zip(segments, segments[1:]))
    # summary: share of the segments' time per label, computed here by hand
    time = {label: 0.0 for label in LABELS}
    for seg in segments:
        time[seg["label"]] += seg["end"] - seg["start"]
    total = sum(time.values())
    assert pred["summary"] == pytest.approx({k: v / total for k, v in time.items()}, abs=1e-3)
    assert pred["used_s"] == pytest.approx(total, abs=0.05)


def test_fixed_is_chunk(tiny_ser_model: str, recording: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([tiny_ser_model, str(recording), "--chunk", "--json"]) == 0
    chunk = json.loads(capsys.readouterr().out)["predictions"][0]
    assert main([tiny_ser_model, str(recording), "--segment", "fixed", "--json"]) == 0
    fixed = json.loads(capsys.readouterr().out)["predictions"][0]
    assert chunk == fixed
    duration = sf.info(recording).duration
    assert [(s["start"], s["end"]) for s in fixed["segments"]][:2] == [(0.0, 8.0), (8.0, 16.0)]
    assert fixed["segments"][-1]["end"] == round(duration, 2)


def test_csv_jsonl_and_vtt_files(
    tiny_ser_model: str, recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    outputs = {fmt: tmp_path / f"out.{fmt}" for fmt in ("json", "csv", "jsonl", "vtt")}
    for fmt, out in outputs.items():
        assert main([tiny_ser_model, str(recording), "--segment", "vad", "--format", fmt, "--output", str(out)]) == 0
    assert capsys.readouterr().out == ""  # everything went to the files
    segments = json.loads(outputs["json"].read_text())["predictions"][0]["segments"]

    rows = list(csv.DictReader(io.StringIO(outputs["csv"].read_text())))
    assert list(rows[0])[:5] == ["path", "start", "end", "label", "score"] and set(list(rows[0])[5:]) == LABELS
    assert [(float(r["start"]), float(r["end"]), r["label"]) for r in rows] == [
        (s["start"], s["end"], s["label"]) for s in segments
    ]

    (line,) = outputs["jsonl"].read_text().splitlines()
    assert json.loads(line)["segments"] == segments

    text = outputs["vtt"].read_text()
    assert text.startswith("WEBVTT\n\n")
    cues = text.split("\n\n")[1:]
    assert len(cues) == len(segments)
    previous_end = 0.0
    for number, (cue, seg) in enumerate(zip(cues, segments), start=1):
        ident, timing, payload = cue.strip("\n").split("\n")
        assert ident == str(number)
        start, end = re.fullmatch(r"(\S+) --> (\S+)", timing).groups()
        assert previous_end <= _seconds(start) < _seconds(end)
        assert (_seconds(start), _seconds(end)) == (seg["start"], seg["end"])
        label, score = payload.split(" ")
        assert label == seg["label"] and float(score) == round(seg["score"], 2)
        previous_end = _seconds(end)


def test_refusals_and_no_speech(
    tiny_ser_model: str, recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    existing = tmp_path / "mine.csv"
    existing.write_text("the user's own file\n")
    assert main([tiny_ser_model, str(recording), "--segment", "vad", "--format", "csv", "--output", str(existing)]) == 2
    assert existing.read_text() == "the user's own file\n"
    assert "already exists" in capsys.readouterr().err
    other = tmp_path / "other.wav"
    sf.write(other, np.zeros(16000, np.float32) + 1e-3 * np.random.default_rng(0).standard_normal(16000), 16000)
    assert main([tiny_ser_model, str(recording), str(other), "--segment", "vad", "--format", "vtt"]) == 2
    assert "one recording's cues; 2 audio files" in capsys.readouterr().err
    # A file of faint noise: no speech, reported and counted; the run fails as nothing was classified.
    out = tmp_path / "none.jsonl"
    assert main([tiny_ser_model, str(other), "--segment", "vad", "--format", "jsonl", "--output", str(out)]) == 1
    assert json.loads(out.read_text()) == {
        "path": str(other),
        "error": "no speech (the voice activity detector found none in 1.0 s)",
    }
    assert "classified 0 file(s), 1 could not be used" in capsys.readouterr().err
    nothing = tmp_path / "x" / "out.csv"
    assert main([tiny_ser_model, str(recording), "--format", "csv", "--output", str(nothing)]) == 2


def test_writers_stream_and_speech_shares() -> None:
    out = io.StringIO()
    writer = make_writer("json", out)
    writer.write({"path": "a.wav", "label": "sad"})
    assert '"path": "a.wav"' in out.getvalue()  # written before the document is closed
    writer.error({"path": "b.wav", "error": "missing file"})
    writer.close()
    assert json.loads(out.getvalue()) == {
        "predictions": [{"path": "a.wav", "label": "sad"}],
        "errors": [{"path": "b.wav", "error": "missing file"}],
    }
    segments = [
        {"start": 0.0, "end": 3.0, "label": "sad"},
        {"start": 5.0, "end": 6.0, "label": "happy"},
        {"start": 7.0, "end": 11.0, "label": "sad"},
    ]
    assert speech_shares(segments, ["happy", "sad", "anger"]) == {"happy": 0.125, "sad": 0.875, "anger": 0.0}
