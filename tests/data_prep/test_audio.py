"""data_prep.audio: decoding, downmix, resampling, cropping, and every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from data_prep import audio
from data_prep.audio import AUDIO_EXTENSIONS, AudioError, centre_crop, load_audio


def tone(seconds: float, sr: int, freq: float = 220.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_decodes_every_wav_sample_format(tmp_path: Path, subtype: str) -> None:
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, tone(1.0, 16000), 16000, subtype=subtype)
    wave = load_audio(path)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert wave.shape == (16000,)
    np.testing.assert_allclose(wave, tone(1.0, 16000), atol=0.02 if subtype == "PCM_U8" else 1e-3)


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000, 96000, 11025])
def test_resamples_any_rate_to_16k(tmp_path: Path, sr: int) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, tone(1.5, sr, freq=440.0), sr, subtype="PCM_16")
    wave = load_audio(path)
    assert abs(wave.shape[0] - 24000) <= 1
    # The tone keeps its pitch: dominant FFT bin at 440 Hz.
    spectrum = np.abs(np.fft.rfft(wave))
    assert abs(np.argmax(spectrum) * 16000 / wave.shape[0] - 440.0) < 2.0


def test_other_target_rate(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, tone(1.0, 44100), 44100)
    assert load_audio(path, target_sr=8000).shape[0] == 8000


def test_stereo_is_averaged_to_mono(tmp_path: Path) -> None:
    left = tone(1.0, 16000)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, 0.5 * left], axis=1), 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path), 0.75 * left, atol=1e-6)


def test_flac_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "a.FLAC"
    sf.write(path, tone(1.0, 22050), 22050, format="FLAC")
    assert load_audio(path).shape == (16000,)
    assert ".flac" in AUDIO_EXTENSIONS and ".wav" in AUDIO_EXTENSIONS


def test_long_clip_is_centre_cropped_to_max_duration(tmp_path: Path) -> None:
    sr = 16000
    ramp = np.linspace(-0.9, 0.9, 10 * sr, dtype=np.float32)  # 10 s: value tells position
    path = tmp_path / "long.wav"
    sf.write(path, ramp, sr, subtype="FLOAT")
    wave = load_audio(path, max_duration=8.0)
    assert wave.shape == (8 * sr,)
    np.testing.assert_allclose(wave, ramp[sr : 9 * sr])
    assert load_audio(path, max_duration=None).shape == (10 * sr,)
    assert load_audio(path, max_duration=2.5).shape == (40000,)


def test_crop_after_resampling_is_exact(tmp_path: Path) -> None:
    path = tmp_path / "long48k.wav"
    sf.write(path, tone(9.3, 48000), 48000)
    assert load_audio(path, max_duration=8.0).shape == (128000,)
    path = tmp_path / "long44k.wav"
    sf.write(path, tone(3.0, 44100), 44100)
    assert load_audio(path, max_duration=1.7).shape == (27200,)


def test_centre_crop() -> None:
    x = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(centre_crop(x, 4), [3, 4, 5, 6])
    np.testing.assert_array_equal(centre_crop(x, 5), [2, 3, 4, 5, 6])
    assert centre_crop(x, 10) is x and centre_crop(x, 50) is x
    with pytest.raises(ValueError):
        centre_crop(x, 0)


def _expect(path: Path, reason: str, **kwargs) -> AudioError:
    with pytest.raises(AudioError) as info:
        load_audio(path, **kwargs)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.path == str(path) and err.reason == reason, str(err)
    assert str(path) in str(err)
    return err


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    _expect(path, audio.REASON_EMPTY)


def test_missing_file(tmp_path: Path) -> None:
    _expect(tmp_path / "nope.wav", audio.REASON_MISSING)


def test_truncated_wav(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    sf.write(path, tone(1.0, 16000), 16000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    err = _expect(path, audio.REASON_TRUNCATED)
    assert "data chunk declares" in err.detail


def test_slightly_overstated_data_size_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "pad.wav"
    sf.write(path, tone(1.0, 16000), 16000)
    path.write_bytes(path.read_bytes()[:-2])  # one frame short, as some writers leave files
    assert abs(load_audio(path).shape[0] - 16000) <= 1


def test_header_only_wav_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "head.wav"
    sf.write(path, tone(1.0, 16000), 16000)
    path.write_bytes(path.read_bytes()[:30])
    _expect(path, audio.REASON_TRUNCATED)


def test_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("this is a text file, not a waveform\n" * 20)
    _expect(path, audio.REASON_NOT_AUDIO)


def test_riff_that_is_not_wave_is_not_called_truncated(tmp_path: Path) -> None:
    path = tmp_path / "picture.wav"
    path.write_bytes(b"RIFF" + (36).to_bytes(4, "little") + b"WEBPVP8 " + (16).to_bytes(4, "little") + bytes(16))
    _expect(path, audio.REASON_UNREADABLE)


def test_corrupt_flac_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "bad.flac"
    path.write_bytes(b"fLaC" + bytes(range(256)) * 4)
    _expect(path, audio.REASON_UNREADABLE)


def test_zero_length(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    _expect(path, audio.REASON_ZERO_LENGTH)


def test_too_short(tmp_path: Path) -> None:
    path = tmp_path / "short.wav"
    sf.write(path, tone(0.1, 16000), 16000)
    _expect(path, audio.REASON_TOO_SHORT)
    assert load_audio(path, min_duration=0.05).shape == (1600,)


def test_all_silent(tmp_path: Path) -> None:
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros(16000, dtype=np.float32), 16000)
    _expect(path, audio.REASON_SILENT)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(tmp_path: Path, bad: float) -> None:
    wave = tone(1.0, 16000)
    wave[100] = bad
    path = tmp_path / "nan.wav"
    sf.write(path, wave, 16000, subtype="FLOAT")
    _expect(path, audio.REASON_NON_FINITE)
