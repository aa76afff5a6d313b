"""`python -m bench` / `make bench`: run every measurement in its own subprocess, print a table, write results.json.

    python -m bench [--quick] [--only prepare,train,infer,recipe,segment] [--device cpu|cuda]
                    [--dtype fp32,auto | fp32|fp16|bf16|auto[,...]] [--out bench/results.json]

Training and inference run in fp32 and in the auto precision (`recipe.components.precision`: bf16 on CPUs with
AVX512-BF16/AMX and on GPUs with bf16, fp16 on older GPUs) on the same clips; the fast/naive padding comparison runs
in the first precision only. Sizes: tiny model batch 8 x 8 steps, wav2vec2-base batch 4 x 2 accumulation x 8 steps
on CPU, more on CUDA (see TRAIN_SIZES), each after one warm-up step and repeated 3 times (min / median / max of the
repeats are reported). Inference RTF is always measured on CPU (fp32,
auto, int8 dynamic quantisation), and on the GPU too with --device cuda. `recipe` times whole `python -m
recipe.train` runs: start-up, setup, `Trainer.train()` and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.lengths import describe
from bench.report import emit_json, format_results, precision_ratios, target_summary, train_ratios
from common.cli import UserError, run_cli
from common.config import CliParser
from common.hardware import hardware_info

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("prepare", "train", "infer", "recipe", "segment")

# (batch size, gradient accumulation, timed optimizer steps) per (model, device kind, quick). The recipe trains
# wav2vec2-base with batch 8 x 4 accumulation steps (32 clips per AdamW step) and the demo with batch 16 x 1; on CPU
# the base run is cut to 4 x 2 (8 clips per AdamW step) to stay within the time budget. One timed step per row read
# a bf16/fp32 ratio of 1.30x to 1.41x where 25 steps read 1.58x: each row times 3 repeats of its steps (24 base steps).
TRAIN_REPEATS = {False: 3, True: 2}
TRAIN_SIZES = {
    ("tiny", "cpu", False): (8, 1, 8),
    ("tiny", "cpu", True): (8, 1, 2),
    ("base", "cpu", False): (4, 2, 8),
    ("base", "cpu", True): (2, 2, 1),
    ("tiny", "cuda", False): (16, 1, 20),
    ("tiny", "cuda", True): (16, 1, 5),
    ("base", "cuda", False): (8, 4, 5),
    ("base", "cuda", True): (8, 4, 2),
}


def run_module(module: str, args: list[str], timeout: float = 900) -> dict[str, Any]:
    """Run `python -m module args --out tmp.json` in a fresh process; return its JSON (raise with its stderr)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = Path(tmp.name)
    cmd = [sys.executable, "-m", module, *args, "--out", str(out)]
    env = {
        **os.environ,
        "TQDM_DISABLE": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "TOKENIZERS_PARALLELISM": "false",
    }
    print(f"$ {shlex.join(cmd[1:-2])}", flush=True)
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{module} {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        result = json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)
    print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    return result


def threads_args(args: argparse.Namespace) -> list[str]:
    return ["--threads", str(args.threads)] if args.threads else []


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = CliParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer files, clips and steps (a smoke run, noisier)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (training, and inference in addition to CPU)")
    ap.add_argument(
        "--dtype",
        default="fp32,auto",
        help="training precisions, comma list of fp32/fp16/bf16/auto (default fp32,auto)",
    )
    ap.add_argument("--models", default="tiny,base", help="training models: tiny (demo config), base (wav2vec2-base)")
    ap.add_argument(
        "--threads", type=int, default=None, help="torch threads for training and inference (default: torch's)"
    )
    ap.add_argument("--out", default=str(REPO / "bench" / "results.json"), help="where results.json is written")
    args = ap.parse_args(argv)
    args.only = [s for s in args.only.split(",") if s]
    bad = [s for s in args.only if s not in SECTIONS]
    if bad:
        ap.error(f"--only: unknown section(s) {', '.join(bad)}")
    args.kind = "cuda" if args.device.startswith("cuda") else "cpu"
    args.dtypes = [d for d in args.dtype.split(",") if d]
    args.models = [m for m in args.models.split(",") if m]
    return args


def resolve(dtypes: list[str], device: str) -> tuple[list[str], dict[str, str]]:
    """Each requested precision resolved for `device` (auto -> what it picks here), duplicates dropped; and the
    auto choice (precision, reason)."""
    from recipe.components.precision import choose_precision, probe_hardware

    auto = choose_precision("auto", probe_hardware(device))
    resolved = [
        auto.name if d == "auto" else choose_precision(d, probe_hardware(device), key="--dtype").name for d in dtypes
    ]
    return list(dict.fromkeys(resolved)), {"precision": auto.name, "reason": auto.reason}


