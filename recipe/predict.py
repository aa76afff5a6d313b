"""Classify audio files with a trained SER model folder.

    python -m recipe.predict MODEL_DIR PATH [PATH ...] [--top_k K] [--json | --format text|json|jsonl|csv|vtt]
                             [--output FILE] [--segment vad|fixed] [--chunk] [--min_segment S] [--max_segment S]
                             [--merge_gap S] [--vad_threshold P] [--batch_size N] [--device D]
                             [--precision auto|fp32|bf16|fp16] [--quantize] [--threads N] [--backend torch|onnx]

PATHs are files or folders (searched recursively for `data_prep.audio.AUDIO_EXTENSIONS`). Files are decoded with
`data_prep.audio.load_audio` (any sample rate, stereo mixed down, the same decoding and 8 s centre crop as training),
then classified in batches sorted by length so each batch pads little. Files that cannot be used are reported on
stderr as "path: reason" and the rest are still classified. Files are decoded, classified and written a group of
batches at a time (results appear as they are produced; memory does not grow with the number of files).

`--segment vad` cuts each file at its speech (silero-vad, `recipe.components.segmentation`) into segments of
`--min_segment`..`--max_segment` seconds and classifies every segment; `--segment fixed` (alias `--chunk`) uses
consecutive 8 s windows. The file's answer is the segments' length-weighted mean; `--json` lists the segments and
the share of time per emotion, `--format csv|jsonl|vtt` writes a table, JSON lines or WebVTT cues
(`recipe.components.segment_output`). Long files are read in blocks (`data_prep.audio_stream`), never whole.

Batching follows `recipe.components.inference.plan_batches`: encoders without an attention mask (group norm,
wav2vec2-base) only batch clips of identical length, so a file's answer never depends on its batch mates.

Speed options (docs/inference.md and docs/performance.md list what each one measured): `--precision` (alias
`--dtype`) defaults to auto: bf16 autocast on CPUs with AVX512-BF16/AMX and on GPUs with bf16, fp16 autocast on
older GPUs, fp32 otherwise (`recipe.components.precision`; fp32 with `--quantize` or `--backend onnx`);
`--quantize` applies dynamic int8 quantisation to the Linear layers (CPU only), `--threads N` sets the intra-op
threads. `--backend onnx` runs the graph written by `python -m recipe.export` in onnxruntime (`model_int8.onnx`
with `--quantize`), same decoding, crop and batching.

Exit status: 0 if at least one file was classified, 1 if none could be (all bad, or no audio found), 2 when the
model folder is missing or not a loadable model, or has no exported graph for `--backend onnx` (one line on stderr).
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification
from transformers.utils import logging as hf_logging

from common.cli import UserError
from common.config import CliParser
from common.files import REASON_BROKEN_LINK, REASON_LINK_LOOP, walk_tree
from common.names import display_path
from data_prep.audio import AUDIO_EXTENSIONS, AudioError, load_clip
from data_prep.audio_stream import SignalStats, probe

from .components.inference import (
    OnnxModel,
    check_model_folder,
    classify_waves,
    default_device,
    load_onnx_model,
    model_load_errors,
)
from .components.precision import PRECISIONS, choose_precision, probe_hardware
from .components.segment_inference import GROUP_BATCHES, classify_spans
from .components.segment_output import FORMATS, make_writer, open_output, segment_records, speech_shares
from .components.segmentation import REASON_NO_SPEECH, SegmentOptions, SileroVad, plan_spans
from .modeling import SERFeatureExtractor  # importing the package also registers the Auto classes


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
            "label": self.labels[0],
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
) -> Prediction:
    """A file's Prediction from the probabilities of its pieces (one clip, or its segments weighted by length)."""
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
) -> Iterator[Prediction | dict[str, str]]:
    """Each file's centre `max_duration` as one clip, decoded and classified `GROUP_BATCHES` batches of files at a
    time, so memory does not grow with the number of files; yields Predictions and error records in file order."""
    sr = extractor.sampling_rate
    max_duration = getattr(extractor, "max_duration", 8.0)  # a stock Wav2Vec2FeatureExtractor has none
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    group = batch_size * GROUP_BATCHES
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
        probs = classify_waves(model, extractor, waves, batch_size=batch_size, dtype=dtype) if waves else None
        for item in results:
            if isinstance(item, tuple):
                path, duration, row = item
                used = np.array([len(waves[row]) / sr])
                item = make_prediction(path, names, probs[row : row + 1], used, duration, top_k)
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
) -> Iterator[Prediction | dict[str, str]]:
    """Each file cut into spans (`plan_spans`: speech or fixed windows) read block by block, the spans classified a
    group at a time (`classify_spans`); yields one Prediction (or error record) per file, in file order."""
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    vad = SileroVad() if options.mode == "vad" else None
    for path in files:
        try:
            info = probe(path, min_duration)
            stats = SignalStats()
            spans = plan_spans(info, options, vad, stats)
            if vad is not None:
                stats.check(path)
                if not spans:
                    raise AudioError(
                        path, REASON_NO_SPEECH, f"the voice activity detector found none in {info.duration:.1f} s"
                    )
            probs = classify_spans(
                model, extractor, info, spans, batch_size=batch_size, dtype=dtype, stats=stats, progress=progress
            )
            stats.check(path)
        except Exception as err:  # anything unexpected about one file must not stop the others
            yield file_error(path, err)
            continue
        lengths = np.array([s.length for s in spans])
        yield make_prediction(path, names, probs, lengths, info.duration, top_k, [(s.start, s.end) for s in spans])


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
) -> PredictionReport:
    """Decode and classify `files` (`iter_predictions`, collected); undecodable files become errors ("path",
    "error") instead of stopping the run. `chunk`: fixed windows of the extractor's max_duration."""
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
    ):
        (report.predictions if isinstance(item, Prediction) else report.errors).append(item)
    return report


