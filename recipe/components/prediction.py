"""Classifying audio files: find them, decode and crop them as training did, batch them, report every failure.

The function behind `python -m recipe.predict` and the Gradio app (`recipe.app`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
from .speaker_norm import grouped_probabilities, groups_from_paths, uses_speaker_norm


@dataclass
class Prediction:
    """Result for one file: top-k labels with probabilities, all class probabilities, and with `--chunk` the
    probabilities of every window (rows in time order, `window_s` seconds each, the last one possibly shorter)."""

    path: str
    labels: list[str]
    scores: list[float]
    windows: int = 1
    duration_s: float = 0.0  # the whole file
    used_s: float = 0.0  # what was classified (the centre crop, or every window with --chunk)
    probabilities: dict[str, float] = field(default_factory=dict)
    window_probabilities: list[dict[str, float]] = field(default_factory=list)
    window_s: float | None = None
    uncertain: bool = False  # the top probability is below --min_confidence: the answer is UNCERTAIN

    @property
    def answer(self) -> str:
        """The top label, or UNCERTAIN below --min_confidence."""
        return UNCERTAIN if self.uncertain else self.labels[0]

    def timeline(self) -> list[dict]:
        """One row per window: start and end in seconds, top label and its probability (empty for one window)."""
        if self.windows < 2 or self.window_s is None:
            return []
        rows = []
        for i, probs in enumerate(self.window_probabilities):
            label = max(probs, key=probs.get)
            end = min((i + 1) * self.window_s, self.duration_s)
            rows.append(
                {"start_s": round(i * self.window_s, 3), "end_s": round(end, 3), "label": label, "score": probs[label]}
            )
        return rows

    def to_dict(self) -> dict:
        out = {
            "path": self.path,
            "label": self.answer,
            "score": self.scores[0],
            "top_k": [{"label": label, "score": score} for label, score in zip(self.labels, self.scores)],
            "windows": self.windows,
            "duration_s": self.duration_s,
            "used_s": self.used_s,
        }
        if self.windows > 1:
            out["per_window"] = self.timeline()
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


def predict_files(
    model: torch.nn.Module | OnnxModel,
    extractor: SERFeatureExtractor,
    files: Sequence[str | Path],
    *,
    top_k: int = 1,
    batch_size: int = 8,
    chunk: bool = False,
    min_duration: float = 0.25,
    dtype: str = "fp32",
    speaker_regex: str | None = None,
    min_confidence: float | None = None,
) -> PredictionReport:
    """Decode and classify `files`; undecodable files become errors ("path", "error") instead of stopping the run.
    A file whose top probability is below `min_confidence` is answered UNCERTAIN (its scores are kept)."""
    report = PredictionReport()
    sr = extractor.sampling_rate
    max_duration = getattr(extractor, "max_duration", 8.0)  # a stock Wav2Vec2FeatureExtractor has none
    window = None if max_duration is None else int(round(max_duration * sr))
    waves: list[np.ndarray] = []
    owners: list[int] = []  # index into `decoded` for each wave (several per file with --chunk)
    decoded: list[tuple[str, float, float]] = []  # (path as text, file duration, seconds classified)
    for path in files:
        try:
            wave, duration = load_clip(
                path, target_sr=sr, max_duration=None if chunk else max_duration, min_duration=min_duration
            )
        except AudioError as err:
            report.errors.append(
                {"path": display_path(err.path), "error": err.reason + (f" ({err.detail})" if err.detail else "")}
            )
            continue
        except Exception as err:  # anything else unexpected about one file must not stop the others
            report.errors.append({"path": display_path(path), "error": f"{type(err).__name__}: {err}"})
            continue
        pieces = window_clip(wave, window, int(min_duration * sr)) if chunk and window else [wave]
        decoded.append((display_path(path), duration, sum(len(p) for p in pieces) / sr))
        waves.extend(pieces)
        owners.extend([len(decoded) - 1] * len(pieces))

    if not waves:
        return report
    if uses_speaker_norm(model):  # one speaker per folder (or per --speaker_regex match): docs/model.md
        speakers = groups_from_paths([decoded[i][0] for i in owners], speaker_regex)
        probs = grouped_probabilities(model, extractor, waves, speakers, batch_size, dtype)
    else:
        probs = classify_waves(model, extractor, waves, batch_size=batch_size, dtype=dtype)
    lengths = np.array([len(w) for w in waves], dtype=np.float64)
    owners_arr = np.array(owners)
    names = [model.config.id2label[i] for i in range(probs.shape[1])]
    k = max(1, min(top_k, probs.shape[1]))
    finite = np.isfinite(probs).all(axis=1)  # a NaN score is no answer, and would make the --json output invalid
    for index, (path, duration, used) in enumerate(decoded):
        mine = owners_arr == index
        if not finite[mine].all():
            report.errors.append({"path": path, "error": "the model gave non-finite (NaN/inf) scores"})
            continue
        mean = np.average(probs[mine], axis=0, weights=lengths[mine])
        best = np.argsort(-mean)[:k]
        report.predictions.append(
            Prediction(
                path=path,
                labels=[names[int(i)] for i in best],
                scores=[round(float(mean[i]), 6) for i in best],
                windows=int(mine.sum()),
                duration_s=round(duration, 3),
                used_s=round(used, 3),
                probabilities={name: round(float(p), 6) for name, p in zip(names, mean)},
                window_probabilities=[{name: round(float(p), 6) for name, p in zip(names, row)} for row in probs[mine]],
                window_s=max_duration if chunk else None,
                uncertain=min_confidence is not None and float(mean.max()) < min_confidence,
            )
        )
    return report
