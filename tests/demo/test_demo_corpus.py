"""demo.corpus: layout, formats, determinism and that emotions differ in prosody."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from data_prep.audio import load_audio
from data_prep.labels import EMOTIONS
from demo.corpus import REAL_MIX, SAMPLE_RATES, SPEAKER_REGEX, clips_per_emotion, generate, main


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("demo")
    return root, generate(root, seed=3, speakers=4, clips_per_speaker_per_emotion=2, quiet=True)


def test_layout_counts_and_formats(corpus: tuple[Path, list[Path]]) -> None:
    root, paths = corpus
    assert len(paths) == sum(clips_per_emotion(4, 2).values())
    assert sorted(p.name for p in root.iterdir()) == sorted(EMOTIONS)
    rates, subtypes, speakers = set(), set(), set()
    for path in paths:
        emotion = path.parent.name
        match = re.match(SPEAKER_REGEX, path.name)
        assert match and path.name.startswith(f"{match['speaker']}_{emotion}_")
        speakers.add(match["speaker"])
        info = sf.info(path)
        rates.add(info.samplerate)
        subtypes.add(info.subtype)
        assert info.channels == 1 and 1.0 <= info.duration <= 4.0
    assert rates == set(SAMPLE_RATES)
    assert subtypes == {"PCM_16", "FLOAT"}
    assert len(speakers) == 4


def test_same_seed_same_audio_other_seed_differs(tmp_path: Path, corpus: tuple[Path, list[Path]]) -> None:
    # samples, not bytes: libsndfile stamps float files' PEAK chunk with the time of writing
    root, paths = corpus
    again = generate(tmp_path / "a", seed=3, speakers=4, clips_per_speaker_per_emotion=2, quiet=True)
    assert [p.relative_to(tmp_path / "a") for p in again] == [p.relative_to(root) for p in paths]
    for a, b in zip(again, paths):
        (x, sr_x), (y, sr_y) = sf.read(a), sf.read(b)
        assert sr_x == sr_y and np.array_equal(x, y)
    other = generate(tmp_path / "b", seed=4, speakers=4, clips_per_speaker_per_emotion=2, quiet=True)
    assert not np.array_equal(sf.read(other[0])[0][:100], sf.read(paths[0])[0][:100])


def test_emotions_differ_in_pitch_energy_and_tempo(corpus: tuple[Path, list[Path]]) -> None:
    """Cheap non-neural check: per-emotion mean pitch (YIN), loudness and duration."""
    _, paths = corpus
    pitch, rms, dur = defaultdict(list), defaultdict(list), defaultdict(list)
    for path in paths:
        wave = load_audio(path)
        f0 = librosa.yin(wave, fmin=60, fmax=900, sr=16000, frame_length=1024)
        emotion = path.parent.name
        pitch[emotion].append(float(np.median(f0)))
        rms[emotion].append(float(np.sqrt((wave**2).mean())))
        dur[emotion].append(len(wave) / 16000)
    mean = lambda d, e: float(np.mean(d[e]))  # noqa: E731
    assert mean(pitch, "sad") < mean(pitch, "neutral") < mean(pitch, "fear")
    assert mean(pitch, "neutral") < mean(pitch, "happy")
    assert mean(rms, "anger") > 2 * mean(rms, "sad")
    assert mean(rms, "sad") < min(mean(rms, e) for e in EMOTIONS if e != "sad")
    assert mean(dur, "sad") > mean(dur, "anger")


def test_cli(tmp_path: Path) -> None:
    assert main(["--output", str(tmp_path), "--speakers", "1", "--clips_per_speaker_per_emotion", "1"]) == 0
    assert len(list(tmp_path.rglob("*.wav"))) == 6


def test_real_mix_makes_surprise_the_rare_class() -> None:
    counts = clips_per_emotion(24, 5)
    assert counts["anger"] == counts["happy"] == counts["sad"] == 120
    assert counts["surprise"] == round(120 * REAL_MIX["surprise"] / 1312) == 54
    assert min(counts, key=counts.get) == "surprise"
    assert clips_per_emotion(24, 5, "uniform") == {e: 120 for e in EMOTIONS}