def run_options(args, extractor: SERFeatureExtractor, files: list[Path]) -> tuple[SegmentOptions | None, str]:
    """The segmentation and output format the flags ask for; UserError for a combination that cannot work."""
    fmt = args.format or ("json" if args.json else "text")
    if args.json and fmt != "json":
        raise UserError(f"--json and --format {fmt} ask for two outputs; give one")
    if fmt == "vtt" and len(files) > 1:
        raise UserError(f"--format vtt holds one recording's cues; {len(files)} audio files were given")
    if args.output and Path(args.output).exists():
        raise UserError(f"--output {args.output}: already exists (choose a new file name)")
    if args.output and not Path(args.output).parent.is_dir():
        raise UserError(f"--output {args.output}: no such folder {Path(args.output).parent}")
    mode = "fixed" if args.chunk and args.segment is None else args.segment
    if args.chunk and mode != "fixed":
        raise UserError("--chunk is --segment fixed; it cannot be combined with --segment vad")
    if mode is None:
        return None, fmt
    max_segment = args.max_segment or getattr(extractor, "max_duration", None) or 8.0
    segment = SegmentOptions(
        mode=mode,
        min_segment=min(args.min_segment, max_segment),
        max_segment=max_segment,
        merge_gap=args.merge_gap,
        threshold=args.vad_threshold,
    )
    try:
        segment.check()
    except ValueError as err:
        raise UserError(str(err)) from None
    return segment, fmt


def progress_bar(files: Sequence[Path], segment: SegmentOptions | None) -> tqdm:
    """A progress bar on stderr (when it is a terminal): files for clips, seconds of audio for segments."""
    if segment is None:
        return tqdm(total=len(files), unit="file", file=sys.stderr, disable=None, leave=False)
    total = 0.0
    for path in files:  # headers only; a file that cannot be read is reported later
        with contextlib.suppress(Exception):
            total += probe(path).duration
    return tqdm(total=round(total, 1), unit="s", unit_scale=True, file=sys.stderr, disable=None, leave=False)


def build_parser() -> CliParser:
    parser = CliParser(prog="python -m recipe.predict", description="Classify the emotion of speech audio files.")
    parser.add_argument("model_dir", help="folder written by save_pretrained (recipe.train output)")
    parser.add_argument("paths", nargs="+", help="audio files or folders (searched recursively)")
    parser.add_argument("--top_k", type=int, default=1, help="labels to print per file")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of text lines (--format json)")
    parser.add_argument("--format", choices=FORMATS, default=None, help="output: text (default), json, jsonl, csv, vtt")
    parser.add_argument("--output", default=None, help="write the output to this new file instead of stdout")
    parser.add_argument(
        "--segment",
        choices=("vad", "fixed"),
        default=None,
        help="classify a long file in segments: speech found by silero-vad, or consecutive --max_segment windows",
    )
    parser.add_argument("--chunk", action="store_true", help="same as --segment fixed (all 8 s windows, averaged)")
    parser.add_argument("--min_segment", type=float, default=1.0, help="vad: widen shorter speech to this (s)")
    parser.add_argument(
        "--max_segment", type=float, default=None, help="split longer speech / fixed window (s; default 8 s)"
    )
    parser.add_argument("--merge_gap", type=float, default=0.5, help="vad: join speech across shorter silences (s)")
    parser.add_argument("--vad_threshold", type=float, default=0.5, help="vad: silero-vad speech probability")
    parser.add_argument("--batch_size", type=int, default=8, help="clips per forward pass")
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
    try:
        segment, fmt = run_options(args, extractor, files)
    except UserError as err:
        print(f"recipe.predict: error: {err}", file=sys.stderr)
        return 2
    counts = {"predictions": 0, "errors": 0}
    with open_output(args.output) as out:
        writer = make_writer(fmt, out)

        def report_error(error: dict[str, str]) -> None:
            print(f"{error['path']}: {error['error']}", file=sys.stderr)
            writer.error(error)
            counts["errors"] += 1

        for error in errors:
            report_error(error)
        with progress_bar(files, segment) as bar:
            for item in iter_predictions(
                model,
                extractor,
                files,
                segment=segment,
                top_k=args.top_k,
                batch_size=args.batch_size,
                dtype=precision.name,
                progress=bar.update,
            ):
                if isinstance(item, Prediction):
                    writer.write(item.to_dict())
                    counts["predictions"] += 1
                else:
                    report_error(item)
        writer.close()
    print(
        f"classified {counts['predictions']} file(s), {counts['errors']} could not be used "
        f"(precision {precision.name})",
        file=sys.stderr,
    )
    return 0 if counts["predictions"] else 1


if __name__ == "__main__":
    sys.exit(main())
