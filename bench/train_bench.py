"""Training throughput of the recipe's own training path, fast versus naive, for one model and one mode.

Everything that runs is the recipe's code: the Trainer from `recipe.components.assembly.build_trainer` (the one
`recipe.train` uses, so model, collator, callbacks and loss options are the training run's), `TrainingArguments`
from `recipe.components.config.build_training_arguments` (configs/recipe.yaml for wav2vec2-base, configs/demo.yaml
for the tiny model), the `AudioClassificationCollator`, and `SERTrainer.train()` (mixup,
label-smoothed loss, AdamW, grad clipping, and on a GPU autocast / grad scaling / pinned memory).

* ``fast``: the recipe's default, per-batch padding and ``train_sampling_strategy: group_by_length``;
* ``naive``: ``data.naive_padding: true``, every clip padded to 8 s and batches drawn at random (the seed).

Clip lengths come from `bench.lengths` (a pool of 2000 clips). The Trainer's own sampler orders that pool
(`SERTrainer._get_train_sampler`, a `LengthGroupedSampler` in fast mode, a `RandomSampler` in naive mode) and the
order is cut into batches, exactly as an epoch would be. A whole epoch is too long to time here, and the length
grouped order runs from the longest batches to the shortest, so the first few steps would not be typical: the
benchmark times ``steps`` optimizer steps (each of ``grad_accum`` batches, as the recipe accumulates gradients) on
batches picked evenly across the sorted batch lengths (quantiles), after one untimed warm-up optimizer step on the
shortest batches (cheap; it pays the first-step costs such as creating the AdamW state). Those batches are filled
with synthetic audio and trained in that order with ``train_sampling_strategy: sequential``, ``repeats`` times in
a row (one training run).

Throughput = clips in the timed steps / seconds from the end of the warm-up step to the end of the last step (data
loading and collation included); each repeat's own clips/s is recorded and summarised as min / median / max
(``clips_per_s_spread``), so a reader sees how far one pass over the same batches moves under load.
The CPU time this process used over the same span (all its threads; not the
dataloader worker processes) is recorded too (``clips_per_cpu_s``): with one thread (``--threads 1``) it is the
compute the steps took, whatever else runs on the machine; with several threads under contention it also counts
OpenMP threads spin-waiting for a descheduled sibling. Peak memory: the process's peak RSS (``ru_maxrss``; run each
mode in its own process) on CPU, ``torch.cuda.max_memory_allocated`` on a GPU.

    python -m bench.train_bench --model tiny|base --mode fast|naive [--device cpu|cuda] [--dtype fp32|fp16|bf16|auto]
                                [--batch_size 4] [--grad_accum N] [--steps 3] [--repeats 3]
                                [--out result.json]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset, Features
from transformers import TrainerCallback, Wav2Vec2Config, set_seed

from bench.lengths import SAMPLING_RATE, quantile_lengths, synthetic_wave
from bench.report import emit_json
from common.config import CliParser
from common.hardware import peak_memory_mb
from data_prep.dataset import FEATURES
from data_prep.labels import EMOTIONS
from recipe.components.assembly import build_trainer
from recipe.components.config import RecipeConfig, build_training_arguments, load_config
from recipe.components.model_io import model_view
from recipe.components.precision import precision_of
from recipe.components.trainer import SERTrainer
from recipe.modeling.configuration_ser import clean_encoder_config

REPO = Path(__file__).resolve().parents[1]
MODELS = ("tiny", "base")
MODES = ("fast", "naive")
DTYPES = ("fp32", "fp16", "bf16", "auto")
POOL_SIZE = 2000
MAX_DURATION_S = 8.0


def build_config(
    model: str,
    mode: str,
    device: str,
    dtype: str,
    batch_size: int,
    steps: int,
    gradient_checkpointing: bool = False,
    torch_compile: bool = False,
    grad_accum: int | None = None,
) -> RecipeConfig:
    """The recipe config of one benchmark run: the real config file plus only what a benchmark must change."""
    if model == "base":
        cfg = load_config(REPO / "configs" / "recipe.yaml")
        cfg.model.from_scratch = True  # wav2vec2-base architecture, random weights: same speed, no download
        # layerdrop 0: all 12 layers every step (the checkpoint's 0.1 would skip layers at random, making few-step
        # timings noisy); everything else as Wav2Vec2Config() = facebook/wav2vec2-base.
        cfg.model.encoder_config = {**clean_encoder_config(Wav2Vec2Config()), "layerdrop": 0.0}
    elif model == "tiny":
        cfg = load_config(REPO / "configs" / "demo.yaml")  # the demo's small wav2vec2 (2 layers, hidden 128)
    else:
        raise ValueError(f"unknown model {model!r} (choose from {', '.join(MODELS)})")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r} (choose from {', '.join(DTYPES)})")
    cfg.model.max_duration = MAX_DURATION_S  # the demo crops at 3 s; the benchmark compares against 8 s padding
    cfg.model.gradient_checkpointing = gradient_checkpointing
    cfg.data.naive_padding = mode == "naive"
    cfg.recipe.freeze_encoder_epochs = 0  # time the main phase (encoder training); the frozen phase is cheaper
    cfg.recipe.early_stopping_patience = None
    cfg.training.update(
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=grad_accum or cfg.training.get("gradient_accumulation_steps", 1),
        max_steps=steps + 1,
        warmup_steps=0,
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="no",
        load_best_model_at_end=False,
        report_to="none",
        disable_tqdm=True,
        use_cpu=device == "cpu",
        torch_compile=torch_compile,
    )
    cfg.recipe.precision = dtype  # resolved (and impossible choices refused) by build_training_arguments
    return cfg


class StepTimer(TrainerCallback):
    """Wall clock (perf_counter) and this process's CPU time (all threads) at the end of every optimizer step,
    after a CUDA synchronisation on a GPU."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.marks: list[float] = []
        self.cpu_marks: list[float] = []

    def on_step_end(self, args, state, control, **kwargs):  # noqa: D102 - TrainerCallback hook
        if self.cuda:
            torch.cuda.synchronize()
        self.marks.append(time.perf_counter())
        self.cpu_marks.append(time.process_time())


