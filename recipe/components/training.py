"""One training run of the recipe, as named steps: check the output folder, find the resume point, load the data,
build the trainer, train, write the records, push.

`python -m recipe.train` and the experiment runner (`recipe.experiments`, in-process runs) both call
`train_from_argv`; `run` is the same recipe for a config already parsed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import TrainerCallback, TrainingArguments, set_seed

from common.config import ConfigParser
from common.hardware import hardware_info, peak_memory_mb
from common.secrets import redact
from data_prep.dataset import load_prepared

from .assembly import build_trainer, freeze_callback
from .checkpoints import checkpoint_problem, newest_intact_checkpoint
from .config import ConfigError, RecipeConfig, build_training_arguments, config_parser, parse_args
from .hub_push import push_folder, require_token
from .model_io import model_view
from .precision import cpu_bf16_flags, precision_of
from .run_folder import SaveConfigCallback, check_resume_labels, hold_output_dir, prepare_output_dir
from .techniques import finish_techniques
from .trainer import SERTrainer

PROG = "recipe.train"
HEADLINE_METRICS = ("eval_accuracy", "eval_uar", "eval_macro_f1")


def training_parser(description: str = "Train the SER model on a prepared DatasetDict.") -> ConfigParser:
    """Every config key (with its default and meaning in --help) plus the options of a training run."""
    parser = config_parser(
        f"python -m {PROG}",
        description=description,
        usage="%(prog)s [--config FILE] --data DIR --output_dir OUT [--resume] [--section.key VALUE | --key VALUE ...]",
    )
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output_dir")
    parser.add_argument("--resume_from_checkpoint", metavar="DIR", help="continue from this checkpoint folder")
    return parser


def train_from_argv(argv: Sequence[str], extra_callbacks: Sequence[TrainerCallback] = ()) -> int:
    """Parse `recipe.train`'s command line and run it. A config error is raised (a `UserError`) before any
    model is built or folder written."""
    cfg, args = parse_args(training_parser(), list(argv))
    if not cfg.data.dataset_dir:
        raise ConfigError("no dataset: pass --data DIR (or data.dataset_dir)")
    training_args = build_training_arguments(cfg)
    with hold_output_dir(cfg, training_args):  # one run per output folder
        return run(cfg, training_args, args.resume, args.resume_from_checkpoint, extra_callbacks)


def run(
    cfg: RecipeConfig,
    training_args: TrainingArguments,
    resume: bool = False,
    resume_from_checkpoint: str | None = None,
    extra_callbacks: Sequence[TrainerCallback] = (),
) -> int:
    """Train, save the best model and the run's records into OUT, optionally push OUT to the Hub."""
    out = Path(training_args.output_dir)
    started_at, t0 = _utc_now(), time.time()
    checkpoint = _resume_point(out, resume, resume_from_checkpoint)
    if cfg.hub.push_to_hub:
        require_token(cfg.training.get("hub_token"))  # fail before hours of training, not after
    if training_args.process_index == 0:
        print(
            f"{PROG}: precision {precision_of(training_args)} on {training_args.device.type} "
            f"(recipe.precision: {cfg.recipe.precision})"
        )
    set_seed(training_args.seed)
    train_ds, eval_ds = _load_data(cfg, training_args)
    if checkpoint:
        check_resume_labels(checkpoint, train_ds.features["label"].names)
    flag = "--resume_from_checkpoint" if resume_from_checkpoint else "--resume"
    prepare_output_dir(out, cfg, training_args, checkpoint, flag)  # lock held, config checked, old records gone
    callbacks = [SaveConfigCallback(), *extra_callbacks]
    trainer = build_trainer(cfg, training_args, train_ds, eval_ds, extra_callbacks=callbacks)

    t_train = time.time()
    train_result = trainer.train(resume_from_checkpoint=checkpoint)
    t_after = time.time()
    averaged_metrics = finish_techniques(cfg, trainer, trainer.techniques, out)  # checkpoint averaging, when asked
    trainer.save_model(str(out))  # the best (or averaged) model
    # The final model's validation metrics were logged when it was evaluated during training: reuse them instead
    # of a second pass over the validation set (same weights, same data, same precision).
    val_metrics = averaged_metrics or logged_eval_metrics(trainer.state, training_args.load_best_model_at_end)
    if val_metrics is None:
        val_metrics = dict(trainer.evaluate(eval_ds))
    if trainer.is_world_process_zero():
        trainer.save_metrics("train", dict(train_result.metrics), combined=True)
        trainer.save_metrics("validation", val_metrics, combined=True)
        trainer.save_state()
        (out / "train_config.yaml").write_text(cfg.to_yaml())
        timings = {"t0": t0, "train": t_train, "after": t_after, "started_at": started_at}
        run_info = _write_run_info(out, cfg, trainer, checkpoint, timings)
        _report(out, run_info, trainer, val_metrics)
        if cfg.hub.push_to_hub:
            _push(out, cfg)
    trainer.accelerator.wait_for_everyone()
    return 0


def _resume_point(out: Path, resume: bool, resume_from_checkpoint: str | None) -> str | None:
    """The checkpoint to continue from: `--resume_from_checkpoint DIR` (checked), the newest intact one in OUT with
    `--resume`, else None (a fresh run)."""
    if resume_from_checkpoint:
        if not Path(resume_from_checkpoint).is_dir():
            raise ConfigError(f"--resume_from_checkpoint {resume_from_checkpoint}: no such folder")
        if problem := checkpoint_problem(Path(resume_from_checkpoint)):
            raise ConfigError(f"--resume_from_checkpoint {resume_from_checkpoint}: {problem}")
        return resume_from_checkpoint
    if resume:
        return resume_checkpoint(out)
    return None


