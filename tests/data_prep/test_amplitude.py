"""Samples beyond ±64 (full scale is 1.0) are no audio signal: such a float WAV is skipped as `amplitude out of
range`, counted in prepare_report.json like every other skip reason; loud float files with overs are kept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from data_prep.audio import AudioError, load_audio
from data_prep.config import load_config
from data_prep.prepare import prepare
from tests.support import fixture_corpora as fc


def float_wav(path: Path, peak: float, seconds: float = 1.0, sr: int = 16000) -> Path:
    """A 32-bit float WAV: a 0.3 tone with one sample set to `peak` (finite, but far beyond full scale)."""
    t = np.arange(int(seconds * sr)) / sr
    wave = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    wave[len(wave) // 2] = peak
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave, sr, subtype="FLOAT")
    return path


@pytest.mark.parametrize("peak", [1e37, -3.0e38, 65.0])
def test_absurd_peaks_are_refused_with_their_reason(tmp_path: Path, peak: float) -> None:
    with pytest.raises(AudioError) as err:
        load_audio(float_wav(tmp_path / "x.wav", peak))
    assert err.value.reason == "amplitude out of range"
    assert f"{abs(peak):.3g}" in err.value.detail


@pytest.mark.parametrize("peak", [1.0, 1.9, 63.5])
def test_overs_within_headroom_are_kept(tmp_path: Path, peak: float) -> None:
    wave = load_audio(float_wav(tmp_path / "x.wav", peak))
    assert np.isclose(np.abs(wave).max(), peak)


def test_prepare_skips_and_counts_absurd_amplitudes(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    for label in ("happy", "sad", "anger"):
        for i in range(3):
            fc.write_clip(root / label / f"clip_{i}.wav")
    float_wav(root / "sad" / "huge.wav", 1e37)
    float_wav(root / "happy" / "loud_over.wav", 4.0)
    cfg = load_config(None, [f"folder={root}"], output=str(tmp_path / "out"), workers=1, per_class=0)
    prepare(cfg, verbose=False)
    report = json.loads((tmp_path / "out" / "prepare_report.json").read_text())
    corpus = report["corpora"]["folder"]
    assert corpus["found"] == 11 and corpus["kept"] == 10
    assert corpus["skipped"] == {"amplitude out of range": 1}
    (skipped,) = report["skipped_files"]
    assert skipped["path"].endswith("huge.wav") and skipped["reason"] == "amplitude out of range"
