"""Cut a long recording into the spans a clip classifier can judge: speech found by a voice activity detector
(silero-vad), merged and split to a length range, or fixed consecutive windows.

All times are seconds in the file. The detector reads the file block by block (`data_prep.audio_stream`), so a
1-hour file costs one block of audio plus one float per 32 ms frame (`python -m bench.segment_bench` measures
it). Why silero-vad and not webrtcvad: docs/inference.md (boundary error and speed of both on the same recording).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from data_prep.audio_stream import AudioInfo, SignalStats, iter_blocks

VAD_RATE = 16000
FRAME = 512  # silero-vad's frame at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous frame the model sees before each frame
REASON_NO_SPEECH = "no speech"


@dataclass(frozen=True)
class Span:
    """[start, end) in seconds."""

    start: float
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class SegmentOptions:
    """How a recording is cut (the `recipe.predict --segment` flags)."""

    mode: str = "vad"  # vad | fixed
    min_segment: float = 1.0  # shorter speech is widened to this, within its neighbours and the file
    max_segment: float = 8.0  # longer speech is split into equal parts; also the fixed window length
    merge_gap: float = 0.5  # speech separated by less silence is joined while the result fits max_segment
    threshold: float = 0.5  # silero-vad speech probability
    min_silence: float = 0.25  # silence shorter than this does not end speech
    pad: float = 0.03  # added before and after each stretch of speech (silero-vad's default)
    min_tail: float = 0.25  # fixed mode: a last window shorter than this is dropped (unless it is the whole file)

    def check(self) -> None:
        """ValueError naming the flag that cannot work."""
        if self.mode not in ("vad", "fixed"):
            raise ValueError(f"--segment must be vad or fixed, got {self.mode!r}")
        if not 0 < self.min_segment <= self.max_segment:
            raise ValueError(f"need 0 < --min_segment <= --max_segment, got {self.min_segment}, {self.max_segment}")
        if self.merge_gap < 0 or self.min_silence < 0 or self.pad < 0:
            raise ValueError("--merge_gap, --min_silence and --pad must be >= 0")
        if not 0 < self.threshold < 1:
            raise ValueError(f"--vad_threshold must be in (0, 1), got {self.threshold}")


class SileroVad:
    """silero-vad's sequence ONNX model (shipped in the `silero-vad` package, run by onnxruntime) fed block by block.

    The package's own entry points take the whole recording as one array; this wrapper carries the model's LSTM state
    and the 64-sample context from block to block instead, giving the same per-frame probabilities as one call on
    the whole array (tested) while holding one block.
    """

    def __init__(self, max_frames: int = 512) -> None:
        import torch

        threads = torch.get_num_threads()
        import silero_vad  # its import sets torch.set_num_threads(1) for the whole process: undone below

        torch.set_num_threads(threads)
        self.model = silero_vad.load_silero_vad(sequence=True, max_frames=max_frames)
        self.max_frames = max_frames
        self.reset()

    def reset(self) -> None:
        self.hidden = np.zeros((1, 1, 128), dtype=np.float32)
        self.cell = np.zeros((1, 1, 128), dtype=np.float32)
        self.context = np.zeros(CONTEXT, dtype=np.float32)

    def _run(self, frames: np.ndarray) -> np.ndarray:
        contexts = np.vstack([self.context[None], frames[:-1, -CONTEXT:]])
        self.context = frames[-1, -CONTEXT:].copy()
        inputs = np.ascontiguousarray(np.concatenate([contexts, frames], axis=1), dtype=np.float32)
        out = []
        for first in range(0, len(inputs), self.max_frames):
            probs, self.hidden, self.cell = self.model.session.run(
                ["speech_probs", "hn", "cn"],
                {"input": inputs[first : first + self.max_frames], "h": self.hidden, "c": self.cell},
            )
            out.append(np.asarray(probs, dtype=np.float32).reshape(-1))
        return np.concatenate(out)

    def probabilities(self, blocks: Iterable[np.ndarray]) -> tuple[np.ndarray, int]:
        """Speech probability of every 32 ms frame of 16 kHz mono `blocks` (the last frame zero-padded), and the
        number of samples seen."""
        self.reset()
        rest = np.zeros(0, dtype=np.float32)
        out: list[np.ndarray] = []
        seen = 0
        for block in blocks:
            seen += block.size
            audio = np.concatenate([rest, block]) if rest.size else block
            whole = audio.size // FRAME * FRAME
            if whole:
                out.append(self._run(audio[:whole].reshape(-1, FRAME)))
            rest = audio[whole:].copy()
        if rest.size:
            out.append(self._run(np.pad(rest, (0, FRAME - rest.size))[None]))
        return (np.concatenate(out) if out else np.zeros(0, dtype=np.float32)), seen


def speech_spans(probs: np.ndarray, samples: int, options: SegmentOptions) -> list[Span]:
    """Stretches of speech from per-frame probabilities, by silero-vad's own state machine
    (`get_speech_timestamps_from_probs`: hysteresis, minimum speech 250 ms, minimum silence, padding)."""
    from silero_vad.utils_vad import get_speech_timestamps_from_probs

    stamps = get_speech_timestamps_from_probs(
        probs.tolist(),
        sampling_rate=VAD_RATE,
        threshold=options.threshold,
        min_silence_duration_ms=int(options.min_silence * 1000),
        speech_pad_ms=int(options.pad * 1000),
        audio_length_samples=samples,
    )
    return [Span(s["start"] / VAD_RATE, s["end"] / VAD_RATE) for s in stamps]


def fit_spans(spans: list[Span], duration: float, options: SegmentOptions) -> list[Span]:
    """Spans sized for the classifier: neighbours closer than `merge_gap` joined while the result is at most
    `max_segment`, longer spans split into equal parts of at most `max_segment`, shorter than `min_segment`
    widened around their centre up to the neighbours and the file ends."""
    merged: list[Span] = []
    for span in spans:
        last = merged[-1] if merged else None
        if last and span.start - last.end <= options.merge_gap and span.end - last.start <= options.max_segment:
            merged[-1] = Span(last.start, span.end)
        else:
            merged.append(span)
    pieces: list[Span] = []
    for span in merged:
        parts = max(1, math.ceil(span.length / options.max_segment - 1e-9))
        step = span.length / parts
        pieces.extend(Span(span.start + i * step, span.start + (i + 1) * step) for i in range(parts))
    out: list[Span] = []
    for i, span in enumerate(pieces):
        if span.length < options.min_segment:
            low = out[-1].end if out else 0.0
            high = pieces[i + 1].start if i + 1 < len(pieces) else duration
            grow = (options.min_segment - span.length) / 2
            start = max(low, span.start - grow)
            end = min(high, span.end + grow)
            start = max(low, min(start, end - options.min_segment))  # use the room left on the other side
            span = Span(start, min(high, max(end, start + options.min_segment)))
        out.append(span)
    return out


def fixed_spans(duration: float, options: SegmentOptions) -> list[Span]:
    """Consecutive `max_segment` windows; a last window shorter than `min_tail` is dropped unless it is the only
    one (the `--chunk` windows)."""
    window = options.max_segment
    spans = [Span(i * window, min((i + 1) * window, duration)) for i in range(max(1, math.ceil(duration / window)))]
    if len(spans) > 1 and spans[-1].length < options.min_tail:
        spans.pop()
    return spans


def vad_spans(info: AudioInfo, vad: SileroVad, options: SegmentOptions, stats: SignalStats) -> list[Span]:
    """The speech spans of a whole file, read block by block (`stats` gathers the silence checks on the way)."""
    probs, samples = vad.probabilities(iter_blocks(info, VAD_RATE, stats=stats))
    return fit_spans(speech_spans(probs, samples, options), info.duration, options)


def plan_spans(info: AudioInfo, options: SegmentOptions, vad: SileroVad | None, stats: SignalStats) -> list[Span]:
    """The spans to classify in one file: speech (`options.mode` "vad") or fixed windows."""
    if options.mode == "vad":
        if vad is None:
            raise ValueError("vad mode needs a SileroVad")
        return vad_spans(info, vad, options, stats)
    return fixed_spans(info.duration, options)
