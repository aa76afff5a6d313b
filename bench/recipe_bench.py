"""Where a whole `python -m recipe.train` run spends its time: start-up, setup, `Trainer.train()`, after.

A prepared DatasetDict of synthetic clips (lengths from `bench.lengths`, the prepared dataset's columns) is saved
with `save_to_disk`, then `python -m recipe.train` trains on it in a fresh process, with the recipe's config
(`configs/demo.yaml` for the tiny model; `configs/recipe.yaml` for base, its encoder a randomly initialised
wav2vec2-base saved as a local checkpoint) cut to one short epoch. The phases come from the run's own
`run_info.json` (`timings_s`: setup = data, model and Trainer; train = `Trainer.train()`, its per-epoch evaluations
included; after = saving the model and the records); start-up = the process's wall time minus the three
(interpreter, imports, config). The Trainer's logged `eval_runtime` of the kept checkpoint is what a second
validation pass after training would cost; the recipe reuses those logged metrics instead.

    python -m bench.recipe_bench --model tiny|base [--precision auto] [--train_clips N] [--eval_clips N] [--out f]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.lengths import quantile_lengths, synthetic_wave
from bench.report import emit_json
from common.config import CliParser

REPO = Path(__file__).resolve().parents[1]
# (train clips, validation clips, batch size, gradient accumulation) per model
SIZES = {"tiny": (96, 48, 16, 1), "base": (16, 16, 4, 2)}


def write_dataset(folder: Path, n_train: int, n_eval: int, seed: int = 0) -> None:
    """A prepared DatasetDict (train/validation) of synthetic clips with the contract's features."""
    import numpy as np
    from datasets import Dataset, DatasetDict, Features

    from data_prep.dataset import FEATURES
    from data_prep.labels import EMOTIONS

    rng = np.random.default_rng(seed)
    features = Features({name: FEATURES[name] for name in ("audio", "label", "length")})
    splits = {}
    for name, n in (("train", n_train), ("validation", n_eval)):
        lengths = quantile_lengths(n, seed=seed)
        rng.shuffle(lengths)
        splits[name] = Dataset.from_dict(
            {
                "audio": [synthetic_wave(int(k), rng) for k in lengths],
                "label": [i % len(EMOTIONS) for i in range(n)],
                "length": [int(k) for k in lengths],
            },
            features=features,
        )
    DatasetDict(splits).save_to_disk(str(folder))


def save_random_base_encoder(folder: Path) -> None:
    """A randomly initialised wav2vec2-base (seed 0, no layerdrop) saved as a local checkpoint: the recipe's
    encoder size without the Hub."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    Wav2Vec2Model(Wav2Vec2Config(layerdrop=0.0)).save_pretrained(str(folder))


def write_config(path: Path, model: str, batch_size: int, accum: int) -> None:
    """The recipe's config for `model`, cut to one epoch with one evaluation and one checkpoint. For base, a
    randomly initialised wav2vec2-base encoder is saved beside it and loaded as the pretrained encoder (the
    recipe's `model.encoder` path, `SERForAudioClassification.from_encoder`)."""
    if model == "tiny":
        cfg = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    else:
        encoder = path.parent / "wav2vec2-base-random"
        save_random_base_encoder(encoder)
        cfg = yaml.safe_load((REPO / "configs" / "recipe.yaml").read_text())
        cfg["model"].update(encoder=str(encoder), from_scratch=False)
        cfg["recipe"]["freeze_encoder_epochs"] = 0
    cfg["training"].update(
        num_train_epochs=1,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accum,
        dataloader_num_workers=0,
        disable_tqdm=True,
        warmup_steps=0,
    )
    cfg["recipe"]["overwrite_output_dir"] = True
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def run(
    model: str,
    precision: str = "auto",
    n_train: int | None = None,
    n_eval: int | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train once in a fresh `python -m recipe.train` process and return its phases in seconds."""
    default_train, default_eval, batch_size, accum = SIZES[model]
    n_train, n_eval = n_train or default_train, n_eval or default_eval
    with tempfile.TemporaryDirectory(prefix="ser-bench-recipe-") as tmp:
        data, out, config = Path(tmp) / "data", Path(tmp) / "out", Path(tmp) / "config.yaml"
        write_dataset(data, n_train, n_eval)
        write_config(config, model, batch_size, accum)
        cmd = [
            sys.executable,
            "-m",
            "recipe.train",
            "--config",
            str(config),
            "--data",
            str(data),
            "--output_dir",
            str(out),
            "--precision",
            precision,
        ]
        env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
        start = time.perf_counter()
        proc = subprocess.run(cmd, check=False, cwd=REPO, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"recipe.train failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        info = json.loads((out / "run_info.json").read_text())
        state = json.loads((out / "trainer_state.json").read_text())
    phases = info["timings_s"]
    best = next((e for e in state["log_history"] if "eval_runtime" in e and e["step"] == state["best_global_step"]), {})
    return {
        "model": model,
        "precision": info["precision"],
        "train_clips": n_train,
        "eval_clips": n_eval,
        "batch": f"{batch_size}x{accum}",
        "wall_s": round(wall, 2),
        "startup_s": round(wall - sum(phases.values()), 2),
        "setup_s": phases["setup"],
        "train_s": phases["train"],
        "after_s": phases["after"],
        "validation_pass_skipped_s": best.get("eval_runtime"),
    }


def main(argv: list[str] | None = None) -> int:
    """CLI: JSON to stdout or --out."""
    ap = CliParser(prog="python -m bench.recipe_bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=tuple(SIZES), required=True, help="model size to run")
    ap.add_argument("--precision", default="auto", help="recipe.precision of the run")
    ap.add_argument("--train_clips", type=int, default=None, help="training clips (default: the size's)")
    ap.add_argument("--eval_clips", type=int, default=None, help="evaluation clips (default: the size's)")
    ap.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the training process")
    ap.add_argument("--out", help="write the JSON result here instead of stdout")
    args = ap.parse_args(argv)
    emit_json(run(args.model, args.precision, args.train_clips, args.eval_clips, args.threads), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