def pick_batches(
    order: list[int], lengths: np.ndarray, batch_size: int, count: int, warmup_count: int = 1
) -> tuple[list[int], list[list[int]]]:
    """The `warmup_count` shortest batches (their rows, flat) and `count` batches spread evenly over the sorted batch
    lengths (at the quantiles (j + 0.5) / count)."""
    batches = [order[i : i + batch_size] for i in range(0, len(order) - batch_size + 1, batch_size)]
    by_length = sorted(batches, key=lambda batch: (int(lengths[batch].max()), int(lengths[batch].sum())))
    warmup, rest = by_length[:warmup_count], by_length[warmup_count:]
    if count > len(rest):
        raise ValueError(f"{count} batches asked, only {len(rest)} in the pool")
    picks = [rest[int((j + 0.5) * len(rest) / count)] for j in range(count)]
    return [i for batch in warmup for i in batch], picks


def synthetic_dataset(rows: list[int], lengths: np.ndarray, seed: int = 0) -> Dataset:
    """Rows with the prepared dataset's training columns (audio float32 16 kHz, label ClassLabel, length)."""
    rng = np.random.default_rng(seed)
    features = Features({name: FEATURES[name] for name in ("audio", "label", "length")})
    data = {
        "audio": [synthetic_wave(int(lengths[i]), rng) for i in rows],
        "label": [int(rng.integers(len(EMOTIONS))) for _ in rows],
        "length": [int(lengths[i]) for i in rows],
    }
    return Dataset.from_dict(data, features=features)


def replay_picked_batches(
    trainer: SERTrainer,
    pool: Dataset,
    lengths: np.ndarray,
    batch_size: int,
    count: int,
    warmup_count: int,
    seed: int,
    repeats: int = 1,
) -> list[list[int]]:
    """Order `pool` with the trainer's own sampler, pick the warm-up and timed batches (`pick_batches`), and make
    the trainer replay exactly those, in that order, `repeats` times, as synthetic clips; returns the timed batches
    (of one repeat)."""
    order = [int(i) for i in trainer._get_train_sampler(pool)]  # the sampler an epoch over `pool` would use
    warmup, picks = pick_batches(order, lengths, batch_size, count, warmup_count=warmup_count)
    rows = warmup + [i for batch in picks for i in batch] * repeats
    need_length = trainer.args.train_sampling_strategy in ("group_by_length", "batch_rebalance")
    trainer.train_dataset = model_view(synthetic_dataset(rows, lengths, seed), need_length)
    trainer.args.train_sampling_strategy = "sequential"  # replay exactly the batches picked above
    return picks