def resume_checkpoint(out: Path) -> str:
    """The newest intact checkpoint in `out` for --resume; damaged newer ones are named on stdout and skipped."""
    checkpoint, damaged = newest_intact_checkpoint(out)
    for folder, problem in damaged:
        print(f"{PROG}: --resume: skipping damaged {folder.name} ({problem})", flush=True)
    if checkpoint is None:
        if damaged:
            raise ConfigError(
                f"--resume: no intact checkpoint in {out}: "
                + "; ".join(f"{folder.name}: {problem}" for folder, problem in damaged)
            )
        raise ConfigError(f"--resume: no checkpoint-* folder in {out} to resume from")
    if damaged:
        print(f"{PROG}: --resume: resuming from {checkpoint.name}", flush=True)
    return str(checkpoint)


def _load_data(cfg: RecipeConfig, training_args: TrainingArguments) -> tuple[Dataset, Dataset]:
    """The training and validation splits, reduced to the columns the model reads."""
    data = cfg.data
    dsd = load_prepared(data.dataset_dir, (data.train_split, data.eval_split))
    need_length = training_args.train_sampling_strategy in ("group_by_length", "batch_rebalance")
    extra = ("speaker",) if cfg.model.speaker_norm else ()  # speaker-grouped batches (speaker_norm)
    return model_view(dsd[data.train_split], need_length, extra), model_view(dsd[data.eval_split], need_length, extra)


def logged_eval_metrics(state, load_best_model_at_end: bool) -> dict[str, Any] | None:
    """The evaluation metrics the Trainer already logged for the model training ends with (the best checkpoint
    with `load_best_model_at_end`, else the last step); None when no evaluation of that model was logged."""
    step = state.global_step
    if load_best_model_at_end and state.best_model_checkpoint:
        step = state.best_global_step or int(Path(state.best_model_checkpoint).name.rpartition("-")[2])
    for entry in reversed(state.log_history):
        if entry.get("step") == step and "eval_loss" in entry:
            return {k: v for k, v in entry.items() if k.startswith("eval_") or k == "epoch"}
    return None


def _write_run_info(
    out: Path, cfg: RecipeConfig, trainer: SERTrainer, checkpoint: str | None, timings: dict[str, Any]
) -> dict[str, Any]:
    """run_info.json: what was trained, on what, how long each phase took, where the best model came from."""
    args, state, model = trainer.args, trainer.state, trainer.model
    t0, t_train, t_after = timings["t0"], timings["train"], timings["after"]
    run_info = {
        "data_dir": str(cfg.data.dataset_dir),
        "encoder": "from scratch" if cfg.model.from_scratch else cfg.model.encoder,
        "encoder_config": redact(model.config.encoder_config) if cfg.model.from_scratch else None,
        "freeze_encoder_epochs": cfg.recipe.freeze_encoder_epochs,
        "unfreeze_epoch": freeze_callback(trainer).unfreeze_epoch,
        # total, trainable at the end, and trainable while the encoder is frozen (the model card prints them)
        "parameters": model.parameter_summary(),
        "encoder_loading": model.loading_info or None,  # what from_encoder loaded, discarded, initialised
        "hardware": {**hardware_info(args.device.type), "cpu_bf16": list(cpu_bf16_flags())},
        "precision": precision_of(args),
        "precision_requested": cfg.recipe.precision,
        "world_size": args.world_size,
        "train_runtime_s": round(time.time() - t0, 2),
        "peak_memory_mb": peak_memory_mb(args.device.type),
        # setup: data, model, Trainer; train: Trainer.train(); after: saving the model and these records
        "timings_s": {
            "setup": round(t_train - t0, 2),
            "train": round(t_after - t_train, 2),
            "after": round(time.time() - t_after, 2),
        },
        "best_model_checkpoint": state.best_model_checkpoint,
        "best_metric": state.best_metric,
        "metric_for_best_model": args.metric_for_best_model,
        "epochs_run": state.epoch,
        "global_step": state.global_step,
        "resumed_from": str(checkpoint) if checkpoint else None,
        "started_at": timings["started_at"],
        "finished_at": _utc_now(),
        "demo": cfg.recipe.demo,
        "techniques": trainer.techniques.info,
        "collapse": trainer.techniques.collapse.record(
            state.best_global_step if args.load_best_model_at_end else state.global_step,
            final_is_last_evaluation="checkpoint_average" in trainer.techniques.info,
        ),
    }
    (out / "run_info.json").write_text(json.dumps(run_info, indent=2) + "\n")
    return run_info


def _report(out: Path, run_info: dict[str, Any], trainer: SERTrainer, val_metrics: dict[str, Any]) -> None:
    """The run's summary on stdout: time, steps, best checkpoint, headline validation metrics."""
    state, args = trainer.state, trainer.args
    print(
        f"{PROG}: done in {run_info['train_runtime_s']:.0f}s, {state.global_step} steps, "
        f"{state.epoch:.1f} epochs; best {args.metric_for_best_model}={state.best_metric} "
        f"({state.best_model_checkpoint}); validation: "
        + ", ".join(f"{k}={v:.4f}" for k, v in val_metrics.items() if k in HEADLINE_METRICS)
    )
    print(f"{PROG}: model and records in {out}")


def _push(out: Path, cfg: RecipeConfig) -> None:
    """Upload OUT's weights and run records to `hub.hub_model_id`: before evaluation, so no card or eval_results.json
    (an earlier push's are removed from the repo; `recipe.hub` pushes the current ones, see components.hub_push)."""
    hub = cfg.hub
    token = cfg.training.get("hub_token")
    url = push_folder(
        out,
        hub.hub_model_id,
        private=hub.hub_private_repo,
        commit_message=hub.commit_message,
        token=token,
        reports=False,
    )
    print(f"{PROG}: pushed {out} to {url}")


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
