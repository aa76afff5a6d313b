"""Decode any audio file to a float32 mono 16 kHz waveform, or say exactly why it cannot be used.

We decode ourselves (soundfile, with librosa/audioread as fallback for formats libsndfile lacks)
because `datasets.Audio()` needs torchcodec, which cannot load here.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from common.cli import UserError

# File suffixes we try to decode (lower case). Everything libsndfile reads, plus compressed formats
# that only the librosa/audioread fallback (with an ffmpeg/gstreamer backend) can open.
AUDIO_EXTENSIONS: tuple[str, ...] = (
    ".wav",
    ".wave",
    ".flac",
    ".ogg",
    ".oga",
    ".opus",
    ".mp3",
    ".aif",
    ".aiff",
    ".aifc",
    ".au",
    ".snd",
    ".w64",
    ".rf64",
    ".caf",
    ".m4a",
    ".aac",
    ".mp4",
    ".wma",
    ".webm",
)
# Suffixes soundfile cannot read: go straight to the fallback decoder.
_FALLBACK_ONLY: frozenset[str] = frozenset({".m4a", ".aac", ".mp4", ".wma", ".webm"})

# Peak amplitude at or below which a clip counts as silent (-80 dBFS, under one 16-bit LSB step x3).
SILENCE_PEAK = 1e-4

# Largest |sample| accepted. Decoders give full scale as 1.0 (integer formats cannot exceed it); float files may carry
# overs above full scale, so the bound leaves +36 dBFS of headroom (64 = 2**6). A float file beyond it is not scaled
# audio (e.g. peaks near 1e37): its squares overflow float32 and its features and gradients become NaN.
MAX_ABS_AMPLITUDE = 64.0

# A WAV data chunk may claim this many bytes (or 1 %) more than the file holds before we call it truncated.
TRUNCATION_TOLERANCE_BYTES = 64

# Canonical skip reasons (used as keys when counting, so keep them short and stable).
REASON_MISSING = "missing file"
REASON_EMPTY = "empty file"
REASON_TRUNCATED = "truncated file"
REASON_NOT_AUDIO = "not audio"
REASON_UNREADABLE = "unreadable audio"
REASON_ZERO_LENGTH = "zero length"
REASON_TOO_SHORT = "too short"
REASON_SILENT = "all silent"
REASON_NO_SIGNAL = "no signal"
REASON_CHANNELS_CANCEL = "channels cancel"
REASON_NON_FINITE = "NaN/inf samples"
REASON_AMPLITUDE = "amplitude out of range"

# Magic numbers of the containers we know, used to tell "corrupt audio" from "not audio at all".
_MAGIC = (
    b"RIFF",
    b"RIFX",
    b"RF64",
    b"FORM",
    b"fLaC",
    b"OggS",
    b"ID3",
    b".snd",
    b"caff",
    b"\xff\xfb",
    b"\xff\xf3",
    b"\xff\xf2",
    b"\xff\xf1",
    b"\xff\xf9",
)


class AudioError(UserError, ValueError):
    """A file that cannot be used as a training clip; `.reason` is a short canonical category."""

    def __init__(self, path: str | Path, reason: str, detail: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{self.path}: {reason}" + (f" ({detail})" if detail else ""))


def centre_crop(wave: np.ndarray, max_samples: int) -> np.ndarray:
    """Return the middle `max_samples` samples of `wave` (unchanged if it is not longer)."""
    if max_samples <= 0:
        raise ValueError(f"max_samples must be positive, got {max_samples}")
    if wave.shape[0] <= max_samples:
        return wave
    start = (wave.shape[0] - max_samples) // 2
    return wave[start : start + max_samples]


def _wav_truncation(path: Path, size: int) -> str | None:
    """For a RIFF/WAVE file, say how it is truncated if its data chunk claims more bytes than exist."""
    with path.open("rb") as fh:
        head = fh.read(12)
        if head[:4] != b"RIFF":
            return None
        if len(head) < 12:
            return f"RIFF header cut short ({size} bytes)"
        if head[8:12] != b"WAVE":  # another RIFF form (AVI, WebP...): the decoder says what is wrong
            return None
        offset = 12
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                return "no data chunk before end of file"
            cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            offset += 8
            if cid == b"data":
                if csize in (0, 0xFFFFFFFF):  # streaming writers leave the size unset: cannot judge
                    return None
                available = size - offset
                # Some writers overstate the size by a pad byte or a frame; only a real cut counts.
                if csize - available > max(TRUNCATION_TOLERANCE_BYTES, csize // 100):
                    return f"data chunk declares {csize} bytes, file holds {available}"
                return None
            offset += csize + (csize & 1)
            if offset > size:
                return f"chunk {cid!r} runs past end of file"
            fh.seek(offset)


def _decode_fallback(path: Path) -> tuple[np.ndarray, int]:
    """Decode with librosa (soundfile, then audioread) as a 2-D (frames, channels) float32 array."""
    import librosa  # imported lazily: slow to import and rarely needed

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data, sr = librosa.load(str(path), sr=None, mono=False, dtype=np.float32)
    data = np.atleast_2d(data)  # librosa gives (channels, frames)
    return data.T, int(sr)


def _fs_path(path: Path) -> bytes:
    """The path as bytes: soundfile encodes a str path strictly and fails on a non-UTF-8 name."""
    return os.fsencode(path)


def _check_file(path: Path) -> None:
    """AudioError for a missing, empty or (WAV) truncated file."""
    if not path.is_file():
        raise AudioError(path, REASON_MISSING)
    size = path.stat().st_size
    if size == 0:
        raise AudioError(path, REASON_EMPTY, "0 bytes")
    truncation = _wav_truncation(path, size)
    if truncation:
        raise AudioError(path, REASON_TRUNCATED, truncation)


def _decode_error(path: Path, exc: Exception) -> AudioError:
    with path.open("rb") as fh:
        magic = fh.read(4)
    reason = REASON_UNREADABLE if magic.startswith(_MAGIC) else REASON_NOT_AUDIO
    return AudioError(path, reason, f"{type(exc).__name__}: {exc}".strip()[:200])


def read_window(path: str | Path, max_duration: float | None) -> tuple[np.ndarray, int, int]:
    """Read the centre `max_duration` seconds (all of it for None) as (frames, channels) float32, with the sample
    rate and the file's total frame count. libsndfile formats are read by seeking to the window, so memory is
    that of the window whatever the file's length; the fallback decoder reads the whole file."""
    path = Path(path)
    _check_file(path)
    try:
        if path.suffix.lower() in _FALLBACK_ONLY:
            data, sr = _decode_fallback(path)
            return _crop_frames(data, sr, max_duration), sr, data.shape[0]
        with sf.SoundFile(_fs_path(path)) as fh:
            sr, total = int(fh.samplerate), int(fh.frames)
            if max_duration is None or not fh.seekable():
                data = fh.read(dtype="float32", always_2d=True)
                return _crop_frames(data, sr, max_duration), sr, data.shape[0]
            keep = min(total, max(1, int(round(max_duration * sr))))
            fh.seek((total - keep) // 2)
            return fh.read(keep, dtype="float32", always_2d=True), sr, total
    except AudioError:
        raise
    except Exception as exc:  # soundfile/librosa raise many types; all mean "cannot decode"
        raise _decode_error(path, exc) from exc


def _crop_frames(data: np.ndarray, sr: int, max_duration: float | None) -> np.ndarray:
    if max_duration is None:
        return data
    return centre_crop(data, max(1, int(round(max_duration * sr))))


def _mono(path: Path, data: np.ndarray) -> np.ndarray:
    """Downmix to mono; AudioError when the channels cancel (right = -left gives a silent mix)."""
    if data.shape[1] == 1:
        return data[:, 0]
    wave = data.mean(axis=1, dtype=np.float32)
    if float(np.max(np.abs(wave))) <= SILENCE_PEAK < float(np.max(np.abs(data))):
        raise AudioError(
            path,
            REASON_CHANNELS_CANCEL,
            f"{data.shape[1]} channels in opposite phase (e.g. right = -left): the mono mix is silent",
        )
    return wave


def check_samples(path: str | Path, data: np.ndarray) -> None:
    """AudioError unless every sample is finite and within ±MAX_ABS_AMPLITUDE: the one sample check of training data
    (data_prep) and of inference input (recipe.predict, recipe.app), both through `load_clip`."""
    finite = np.isfinite(data)
    if not finite.all():
        raise AudioError(path, REASON_NON_FINITE, f"{int((~finite).sum())} non-finite samples")
    peak = float(np.max(np.abs(data))) if data.size else 0.0
    if peak > MAX_ABS_AMPLITUDE:
        raise AudioError(
            path, REASON_AMPLITUDE, f"peak |sample| {peak:.3g} > {MAX_ABS_AMPLITUDE:g} (full scale is 1.0)"
        )


def load_clip(
    path: str | Path,
    target_sr: int = 16000,
    max_duration: float | None = 8.0,
    min_duration: float = 0.25,
) -> tuple[np.ndarray, float]:
    """`load_audio`'s waveform and the whole file's duration in seconds (before the crop)."""
    data, sr, total = read_window(path, max_duration)
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise AudioError(path, REASON_ZERO_LENGTH, "no samples")
    check_samples(path, data)
    duration = total / sr
    if duration < min_duration:
        raise AudioError(path, REASON_TOO_SHORT, f"{duration:.3f} s < {min_duration} s")
    wave = _mono(Path(path), data)
    peak = float(np.max(np.abs(wave)))
    if peak <= SILENCE_PEAK:
        raise AudioError(path, REASON_SILENT, f"peak <= {SILENCE_PEAK}")
    if float(np.ptp(wave)) <= SILENCE_PEAK:
        raise AudioError(path, REASON_NO_SIGNAL, f"constant value {float(wave[0]):.4f} (DC offset, no sound)")
    if sr != target_sr:
        wave = soxr.resample(wave, sr, target_sr, quality="HQ")
    wave = np.ascontiguousarray(wave, dtype=np.float32)
    if max_duration is not None:  # resampling can add a sample through rounding
        wave = centre_crop(wave, int(round(max_duration * target_sr)))
    return wave, duration


def load_audio(
    path: str | Path,
    target_sr: int = 16000,
    max_duration: float | None = 8.0,
    min_duration: float = 0.25,
) -> np.ndarray:
    """Decode `path` to float32 mono at `target_sr`, centre-cropped to `max_duration` seconds (only that window is
    read from disk).

    Raises AudioError for unreadable, empty, truncated or non-audio files, zero-length or too-short
    clips (< `min_duration` s, judged on the whole file), and, judged on the kept window: all-silent clips,
    constant (DC) clips, stereo clips whose channels cancel, and clips holding NaN/inf samples or samples beyond
    ±MAX_ABS_AMPLITUDE (`check_samples`).
    """
    return load_clip(path, target_sr, max_duration, min_duration)[0]
