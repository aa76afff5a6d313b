"""Inference speed: real-time factor (compute seconds / audio seconds) of wav2vec2-base through `recipe.predict`.

A randomly initialised SER model with the wav2vec2-base encoder (`Wav2Vec2Config()` defaults, SDPA attention) is
saved with `save_pretrained` and loaded back with `recipe.components.model_io.load_model` (the `python -m
recipe.predict` path), then `recipe.components.inference.classify_waves` (`plan_batches`, `torch.inference_mode`)
classifies clips whose durations follow `bench.lengths`. Variants: float32, bf16 autocast, dynamic int8 quantisation
of the Linear layers (`--quantize`), and onnxruntime on the graph `recipe.export` writes, float32 (`onnx-fp32`) and
dynamic int8 (`onnx-int8`) (`--backend onnx`); batched by `plan_batches` (at most 8 per batch; wav2vec2-base has no
attention mask, so only clips of equal length after the 8 s crop share one), and float32 also one clip at a time.
Each variant gets one untimed warm-up call. onnxruntime gets as many intra-op threads as torch.

Agreement of each variant with float32 (same clips): share of identical top-1 labels and the largest absolute
difference of a class probability. The weights are random, so these figures show numerical closeness, not
accuracy on real data.

    python -m bench.infer_bench [--clips 16] [--batch_size 8] [--device cpu]
                                [--variants fp32,bf16,int8,onnx-fp32,onnx-int8] [--out f]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import Wav2Vec2Config

from bench.lengths import SAMPLING_RATE, quantile_lengths, synthetic_wave
from bench.report import emit_json
from common.config import CliParser
from recipe import SERConfig, SERFeatureExtractor, SERForAudioClassification
from recipe.components.inference import classify_waves
from recipe.components.model_io import load_model
from recipe.components.onnx_export import export_model
from recipe.modeling.configuration_ser import clean_encoder_config

VARIANTS = ("fp32", "bf16", "fp16", "int8", "onnx-fp32", "onnx-int8")


def save_base_model(folder: Path, seed: int = 0) -> None:
    """A wav2vec2-base SER model with random weights, saved the way training saves one."""
    torch.manual_seed(seed)
    config = SERConfig(encoder_config=clean_encoder_config(Wav2Vec2Config()))
    config._attn_implementation = "sdpa"
    model = SERForAudioClassification(config)
    model.save_pretrained(str(folder))
    SERFeatureExtractor.for_encoder(config.encoder_config).save_pretrained(str(folder))


def time_variant(
    model_dir: Path, device: str, variant: str, waves: list[np.ndarray], batch_size: int
) -> tuple[float, float, np.ndarray]:
    """Wall-clock and process CPU seconds to classify `waves` with one variant (after a warm-up call), and the
    probabilities. CPU seconds (all threads) are much less disturbed than wall-clock by other work on a shared CPU."""
    quantize = variant.endswith("int8")
    if variant.startswith("onnx"):
        if not (model_dir / "onnx" / "model_int8.onnx").is_file():
            export_model(model_dir, model_dir / "onnx", quantize="int8")
        model, extractor = load_model(model_dir, quantize=quantize, backend="onnx", threads=torch.get_num_threads())
    else:
        model, extractor = load_model(model_dir, device, quantize=quantize)
    dtype = "fp32" if quantize or variant.startswith("onnx") else variant
    classify_waves(model, extractor, waves[:2], batch_size=batch_size, dtype=dtype)  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start, cpu_start = time.perf_counter(), time.process_time()
    probs = classify_waves(model, extractor, waves, batch_size=batch_size, dtype=dtype)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, time.process_time() - cpu_start, probs


def run(
    n_clips: int = 16,
    batch_size: int = 8,
    device: str = "cpu",
    variants: tuple[str, ...] = ("fp32", "bf16", "int8", "onnx-fp32", "onnx-int8"),
    single_variants: tuple[str, ...] = ("fp32",),
    seed: int = 0,
) -> dict[str, Any]:
    """RTF of every variant at `batch_size`, and at batch 1 for `single_variants`; float32 runs first (the agreement
    reference; it always runs both batch sizes)."""
    single_variants = ("fp32", *single_variants)
    lengths = quantile_lengths(n_clips, seed=seed)
    rng = np.random.default_rng(seed)
    waves = [synthetic_wave(int(n), rng) for n in lengths]
    audio_s = float(lengths.sum()) / SAMPLING_RATE
    rows = []
    reference: dict[int, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="ser-bench-infer-") as tmp:
        model_dir = Path(tmp) / "wav2vec2-base-ser"
        save_base_model(model_dir, seed)
        ordered = ["fp32"] + [v for v in variants if v != "fp32"]
        for variant in ordered:
            for bs in (1, batch_size) if variant in single_variants else (batch_size,):
                seconds, cpu_seconds, probs = time_variant(model_dir, device, variant, waves, bs)
                row = {
                    "variant": variant,
                    "batch_size": bs,
                    "seconds": round(seconds, 3),
                    "rtf": round(seconds / audio_s, 4),
                    "clips_per_s": round(n_clips / seconds, 2),
                    "cpu_seconds": round(cpu_seconds, 3),
                }
                if variant == "fp32":
                    reference[bs] = probs
                else:
                    ref = reference[bs]
                    row["top1_agreement"] = round(float((probs.argmax(1) == ref.argmax(1)).mean()), 3)
                    row["max_abs_prob_diff"] = round(float(np.abs(probs - ref).max()), 5)
                rows.append(row)
    return {
        "model": "wav2vec2-base (random init) + SER head",
        "device": device,
        "clips": n_clips,
        "audio_s": round(audio_s, 2),
        "torch_threads": torch.get_num_threads(),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    """CLI: JSON to stdout or --out."""
    ap = CliParser(prog="python -m bench.infer_bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=16, help="clips classified per variant")
    ap.add_argument("--batch_size", type=int, default=8, help="clips per forward pass")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument(
        "--variants", default="fp32,bf16,int8,onnx-fp32,onnx-int8", help=f"comma list of {', '.join(VARIANTS)}"
    )
    ap.add_argument("--single_variants", default="fp32", help="variants also timed one clip at a time")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads; none given: torch's default")
    ap.add_argument("--out", help="write the JSON result here instead of stdout")
    args = ap.parse_args(argv)
    variants = tuple(v for v in args.variants.split(",") if v)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    single = tuple(v for v in args.single_variants.split(",") if v)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args.clips, args.batch_size, args.device, variants, single)
    emit_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