def check_args(args: argparse.Namespace) -> None:
    """UserError for options that would fail only minutes or hours into the run (bad dtype or model name, CUDA
    absent, an --out folder that cannot be written)."""
    bad = [d for d in args.dtypes if d not in ("fp32", "fp16", "bf16", "auto")]
    if bad:
        raise UserError(f"--dtype: unknown precision(s) {', '.join(bad)} (choose from fp32, fp16, bf16, auto)")
    bad = [m for m in args.models if m not in ("tiny", "base")]
    if bad:
        raise UserError(f"--models: unknown model(s) {', '.join(bad)} (choose from tiny, base)")
    if args.kind == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserError(f"--device {args.device}: CUDA is not available here (use --device cpu)")
    folder = Path(args.out).resolve().parent
    try:  # a real write (os.access says yes to root everywhere, /proc included)
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        raise UserError(f"--out {args.out}: cannot write in {folder} ({err.strerror or err})") from None


def main(argv: list[str] | None = None) -> int:
    """Run the requested sections; exit 0 when every measurement ran (targets missed do not fail the run), 2 for
    options that cannot work (one line, before any measurement)."""
    args = parse_args(argv)
    command = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    return run_cli("python -m bench", lambda: _bench(args, command))


def train_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """bench.train_bench for every model and precision: fast and naive batching in the first precision, fast in
    the others."""
    rows = []
    for model in args.models:
        batch, accum, steps = TRAIN_SIZES[(model, args.kind, args.quick)]
        for dtype in args.dtypes:
            for mode in ("fast", "naive") if dtype == args.dtypes[0] else ("fast",):
                argv = ["--model", model, "--mode", mode, "--device", args.device, "--dtype", dtype]
                argv += ["--batch_size", str(batch), "--grad_accum", str(accum), "--steps", str(steps)]
                argv += ["--repeats", str(TRAIN_REPEATS[args.quick]), *threads_args(args)]
                # timeout: 24 steps of wav2vec2-base padded to 8 s, fp32, 2 cores
                rows.append(run_module("bench.train_bench", argv, timeout=1800))
    return rows


def _bench(args: argparse.Namespace, command: str) -> int:
    """Check the options (a UserError, ConfigError too: fp16 on CPU), then measure every requested section."""
    check_args(args)
    args.dtypes, auto_device = resolve(args.dtypes, args.device)
    cpu_auto = resolve(["auto"], "cpu")[1]
    start = time.perf_counter()
    results: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "quick": args.quick,
        "machine": hardware_info(args.device),
        "lengths": describe(),
        "auto_precision": {args.device: auto_device, "cpu": cpu_auto},
    }
    results["machine"]["load_average_at_start"] = results["machine"].pop("load_average")
    if "prepare" in args.only:
        results["prepare"] = run_module("bench.prepare_bench", ["--files", "200" if args.quick else "400"])
    if "train" in args.only:
        results["train"] = train_rows(args)
        results["train_ratios"] = train_ratios(results["train"])
        results["precision_ratios"] = precision_ratios(results["train"], reference=args.dtypes[0])
    if "infer" in args.only:
        clips = "8" if args.quick else "24"
        threads = threads_args(args)
        variants = ",".join(dict.fromkeys(["fp32", cpu_auto["precision"], "int8", "onnx-fp32", "onnx-int8"]))
        results["infer"] = run_module(
            "bench.infer_bench", ["--clips", clips, "--device", "cpu", "--variants", variants, *threads]
        )
        if args.kind == "cuda":
            variants = ",".join(dict.fromkeys(["fp32", auto_device["precision"], "fp16", "bf16"]))
            results["infer_device"] = [
                run_module("bench.infer_bench", ["--clips", "64", "--device", args.device, "--variants", variants])
            ]
    if "recipe" in args.only:
        results["recipe"] = [
            run_module("bench.recipe_bench", ["--model", model, *threads_args(args)])
            for model in args.models
            if not (args.quick and model == "base")
        ]
    if "segment" in args.only:  # VAD comparison, and predict --segment vad on a 1-hour (quick: 10-minute) file
        long_s = ["--long_seconds", "600" if args.quick else "3600"]
        results["segment"] = run_module("bench.segment_bench", [*long_s, *threads_args(args)], timeout=3600)
    results["targets"] = target_summary(results)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["wall_s"] = round(time.perf_counter() - start, 1)
    out = Path(args.out).resolve()
    results["results_file"] = str(out.relative_to(REPO)) if out.is_relative_to(REPO) else args.out
    emit_json(results, args.out)
    print()
    print(format_results(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
