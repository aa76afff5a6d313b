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

import argparse
import json
import sys
from collections.abc import Sequence

import torch
from transformers.utils import logging as hf_logging

from common.cli import run_cli
from common.config import CliParser

from .components.calibration import UNCERTAIN, check_min_confidence
from .components.inference import default_device
from .components.model_io import load_model
from .components.precision import PRECISIONS, choose_precision, probe_hardware
from .components.prediction import find_audio_files, predict_files


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
    report = predict_files(
        model,
        extractor,
        files,
        top_k=args.top_k,
        batch_size=args.batch_size,
        chunk=args.chunk,
        dtype=precision.name,
        speaker_regex=args.speaker_regex,
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
            allow_nan=False,
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
