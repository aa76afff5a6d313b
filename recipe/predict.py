"""Classify audio files with a trained SER model folder.

    python -m recipe.predict MODEL_DIR PATH [PATH ...] [--top_k K] [--json] [--chunk] [--batch_size N]
                             [--device D] [--precision auto|fp32|bf16|fp16] [--quantize] [--threads N]
                             [--backend torch|onnx] [--min_confidence P]

PATHs are files or folders (searched recursively for `data_prep.audio.AUDIO_EXTENSIONS`). Files are decoded with
`data_prep.audio.load_audio` (any sample rate, stereo mixed down, the same decoding and 8 s centre crop as training),
then classified in batches sorted by length so each batch pads little. Files that cannot be used are reported on
stderr as "path: reason" and the rest are still classified. `--chunk` classifies every 8 s window of long clips
and averages the class probabilities (weighted by window length) instead of using only the centre 8 s.

Batching follows `recipe.components.inference.plan_batches`: encoders without an attention mask (group norm,
wav2vec2-base) only batch clips of identical length, so a file's answer never depends on its batch mates.

Speed options (docs/inference.md and docs/performance.md list what each one measured): `--precision` (alias
`--dtype`) defaults to auto: bf16 autocast on CPUs with AVX512-BF16/AMX and on GPUs with bf16, fp16 autocast on
older GPUs, fp32 otherwise (`recipe.components.precision`; fp32 with `--quantize` or `--backend onnx`);
`--quantize` applies dynamic int8 quantisation to the Linear layers (CPU only), `--threads N` sets the intra-op
threads. `--backend onnx` runs the graph written by `python -m recipe.export` in onnxruntime (`model_int8.onnx`
with `--quantize`), same decoding, crop and batching.

Scores are calibrated when `python -m recipe.evaluate` has fitted a temperature (stored in config.json and applied
by the model's forward). `--min_confidence P` answers `uncertain` (scores still printed) for a file whose top
probability is below P.

Exit status: 0 if at least one file was classified, 1 if none could be (all bad, or no audio found), 2 when the
model folder is missing or not a loadable model, or has no exported graph for `--backend onnx` (one line on stderr).
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification
from transformers.utils import logging as hf_logging

from common.cli import UserError
from common.config import CliParser
from common.files import REASON_BROKEN_LINK, REASON_LINK_LOOP, walk_tree
from common.names import display_path
from data_prep.audio import AUDIO_EXTENSIONS, AudioError, load_clip

from .components.calibration import UNCERTAIN, check_min_confidence, check_onnx_temperature
from .components.inference import (
    ModelFolderError,
    OnnxModel,
    check_model_folder,
    classify_waves,
    default_device,
    load_onnx_model,
    model_load_errors,
)
from .components.precision import PRECISIONS, choose_precision, probe_hardware
from .modeling import SERFeatureExtractor  # importing the package also registers the Auto classes


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


def quantize_linear_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantisation of every `nn.Linear` (weights int8, activations quantised on the fly; CPU only).

    Uses `torch.ao.quantization.quantize_dynamic`, deprecated in favour of torchao (not a dependency here) but
    working in torch 2.x; its deprecation warnings are silenced. The convolutions stay in float32.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def onnx_file(model_dir: str | Path, quantize: bool = False) -> Path:
    """The exported graph for `model_dir`: `model.onnx` (`model_int8.onnx` with `quantize`) in the folder itself or
    in its `onnx/` subfolder (where `python -m recipe.export` writes by default)."""
    name = "model_int8.onnx" if quantize else "model.onnx"
    for folder in (Path(model_dir), Path(model_dir) / "onnx"):
        if (folder / name).is_file():
            return folder / name
    hint = " --quantize int8" if quantize else ""
    raise FileNotFoundError(
        f"{model_dir}: no {name} here or in onnx/ (run python -m recipe.export --model {model_dir}{hint})"
    )


def load_extractor(folder: str | Path, config) -> SERFeatureExtractor:
    """The folder's saved feature extractor, or the one matching its encoder when it has none."""
    if Path(folder, "preprocessor_config.json").is_file():
        return AutoFeatureExtractor.from_pretrained(str(folder))
    return SERFeatureExtractor.for_encoder(config)


