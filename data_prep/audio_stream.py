"""Read long recordings block by block as float32 mono at a target rate, never holding the whole file.

A 1-hour 48 kHz stereo WAV is 1.4 GB as float32 at its native rate, 230 MB even as 16 kHz mono. `iter_blocks` reads
`block_s` seconds at a time with `soundfile.blocks` (starting at a frame offset, so a span in the middle of a file
costs only that span), mixes each block down to mono and resamples it with `soxr.ResampleStream`, which carries the
filter state from block to block. The file-level checks of `data_prep.audio.load_clip` (missing, empty, truncated,
unreadable, NaN/inf or out-of-range samples, all silent, constant, channels that cancel) give the same `AudioError`
reasons here; the silence checks need the whole signal, so `SignalStats` gathers it block by block and
`SignalStats.check` judges at the end.

Formats libsndfile cannot read (m4a, aac, mp4, wma, webm) go through the librosa/audioread fallback, which decodes
the whole file at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .audio import (
    _FALLBACK_ONLY,
    REASON_CHANNELS_CANCEL,
    REASON_NO_SIGNAL,
    REASON_SILENT,
    REASON_TOO_SHORT,
    REASON_ZERO_LENGTH,
    SILENCE_PEAK,
    AudioError,
    _check_file,
    _decode_error,
    _decode_fallback,
    _fs_path,
    check_samples,
)

BLOCK_SECONDS = 20.0  # 20 s of 48 kHz stereo: 7.7 MB of float32 per block


@dataclass(frozen=True)
class AudioInfo:
    """What the header says: sample rate, frame count and channels."""

    path: Path
    samplerate: int
    frames: int
    channels: int

    @property
    def duration(self) -> float:
        return self.frames / self.samplerate


def probe(path: str | Path, min_duration: float = 0.25) -> AudioInfo:
    """The file's header (decoding fallback formats whole); AudioError for a missing, empty, truncated, unreadable,
    zero-length or too-short (< `min_duration` s) file."""
    path = Path(path)
    _check_file(path)
    try:
        if path.suffix.lower() in _FALLBACK_ONLY:
            data, sr = _decode_fallback(path)
            info = AudioInfo(path, sr, data.shape[0], data.shape[1])
        else:
            raw = sf.info(_fs_path(path))
            info = AudioInfo(path, int(raw.samplerate), int(raw.frames), int(raw.channels))
    except Exception as exc:  # soundfile/librosa raise many types; all mean "cannot decode"
        raise _decode_error(path, exc) from exc
    if info.frames == 0 or info.channels == 0:
        raise AudioError(path, REASON_ZERO_LENGTH, "no samples")
    if info.duration < min_duration:
        raise AudioError(path, REASON_TOO_SHORT, f"{info.duration:.3f} s < {min_duration} s")
    return info


@dataclass
class SignalStats:
    """Peaks and range of a signal seen block by block, for the whole-file silence checks of `load_clip`."""

    peak: float = 0.0  # of the mono mix
    raw_peak: float = 0.0  # of any channel before the mix
    low: float = np.inf
    high: float = -np.inf
    channels: int = 1

    def update(self, raw: np.ndarray, mono: np.ndarray) -> None:
        if mono.size:
            self.peak = max(self.peak, float(np.max(np.abs(mono))))
            self.raw_peak = max(self.raw_peak, float(np.max(np.abs(raw))))
            self.low, self.high = min(self.low, float(mono.min())), max(self.high, float(mono.max()))
        self.channels = raw.shape[1]

    def check(self, path: str | Path) -> None:
        """AudioError when the signal seen is silent, constant, or silent only because its channels cancel."""
        if self.peak <= SILENCE_PEAK < self.raw_peak:
            raise AudioError(
                path,
                REASON_CHANNELS_CANCEL,
                f"{self.channels} channels in opposite phase (e.g. right = -left): the mono mix is silent",
            )
        if self.peak <= SILENCE_PEAK:
            raise AudioError(path, REASON_SILENT, f"peak <= {SILENCE_PEAK}")
        if self.high - self.low <= SILENCE_PEAK:
            raise AudioError(path, REASON_NO_SIGNAL, f"constant value {self.low:.4f} (DC offset, no sound)")


def _raw_blocks(info: AudioInfo, start: int, stop: int, block: int) -> Iterator[np.ndarray]:
    """(frames, channels) float32 blocks of frames [start, stop)."""
    if info.path.suffix.lower() in _FALLBACK_ONLY:
        data, _ = _decode_fallback(info.path)
        for first in range(start, stop, block):
            yield data[first : min(first + block, stop)]
        return
    yield from sf.blocks(_fs_path(info.path), blocksize=block, start=start, stop=stop, dtype="float32", always_2d=True)


def iter_blocks(
    info: AudioInfo,
    target_sr: int = 16000,
    start_s: float = 0.0,
    end_s: float | None = None,
    block_s: float = BLOCK_SECONDS,
    stats: SignalStats | None = None,
) -> Iterator[np.ndarray]:
    """Float32 mono blocks at `target_sr` of the span [start_s, end_s) (to the end for None), `block_s` seconds of
    the file at a time. AudioError for NaN/inf or out-of-range samples (on the first block holding one) or a read
    error."""
    start = max(0, int(round(start_s * info.samplerate)))
    stop = info.frames if end_s is None else min(info.frames, int(round(end_s * info.samplerate)))
    block = max(1, int(block_s * info.samplerate))
    resampler = None if info.samplerate == target_sr else soxr.ResampleStream(info.samplerate, target_sr, 1)
    try:
        raws = _raw_blocks(info, start, stop, block)
        for raw in raws:
            check_samples(info.path, raw)  # NaN/inf, or beyond the amplitude bound: the file is refused
            mono = raw[:, 0] if raw.shape[1] == 1 else raw.mean(axis=1, dtype=np.float32)
            if stats is not None:
                stats.update(raw, mono)
            out = mono if resampler is None else resampler.resample_chunk(mono)
            if out.size:
                yield np.ascontiguousarray(out, dtype=np.float32)
        if resampler is not None:
            tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            if tail.size:
                yield np.ascontiguousarray(tail, dtype=np.float32)
    except AudioError:
        raise
    except Exception as exc:
        raise _decode_error(info.path, exc) from exc


def read_span(info: AudioInfo, start_s: float, end_s: float, target_sr: int = 16000, **kwargs) -> np.ndarray:
    """The span [start_s, end_s) as one float32 mono array at `target_sr` (read by seeking, not from the start)."""
    blocks = list(iter_blocks(info, target_sr, start_s, end_s, **kwargs))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
