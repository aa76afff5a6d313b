"""Classifying audio files: find them, decode and crop them as training did, batch them, report every failure.

The function behind `python -m recipe.predict` and the Gradio app (`recipe.app`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from common.files import REASON_BROKEN_LINK, REASON_LINK_LOOP, walk_tree
from common.names import display_path
from data_prep.audio import AUDIO_EXTENSIONS, AudioError, load_clip

from ..modeling import SERFeatureExtractor
from .calibration import UNCERTAIN
from .inference import OnnxModel, classify_waves
from .segment_inference import GROUP_BATCHES, classify_file_spans
from .segment_output import segment_records, speech_shares
from .segmentation import SegmentOptions, SileroVad
from .speaker_norm import grouped_probabilities, groups_from_paths, uses_speaker_norm


@dataclass
class Prediction:
    """Result for one file: top-k labels with probabilities, all class probabilities (for segmented files their
    mean weighted by segment length) and, with `--segment`, the probabilities of every segment (`spans`, seconds)."""

    path: str
    labels: list[str]
    scores: list[float]
    windows: int = 1
    duration_s: float = 0.0  # the whole file
    used_s: float = 0.0  # what was classified (the centre crop, or every segment)
    probabilities: dict[str, float] = field(default_factory=dict)
    window_probabilities: list[dict[str, float]] = field(default_factory=list)
    spans: list[tuple[float, float]] = field(default_factory=list)  # empty: classified as one clip
    uncertain: bool = False  # the top probability is below --min_confidence: the answer is UNCERTAIN

    @property
    def answer(self) -> str:
        """The top label, or UNCERTAIN below --min_confidence."""
        return UNCERTAIN if self.uncertain else self.labels[0]

    def timeline(self) -> list[dict]:
        """One row per segment: start and end in seconds, top label and its probability (empty for one piece)."""
        if len(self.spans) < 2:
            return []
        rows = []
        for (start, end), probs in zip(self.spans, self.window_probabilities):
            label = max(probs, key=probs.get)
            rows.append({"start_s": round(start, 3), "end_s": round(end, 3), "label": label, "score": probs[label]})
        return rows

    def to_dict(self) -> dict:
        out = {
            "path": self.path,
            "label": self.answer,
            "score": self.scores[0],
            "top_k": [{"label": label, "score": score} for label, score in zip(self.labels, self.scores)],
            "scores": self.probabilities,
            "windows": self.windows,
            "duration_s": self.duration_s,
            "used_s": self.used_s,
        }
        if self.spans:
            out["segments"] = segment_records(self.spans, self.window_probabilities)
            out["summary"] = speech_shares(out["segments"], list(self.probabilities))
        return out


@dataclass
class PredictionReport:
    """All predictions and all per-file errors of one run."""

    predictions: list[Prediction] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)


def find_audio_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[dict[str, str]]]:
    """Expand folders by the walk rule `python -m data_prep` uses (`common.files.walk_tree`: hidden entries such as
    `._*` AppleDouble files skipped, symlinks followed, each real file once), keeping AUDIO_EXTENSIONS; explicit
    files are kept whatever their suffix.

    Returns (files, errors) where errors name paths that do not exist, folders without audio, broken links and
    link loops.
    """
    files: list[Path] = []
    errors: list[dict[str, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            walk = walk_tree(path)
            found = [p for p in walk.files if p.suffix.lower() in AUDIO_EXTENSIONS]
            errors.extend(
                {"path": display_path(u.path), "error": f"{u.reason} ({u.detail})"}
                for u in walk.unused
                if u.reason in (REASON_BROKEN_LINK, REASON_LINK_LOOP)
            )
            if not found:
                errors.append({"path": display_path(path), "error": "folder holds no audio files"})
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            errors.append({"path": display_path(path), "error": "missing file"})
    first_by_target: dict[Path, Path] = {}  # a file named twice (directly and via its folder) is classified once
    for path in files:
        first_by_target.setdefault(path.resolve(), path)
    return list(first_by_target.values()), errors


def window_clip(wave: np.ndarray, window: int, min_samples: int) -> list[np.ndarray]:
    """Split into consecutive non-overlapping windows of `window` samples; a final remainder shorter than
    `min_samples` is dropped unless it is the whole clip."""
    windows = [wave[start : start + window] for start in range(0, len(wave), window)]
    if len(windows) > 1 and len(windows[-1]) < min_samples:
        windows.pop()
    return windows


def file_error(path: str | Path, err: Exception) -> dict[str, str]:
    """The {"path", "error"} record of a file that could not be used."""
    if isinstance(err, AudioError):
        return {"path": display_path(err.path), "error": err.reason + (f" ({err.detail})" if err.detail else "")}
    return {"path": display_path(path), "error": f"{type(err).__name__}: {err}"}


def make_prediction(
    path: str | Path,
    names: list[str],
    probs: np.ndarray,
    weights: np.ndarray,
    duration: float,
    top_k: int,
    spans: list[tuple[float, float]] | None = None,
    min_confidence: float | None = None,
) -> Prediction:
    """A file's Prediction from the probabilities of its pieces (one clip, or its segments weighted by length),
    answered UNCERTAIN when its top probability is below `min_confidence`; ValueError for non-finite scores (no
    answer, and they would make the --json output invalid)."""
    if not np.isfinite(probs).all():
        raise ValueError("the model gave non-finite (NaN/inf) scores")
    mean = np.average(probs, axis=0, weights=weights)
    best = np.argsort(-mean)[: max(1, min(top_k, len(names)))]
    rounded = [{name: round(float(p), 6) for name, p in zip(names, row)} for row in probs]
    return Prediction(
        path=display_path(path),
        labels=[names[int(i)] for i in best],
        scores=[round(float(mean[i]), 6) for i in best],
        windows=len(probs),
        duration_s=round(duration, 3),
        used_s=round(float(np.sum(weights)) if spans else float(weights[0]), 3),
        probabilities={name: round(float(p), 6) for name, p in zip(names, mean)},
        window_probabilities=rounded if spans else [],
        spans=list(spans or []),
        uncertain=min_confidence is not None and float(mean.max()) < min_confidence,
    )


def iter_clip_predictions(
    model: torch.nn.Module | OnnxModel,
    extractor: SERFeatureExtractor,
    files: Sequence[str | Path],
    *,
    top_k: int = 1,
    batch_size: int = 8,
    min_duration: float = 0.25,
    dtype: str = "fp32",
    progress: Callable[[float], None] | None = None,
    min_confidence: float | None = None,
    speaker_regex: str | None = None,
) -> Iterator[Prediction | dict[str, str]]:
    """Each file's centre `max_duration` as one clip, decoded and classified `GROUP_BATCHES` batches of files at a
    time, so memory does not grow with the number of files; yields Predictions and error records in file order.
    A model that normalises by speaker sees every file at once: each speaker's statistics come from all of its
    clips (one speaker per folder, or per `speaker_regex` match; docs/model.md)."""
    sr = extractor.sampling_rate
    max_duration = getattr(extractor, "max_duration", 8.0)  # a stock Wav2Vec2FeatureExtractor has none
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    by_speaker = uses_speaker_norm(model)
    group = max(1, len(files)) if by_speaker else batch_size * GROUP_BATCHES
    for first in range(0, len(files), group):
        results: list[Prediction | dict[str, str] | tuple] = []
        waves: list[np.ndarray] = []
        for path in files[first : first + group]:
            try:
                wave, duration = load_clip(path, target_sr=sr, max_duration=max_duration, min_duration=min_duration)
            except Exception as err:  # anything unexpected about one file must not stop the others
                results.append(file_error(path, err))
                continue
            results.append((path, duration, len(waves)))
            waves.append(wave)
        if not waves:
            probs = None
        elif by_speaker:
            speakers = groups_from_paths([display_path(i[0]) for i in results if isinstance(i, tuple)], speaker_regex)
            probs = grouped_probabilities(model, extractor, waves, speakers, batch_size, dtype)
        else:
            probs = classify_waves(model, extractor, waves, batch_size=batch_size, dtype=dtype)
        for item in results:
            if isinstance(item, tuple):
                path, duration, row = item
                used = np.array([len(waves[row]) / sr])
                try:
                    item = make_prediction(
                        path, names, probs[row : row + 1], used, duration, top_k, min_confidence=min_confidence
                    )
                except ValueError as err:
                    item = {"path": display_path(path), "error": str(err)}
            yield item
        if progress is not None:
            progress(len(results))


def iter_segment_predictions(
    model: torch.nn.Module | OnnxModel,
    extractor: SERFeatureExtractor,
    files: Sequence[str | Path],
    options: SegmentOptions,
    *,
    top_k: int = 1,
    batch_size: int = 8,
    min_duration: float = 0.25,
    dtype: str = "fp32",
    progress: Callable[[float], None] | None = None,
    min_confidence: float | None = None,
    speaker_regex: str | None = None,
) -> Iterator[Prediction | dict[str, str]]:
    """Each file cut into spans (`plan_spans`: speech or fixed windows) read block by block, the spans classified a
    group at a time (`classify_spans`); yields one Prediction (or error record) per file, in file order. A model
    that normalises by speaker classifies each segment with its single-clip statistics (`speaker_regex` unused)."""
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    vad = SileroVad() if options.mode == "vad" else None
    for path in files:
        try:
            info, spans, probs = classify_file_spans(
                model,
                extractor,
                path,
                options,
                vad,
                min_duration=min_duration,
                batch_size=batch_size,
                dtype=dtype,
                progress=progress,
            )
        except Exception as err:  # anything unexpected about one file must not stop the others
            yield file_error(path, err)
            continue
        lengths = np.array([s.length for s in spans])
        try:
            item = make_prediction(
                path, names, probs, lengths, info.duration, top_k, [(s.start, s.end) for s in spans], min_confidence
            )
        except ValueError as err:
            item = {"path": display_path(path), "error": str(err)}
        yield item


def iter_predictions(
    model: torch.nn.Module | OnnxModel,
    extractor: SERFeatureExtractor,
    files: Sequence[str | Path],
    *,
    segment: SegmentOptions | None = None,
    **kwargs,
) -> Iterator[Prediction | dict[str, str]]:
    """Predictions and error records ({"path", "error"}) as they are produced: whole clips, or segments."""
    if segment is None:
        return iter_clip_predictions(model, extractor, files, **kwargs)
    return iter_segment_predictions(model, extractor, files, segment, **kwargs)


def predict_files(
    model: torch.nn.Module | OnnxModel,
    extractor: SERFeatureExtractor,
    files: Sequence[str | Path],
    *,
    top_k: int = 1,
    batch_size: int = 8,
    chunk: bool = False,
    segment: SegmentOptions | None = None,
    min_duration: float = 0.25,
    dtype: str = "fp32",
    speaker_regex: str | None = None,
    min_confidence: float | None = None,
) -> PredictionReport:
    """Decode and classify `files` (`iter_predictions`, collected); undecodable files become errors ("path",
    "error") instead of stopping the run. `chunk`: fixed windows of the extractor's max_duration. A file whose top
    probability is below `min_confidence` is answered UNCERTAIN (its scores are kept)."""
    if chunk and segment is None:
        segment = SegmentOptions(mode="fixed", max_segment=getattr(extractor, "max_duration", None) or 8.0)
    report = PredictionReport()
    for item in iter_predictions(
        model,
        extractor,
        files,
        segment=segment,
        top_k=top_k,
        batch_size=batch_size,
        min_duration=min_duration,
        dtype=dtype,
        min_confidence=min_confidence,
        speaker_regex=speaker_regex,
    ):
        (report.predictions if isinstance(item, Prediction) else report.errors).append(item)
    return report