def load_model(
    model_dir: str | Path,
    device: str | torch.device | None = None,
    quantize: bool = False,
    backend: str = "torch",
    threads: int | None = None,
) -> tuple[torch.nn.Module | OnnxModel, SERFeatureExtractor]:
    """Load a saved model folder (SER or any audio-classification model) and its feature extractor.

    backend "torch": in eval mode on `device` (default: cuda if available, else cpu); `quantize` applies
    `quantize_linear_int8` (CPU only). backend "onnx": the graph written by `recipe.export` (`onnx_file`), int8
    with `quantize`, in onnxruntime with `threads` intra-op threads.
    ModelFolderError when the folder is missing or not a loadable model.
    """
    if backend == "onnx":
        path = onnx_file(model_dir, quantize)
        model = load_onnx_model(path, threads=threads)
        try:
            check_onnx_temperature(model_dir, model)
        except ValueError as err:
            raise ModelFolderError(str(err)) from err
        return model, load_extractor(path.parent, model.config)
    if backend != "torch":
        raise ValueError(f"backend must be torch or onnx, got {backend!r}")
    device = default_device(device)
    if quantize and device.type != "cpu":
        raise ValueError(f"int8 dynamic quantisation runs on CPU only, not on {device}")
    check_model_folder(model_dir)
    with model_load_errors(model_dir):
        model = AutoModelForAudioClassification.from_pretrained(str(model_dir)).to(device).eval()
        extractor = load_extractor(model_dir, model.config)
    if quantize:
        model = quantize_linear_int8(model)
    return model, extractor


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
    probs = classify_waves(model, extractor, waves, batch_size=batch_size, dtype=dtype)
    lengths = np.array([len(w) for w in waves], dtype=np.float64)
    owners_arr = np.array(owners)
    names = [model.config.id2label[i] for i in range(probs.shape[1])]
    k = max(1, min(top_k, probs.shape[1]))
    for index, (path, duration, used) in enumerate(decoded):
        mine = owners_arr == index
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


def build_parser() -> CliParser:
    parser = CliParser(prog="python -m recipe.predict", description="Classify the emotion of speech audio files.")
    parser.add_argument("model_dir", help="folder written by save_pretrained (recipe.train output)")
    parser.add_argument("paths", nargs="+", help="audio files or folders (searched recursively)")
    parser.add_argument("--top_k", type=int, default=1, help="labels to print per file")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text lines")
    parser.add_argument("--chunk", action="store_true", help="average over all 8 s windows instead of the centre 8 s")
    parser.add_argument("--batch_size", type=int, default=8, help="clips per forward pass")
    parser.add_argument(
        "--min_confidence",
        type=float,
        default=None,
        help="answer 'uncertain' (scores still shown) when the top probability is below this, in (0, 1]",
    )
    parser.add_argument("--device", default=None, help="torch device; none given: cuda if available, else cpu")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="autocast precision; auto: bf16 on CPUs/GPUs with native bf16, fp16 on older GPUs, else fp32",
    )
    parser.add_argument(
        "--quantize",
        action="store_true",
        help="int8: torch's dynamic quantisation of Linear layers (CPU), or model_int8.onnx with onnx",
    )
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads; none given: the backend's default")
    parser.add_argument(
        "--backend",
        choices=("torch", "onnx"),
        default="torch",
        help="torch, or onnxruntime on the graph written by python -m recipe.export",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.top_k < 1 or args.batch_size < 1 or (args.threads is not None and args.threads < 1):
        build_parser().error("--top_k, --batch_size and --threads must be at least 1")
    try:
        check_min_confidence(args.min_confidence)
    except ValueError as err:
        build_parser().error(str(err))
    if args.backend == "onnx" and (args.precision not in ("auto", "fp32") or args.device):
        build_parser().error("--precision and --device are torch options; the onnx backend picks its provider itself")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    hf_logging.disable_progress_bar()  # keep stderr for the per-file errors
    device = default_device(args.device)
    if args.backend == "torch" and args.quantize and device.type != "cpu":
        build_parser().error(f"--quantize runs on CPU only (device is {device}); add --device cpu")
    try:
        # int8 (dynamic quantisation or the onnx graphs) takes fp32 activations: auto keeps them fp32 there.
        fp32_only = args.quantize or args.backend == "onnx"
        requested = "fp32" if fp32_only and args.precision == "auto" else args.precision
        precision = choose_precision(requested, probe_hardware(device), key="--precision")
        model, extractor = load_model(args.model_dir, device, args.quantize, args.backend, args.threads)
    except (UserError, FileNotFoundError) as err:  # ConfigError included
        print(f"recipe.predict: error: {err}", file=sys.stderr)
        return 2
    files, errors = find_audio_files(args.paths)
    report = predict_files(
        model,
        extractor,
        files,
        top_k=args.top_k,
        batch_size=args.batch_size,
        chunk=args.chunk,
        dtype=precision.name,
        min_confidence=args.min_confidence,
    )
    report.errors = errors + report.errors

    for error in report.errors:
        print(f"{error['path']}: {error['error']}", file=sys.stderr)
    if args.json:
        json.dump(
            {"predictions": [p.to_dict() for p in report.predictions], "errors": report.errors},
            sys.stdout,
            indent=2,
        )
        print()
    else:
        for pred in report.predictions:
            labels = ", ".join(f"{label} {score:.3f}" for label, score in zip(pred.labels, pred.scores))
            print(f"{pred.path}\t{UNCERTAIN} ({labels})" if pred.uncertain else f"{pred.path}\t{labels}")
    print(
        f"classified {len(report.predictions)} file(s), {len(report.errors)} could not be used "
        f"(precision {precision.name})",
        file=sys.stderr,
    )
    return 0 if report.predictions else 1


if __name__ == "__main__":
    sys.exit(main())
