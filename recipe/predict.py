"""Classify audio files with a trained SER model folder.

    python -m recipe.predict MODEL_DIR PATH [PATH ...] [--top_k K] [--json | --format text|json|jsonl|csv|vtt]
                             [--output FILE] [--segment vad|fixed] [--chunk] [--min_segment S] [--max_segment S]
                             [--merge_gap S] [--vad_threshold P] [--batch_size N] [--device D]
                             [--precision auto|fp32|bf16|fp16] [--quantize] [--threads N] [--backend torch|onnx]
                             [--min_confidence P] [--speaker_regex REGEX]

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

Scores are calibrated when `python -m recipe.evaluate` has fitted a temperature (stored in config.json and applied
by the model's forward). `--min_confidence P` answers `uncertain` (scores still printed) for a file whose top
probability is below P.

Exit status: 0 if at least one file was classified, 1 if none could be (all bad, or no audio found), 2 when the
model folder is missing or not a loadable model, or has no exported graph for `--backend onnx` (one line on stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers.utils import logging as hf_logging

from common.cli import UserError, run_cli
from common.config import CliParser
from data_prep.audio_stream import probe

from .components.calibration import check_min_confidence
from .components.inference import default_device
from .components.model_io import load_model
from .components.precision import PRECISIONS, choose_precision, probe_hardware
from .components.prediction import Prediction, find_audio_files, iter_predictions
from .components.segment_output import FORMATS, make_writer, open_output
from .components.segmentation import SegmentOptions
from .modeling import SERFeatureExtractor


def run_options(
    args: argparse.Namespace, extractor: SERFeatureExtractor, files: list[Path]
) -> tuple[SegmentOptions | None, str]:
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
    parser.add_argument(
        "--speaker_regex",
        default=None,
        help="models trained with speaker_norm: the speaker of each file (group `speaker` or 1 of this regex on the "
        "path); default: one speaker per folder",
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
    # int8 (dynamic quantisation or the onnx graphs) takes fp32 activations: auto keeps them fp32 there.
    fp32_only = args.quantize or args.backend == "onnx"
    requested = "fp32" if fp32_only and args.precision == "auto" else args.precision
    return run_cli("recipe.predict", lambda: _predict(args, device, requested))


def _predict(args: argparse.Namespace, device: torch.device, requested: str) -> int:
    """Load the model (a bad folder is a UserError), classify, print; exit 0, or 1 when nothing was classified."""
    precision = choose_precision(requested, probe_hardware(device), key="--precision")
    model, extractor = load_model(args.model_dir, device, args.quantize, args.backend, args.threads)
    files, errors = find_audio_files(args.paths)
    segment, fmt = run_options(args, extractor, files)
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
                min_confidence=args.min_confidence,
                speaker_regex=args.speaker_regex,
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