def real_and_padded_samples(
    cfg: RecipeConfig, max_samples: int, picks: list[list[int]], lengths: np.ndarray
) -> tuple[int, int]:
    """Audio samples in the picked batches, and the samples the collator pads them to (every clip to the crop
    length with naive padding; each batch to its longest clip, rounded up to pad_to_multiple_of, otherwise)."""
    real = sum(int(lengths[i]) for batch in picks for i in batch)
    if cfg.data.naive_padding:
        return real, sum(len(batch) for batch in picks) * max_samples
    multiple = cfg.data.pad_to_multiple_of or 1
    return real, sum(-(-int(lengths[batch].max()) // multiple) * multiple * len(batch) for batch in picks)


def repeat_spread(marks: list[float], steps: int, clips_per_repeat: int) -> dict[str, float]:
    """min / median / max clips/s of the repeats: repeat r spans marks[r * steps] to marks[(r + 1) * steps]
    (marks[0] is the end of the warm-up step)."""
    rates = [clips_per_repeat / (marks[r + steps] - marks[r]) for r in range(0, len(marks) - 1, steps)]
    return {"min": round(min(rates), 3), "median": round(float(np.median(rates)), 3), "max": round(max(rates), 3)}


def current_rss_mb() -> float:
    """Resident set size of this process now (Linux /proc), in MiB."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def run(
    model: str,
    mode: str,
    device: str = "cpu",
    dtype: str = "fp32",
    batch_size: int = 4,
    steps: int = 3,
    gradient_checkpointing: bool = False,
    torch_compile: bool = False,
    grad_accum: int | None = None,
    seed: int = 42,
    repeats: int = 1,
) -> dict[str, Any]:
    """Train 1 + `steps` x `repeats` optimizer steps and return the throughput and memory figures of the timed
    steps, with the spread of the repeats."""
    total = steps * repeats
    cfg = build_config(model, mode, device, dtype, batch_size, total, gradient_checkpointing, torch_compile, grad_accum)
    accum = int(cfg.training["gradient_accumulation_steps"])
    cuda = device.startswith("cuda")
    with tempfile.TemporaryDirectory(prefix="ser-bench-train-") as out:
        args = build_training_arguments(cfg, output_dir=out)
        precision = precision_of(args)
        set_seed(seed)
        pool_lengths = quantile_lengths(POOL_SIZE, seed=seed)
        pool = Dataset.from_dict({"length": pool_lengths.astype(np.int32)})
        trainer = build_trainer(cfg, args, pool, id2label=dict(enumerate(EMOTIONS)))
        net, extractor = trainer.model, trainer.processing_class
        sampling = args.train_sampling_strategy
        picks = replay_picked_batches(trainer, pool, pool_lengths, batch_size, steps * accum, accum, seed, repeats)
        timer = StepTimer(cuda)
        trainer.add_callback(timer)

        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        rss_before = current_rss_mb()
        trainer.train()
        peak = peak_memory_mb(device)
        peak_rss, peak_cuda = peak["rss"], peak["gpu_allocated"]

    if len(timer.marks) != total + 1:
        raise RuntimeError(f"expected {total + 1} optimizer steps, timed {len(timer.marks)}")
    step_s = np.diff(timer.marks)
    seconds = float(timer.marks[-1] - timer.marks[0])
    cpu_seconds = float(timer.cpu_marks[-1] - timer.cpu_marks[0])
    clips = total * accum * batch_size
    real, padded = (repeats * n for n in real_and_padded_samples(cfg, extractor.max_samples, picks, pool_lengths))
    return {
        "model": model,
        "mode": mode,
        "device": device,
        "dtype": precision,
        "requested_dtype": dtype,
        "batch_size": batch_size,
        "grad_accum": accum,
        "timed_steps": total,
        "repeats": repeats,
        "sampling": sampling,
        "naive_padding": cfg.data.naive_padding,
        "parameters": net.parameter_summary(),
        "clips": clips,
        "audio_s": round(real / SAMPLING_RATE, 2),
        "padded_audio_s": round(padded / SAMPLING_RATE, 2),
        "padding_efficiency": round(real / padded, 3),
        "seconds": round(seconds, 3),
        "step_s": [round(float(s), 3) for s in step_s],
        "clips_per_s": round(clips / seconds, 3),
        "clips_per_s_spread": repeat_spread(timer.marks, steps, steps * accum * batch_size),
        "cpu_seconds": round(cpu_seconds, 3),
        "clips_per_cpu_s": round(clips / cpu_seconds, 4),
        "audio_s_per_s": round(real / SAMPLING_RATE / seconds, 3),
        "rss_before_train_mb": round(rss_before, 1),
        "peak_rss_mb": round(peak_rss, 1),
        "peak_cuda_mb": None if peak_cuda is None else round(peak_cuda, 1),
        "torch_threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    """CLI: one model, one mode, in this process; JSON to stdout or --out."""
    ap = CliParser(prog="python -m bench.train_bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=MODELS, required=True, help="model to time")
    ap.add_argument("--mode", choices=MODES, required=True, help="batching mode to time")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--dtype", choices=DTYPES, default="fp32", help="recipe.precision (fp16 only on cuda)")
    ap.add_argument("--batch_size", type=int, default=4, help="clips per step on one device")
    ap.add_argument(
        "--grad_accum",
        type=int,
        default=None,
        help="gradient accumulation steps; none given: the config's (4 for base, 1 for tiny)",
    )
    ap.add_argument("--steps", type=int, default=3, help="timed optimizer steps per repeat (after one warm-up step)")
    ap.add_argument(
        "--repeats", type=int, default=3, help="passes over the same timed steps (their spread is reported)"
    )
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads; none given: torch's default")
    ap.add_argument("--gradient_checkpointing", action="store_true", help="recompute activations in backward")
    ap.add_argument("--torch_compile", action="store_true", help="compile the model with torch.compile")
    ap.add_argument("--out", help="write the JSON result here instead of stdout")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(
        args.model,
        args.mode,
        args.device,
        args.dtype,
        args.batch_size,
        args.steps,
        args.gradient_checkpointing,
        args.torch_compile,
        args.grad_accum,
        repeats=args.repeats,
    )
    emit_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
