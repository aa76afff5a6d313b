"""Classify the spans of one long file (`recipe.components.segmentation`) through the clip batching path
(`classify_waves`, `plan_batches`), reading only a group of spans at a time so memory stays that of one group.

`python -m recipe.hub --with_app` ships this module beside the Space's app.py: it imports only numpy, torch,
transformers (through `.inference`), `data_prep` and `.segmentation`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data_prep.audio import AudioError
from data_prep.audio_stream import AudioInfo, SignalStats, probe, read_span

from .inference import OnnxModel, classify_waves
from .segmentation import REASON_NO_SPEECH, SegmentOptions, SileroVad, Span, plan_spans

GROUP_BATCHES = 4  # spans read per group: this many batches, so plan_batches still sorts them by length


def classify_spans(
    model: Any | OnnxModel,
    extractor: Any,
    info: AudioInfo,
    spans: Sequence[Span],
    *,
    batch_size: int = 8,
    dtype: str = "fp32",
    stats: SignalStats | None = None,
    progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """Class probabilities (len(spans), num_labels) of `spans` of the file, rows in span order. Each span is read
    by seeking to it and resampled to the extractor's rate; `progress` gets the seconds of file covered by each
    group as it finishes."""
    probs = np.zeros((len(spans), model.config.num_labels), dtype=np.float32)
    group = batch_size * GROUP_BATCHES
    covered = 0.0
    for first in range(0, len(spans), group):
        part = spans[first : first + group]
        waves = [read_span(info, s.start, s.end, extractor.sampling_rate, stats=stats) for s in part]
        probs[first : first + len(part)] = classify_waves(model, extractor, waves, batch_size=batch_size, dtype=dtype)
        if progress is not None:
            end = part[-1].end if first + group < len(spans) else info.duration
            progress(end - covered)
            covered = end
    return probs


def classify_file_spans(
    model: Any | OnnxModel,
    extractor: Any,
    path: str | Path,
    options: SegmentOptions,
    vad: SileroVad | None,
    *,
    min_duration: float = 0.25,
    batch_size: int = 8,
    dtype: str = "fp32",
    progress: Callable[[float], None] | None = None,
) -> tuple[AudioInfo, list[Span], np.ndarray]:
    """One file cut into spans (`plan_spans`: speech, or fixed windows) and classified (`classify_spans`): its
    header, the spans and their probabilities. AudioError with `data_prep.audio.load_clip`'s reasons (undecodable,
    too short, NaN/inf, silent, constant) or REASON_NO_SPEECH when the detector finds no speech. The one path of
    `recipe.predict --segment`, `recipe.app` and the Space's app."""
    info = probe(path, min_duration)
    stats = SignalStats()
    spans = plan_spans(info, options, vad, stats)
    if vad is not None:
        stats.check(path)
        if not spans:
            raise AudioError(path, REASON_NO_SPEECH, f"the voice activity detector found none in {info.duration:.1f} s")
    probs = classify_spans(
        model, extractor, info, spans, batch_size=batch_size, dtype=dtype, stats=stats, progress=progress
    )
    stats.check(path)
    return info, spans, probs
