"""Long recordings: the block reader (seek, per-block mono + streaming resampling, the file checks), silero-vad fed
block by block, speech boundaries on a spoken recording with known times, and the merge/split/widen rules."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from data_prep.audio import AudioError
from data_prep.audio_stream import SignalStats, iter_blocks, probe, read_span
from demo.recording import make_recording
from recipe.components.segmentation import SegmentOptions, SileroVad, Span, fit_spans, fixed_spans, vad_spans

SR = 48000


def _espeak() -> None:
    if shutil.which("espeak-ng"):
        return
    message = "espeak-ng not found (apt-get install -y espeak-ng)"
    if os.environ.get("CI"):
        pytest.fail(message + ": CI must run the boundary test, see .ci/run")
    pytest.skip(message)


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad()


def test_blocks_resample_like_the_whole_file_and_seek(tmp_path: Path) -> None:
    t = np.arange(int(3.3 * SR)) / SR
    left = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    right = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    path = tmp_path / "tone.wav"
    sf.write(path, np.stack([left, right], axis=1), SR, subtype="FLOAT")
    info = probe(path)
    assert (info.samplerate, info.frames, info.channels) == (SR, t.size, 2)
    whole = soxr.resample((left + right) / 2, SR, 16000, quality="HQ")
    blocks = list(iter_blocks(info, 16000, block_s=0.25))
    assert len(blocks) > 10
    streamed = np.concatenate(blocks)
    assert abs(streamed.size - whole.size) <= 1
    n = min(streamed.size, whole.size)
    assert np.max(np.abs(streamed[:n] - whole[:n])) < 1e-3
    # A span read by seeking: the same samples as that stretch of the whole signal, away from its edges.
    span = read_span(info, 1.0, 2.0, 16000)
    assert abs(span.size - 16000) <= 1
    assert np.max(np.abs(span[400:-400] - whole[16400:31600])) < 1e-3


def test_reader_reports_nan_silence_and_cancelling_channels(tmp_path: Path) -> None:
    wave = np.full((SR, 1), 0.1, dtype=np.float32)
    wave[SR // 2] = np.nan
    sf.write(tmp_path / "nan.wav", wave, SR, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN/inf samples"):
        list(iter_blocks(probe(tmp_path / "nan.wav"), 16000, block_s=0.1))
    tone = (0.2 * np.sin(np.arange(SR) / 5)).astype(np.float32)
    cases = {
        "zeros.wav": (np.zeros((SR, 2), np.float32), "all silent"),
        "cancel.wav": (np.stack([tone, -tone], axis=1), "channels cancel"),
        "dc.wav": (np.full((SR, 1), 0.25, np.float32), "no signal"),
    }
    for name, (data, reason) in cases.items():
        sf.write(tmp_path / name, data, SR, subtype="FLOAT")
        stats = SignalStats()
        for _ in iter_blocks(probe(tmp_path / name), 16000, block_s=0.1, stats=stats):
            pass
        with pytest.raises(AudioError, match=reason):
            stats.check(tmp_path / name)
    with pytest.raises(AudioError, match="too short"):
        sf.write(tmp_path / "short.wav", np.zeros(100, np.float32), SR)
        probe(tmp_path / "short.wav")


def test_vad_in_blocks_equals_one_call(vad: SileroVad) -> None:
    wave, _ = make_recording(20, 16000, seed=4, speech="demo")
    whole = vad.model.audio_forward(wave)  # silero-vad's own whole-array call
    for sizes in ([wave.size], [1000, 511, 512, 70000], [16000] * 30):
        pieces = np.split(wave, np.cumsum(sizes)[np.cumsum(sizes) < wave.size])
        probs, seen = vad.probabilities(pieces)
        assert seen == wave.size
        assert np.array_equal(probs, whole)


def test_speech_boundaries_on_a_spoken_recording(tmp_path: Path, vad: SileroVad) -> None:
    """Utterances spoken by espeak-ng between 1-3 s silences over -45 dBFS noise, saved as 48 kHz stereo 16-bit:
    one segment per utterance, start and end within 0.3 s of the truth."""
    _espeak()
    wave, truth = make_recording(45, SR, seed=2, speech="espeak")
    path = tmp_path / "speech.wav"
    sf.write(path, np.stack([wave, 0.8 * wave], axis=1), SR, subtype="PCM_16")
    stats = SignalStats()
    spans = vad_spans(probe(path), vad, SegmentOptions(), stats)
    stats.check(path)
    assert len(truth) >= 8 and len(spans) == len(truth)
    for span, utterance in zip(spans, truth):
        assert abs(span.start - utterance["start"]) <= 0.3, (span, utterance)
        assert abs(span.end - utterance["end"]) <= 0.3, (span, utterance)


def test_silent_recording_has_no_speech(tmp_path: Path, vad: SileroVad) -> None:
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "hiss.wav", (0.005 * rng.standard_normal(10 * 16000)).astype(np.float32), 16000)
    assert vad_spans(probe(tmp_path / "hiss.wav"), vad, SegmentOptions(), SignalStats()) == []


def _r(spans: list[Span]) -> list[tuple[float, float]]:
    return [(round(s.start, 3), round(s.end, 3)) for s in spans]


def test_fit_spans_merges_splits_and_widens() -> None:
    options = SegmentOptions(min_segment=1.0, max_segment=8.0, merge_gap=0.5)
    # 0.4 s gap: merged (result 4 s); 2 s gap: kept apart.
    assert _r(fit_spans([Span(0.0, 2.0), Span(2.4, 4.0), Span(6.0, 8.0)], 20.0, options)) == [(0, 4), (6, 8)]
    # Merging would give 8.5 s > 8: kept apart.
    assert _r(fit_spans([Span(0.0, 5.0), Span(5.2, 8.5)], 20.0, options)) == [(0, 5), (5.2, 8.5)]
    # 20 s of speech: three equal parts of 6.667 s.
    assert _r(fit_spans([Span(1.0, 21.0)], 30.0, options)) == [(1.0, 7.667), (7.667, 14.333), (14.333, 21.0)]
    # A 0.4 s blip widened to 1 s around its centre; one at the file start widened to the right only.
    assert _r(fit_spans([Span(5.0, 5.4)], 10.0, options)) == [(4.7, 5.7)]
    assert _r(fit_spans([Span(0.0, 0.3)], 10.0, options)) == [(0.0, 1.0)]
    # Squeezed between neighbours 0.8 s apart (merge_gap 0.1 keeps all three apart): it stops at them.
    squeezed = fit_spans([Span(0.0, 3.0), Span(3.2, 3.5), Span(3.8, 7.0)], 10.0, SegmentOptions(merge_gap=0.1))
    assert _r(squeezed) == [(0.0, 3.0), (3.0, 3.8), (3.8, 7.0)]


def test_fixed_spans_are_the_chunk_windows() -> None:
    options = SegmentOptions(mode="fixed", max_segment=8.0)
    assert fixed_spans(19.0, options) == [Span(0, 8), Span(8, 16), Span(16, 19)]
    assert fixed_spans(16.1, options) == [Span(0, 8), Span(8, 16)]  # 0.1 s tail dropped
    assert fixed_spans(3.0, options) == [Span(0, 3.0)]
    with pytest.raises(ValueError, match="min_segment"):
        SegmentOptions(min_segment=9.0, max_segment=8.0).check()
