"""Train the SER model on a prepared DatasetDict.

    python -m recipe.train --config configs/recipe.yaml --data DIR --output_dir OUT [--resume] [--key value ...]

Any config key can be overridden as ``--section.key value`` (or ``--key value`` when the name is unique), e.g.
``--learning_rate 1e-4 --recipe.mixup_alpha 0`` or ``--push_to_hub --hub_model_id USER/NAME``. Runs unchanged
under ``accelerate launch -m recipe.train ...`` and ``torchrun --nproc_per_node N -m recipe.train ...``.

OUT receives the best model (safetensors + config.json with auto_map + modelling code + preprocessor_config.json),
trainer_state.json, train_results.json / validation_results.json / all_results.json, train_config.yaml and
run_info.json; the Trainer's checkpoints live in OUT/checkpoint-*.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import transformers
from datasets import ClassLabel, Dataset, DatasetDict, load_from_disk
from transformers import EarlyStoppingCallback, TrainerCallback, set_seed
from transformers.trainer_utils import get_last_checkpoint

from .modeling import SERConfig, SERFeatureExtractor, SERForAudioClassification
from .components.callbacks import FreezeEncoderCallback, TrainAccuracyCallback
from .components.collator import AudioClassificationCollator
from .hub import HubError
from .components.config import ConfigError, RecipeConfig, build_training_arguments, load_config
from .components.metrics import compute_metrics
from .components.trainer import SERTrainer

REQUIRED_COLUMNS = ("audio", "label")
MODEL_COLUMNS = ("audio", "label", "length")


class DataError(ValueError):
    """The prepared dataset cannot be trained on; the message names the directory and the problem."""


def load_prepared(dataset_dir: str | Path, splits: tuple[str, ...]) -> DatasetDict:
    """Load a DatasetDict written by `python -m data_prep` and check the splits and columns training needs."""
    path = Path(dataset_dir)
    if not (path / "dataset_dict.json").is_file():
        raise DataError(f"{path}: not a prepared dataset (no dataset_dict.json); run `make prepare` first")
    dsd = load_from_disk(str(path))
    if not isinstance(dsd, DatasetDict):
        raise DataError(f"{path}: expected a DatasetDict with splits {', '.join(splits)}")
    for split in splits:
        if split not in dsd:
            raise DataError(f"{path}: split {split!r} missing (has: {', '.join(dsd)})")
        missing = [c for c in REQUIRED_COLUMNS if c not in dsd[split].column_names]
        if missing:
            raise DataError(f"{path}: split {split!r} lacks column(s) {', '.join(missing)}")
        if not isinstance(dsd[split].features["label"], ClassLabel):
            raise DataError(f"{path}: column 'label' of split {split!r} is not a ClassLabel")
        if len(dsd[split]) == 0:
            raise DataError(f"{path}: split {split!r} is empty")
    names = dsd[splits[0]].features["label"].names
    for split in splits[1:]:
        if dsd[split].features["label"].names != names:
            raise DataError(f"{path}: label names of split {split!r} differ from split {splits[0]!r}")
    return dsd


def model_view(ds: Dataset, need_length: bool) -> Dataset:
    """Only the columns training reads, as numpy (fast float32 arrays instead of Python lists)."""
    if need_length and "length" not in ds.column_names:
        raise DataError("the 'length' column is needed for length-grouped batches (train_sampling_strategy)")
    columns = [c for c in MODEL_COLUMNS if c in ds.column_names]
    ds = ds.select_columns(columns)
    ds.set_format("numpy", columns=columns)
    return ds


def build_model(cfg: RecipeConfig, id2label: dict[int, str]) -> tuple[SERForAudioClassification, SERFeatureExtractor]:
    """A fresh model (pretrained encoder + new head, or all random with `model.from_scratch`) and its extractor."""
    opts = cfg.model
    if opts.from_scratch:
        encoder_config = {"model_type": "wav2vec2", **opts.encoder_config}
        config = SERConfig(
            encoder_config=encoder_config,
            head_sizes=opts.head_sizes,
            head_dropout=opts.head_dropout,
            pooling=opts.pooling,
            id2label=id2label,
        )
        if opts.attn_implementation is not None:
            config._attn_implementation = opts.attn_implementation
        model = SERForAudioClassification(config)
    else:
        try:
            model = SERForAudioClassification.from_encoder(
                opts.encoder,
                id2label=id2label,
                head_sizes=opts.head_sizes,
                head_dropout=opts.head_dropout,
                pooling=opts.pooling,
                attn_implementation=opts.attn_implementation,
                **opts.encoder_config,
            )
        except OSError as err:  # not on disk, not in the cache and no Hub access
            raise ConfigError(
                f"model.encoder {opts.encoder!r} cannot be loaded (offline without a cached copy? a typo?): {err}"
            ) from err
    if opts.freeze_feature_encoder:
        model.freeze_feature_encoder()
    feature_extractor = SERFeatureExtractor.for_encoder(model.config.encoder_config, max_duration=opts.max_duration)
    return model, feature_extractor


def hardware_info() -> dict[str, Any]:
    cuda = torch.cuda.is_available()
    return {
        "device": "cuda" if cuda else "cpu",
        "gpu_name": torch.cuda.get_device_name(0) if cuda else None,
        "gpu_count": torch.cuda.device_count() if cuda else 0,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    ap = argparse.ArgumentParser(
        prog="python -m recipe.train",
        description="Train the SER model. Extra --section.key value / --key value pairs override the config.",
    )
    ap.add_argument("--config", help="YAML config (configs/recipe.yaml); defaults are the seed recipe's")
    ap.add_argument("--data", help="prepared DatasetDict directory (sets data.dataset_dir)")
    ap.add_argument("--output_dir", help="output folder OUT (sets training.output_dir)")
    ap.add_argument("--resume", action="store_true", help="continue from the last checkpoint in OUT")
    ap.add_argument("--resume_from_checkpoint", help="continue from this checkpoint folder")
    return ap.parse_known_args(argv)


def main(argv: list[str] | None = None, extra_callbacks: list[TrainerCallback] | None = None) -> int:
    """CLI entry point; `extra_callbacks` lets tests hook into the run."""
    args, overrides = parse_args(argv)
    try:
        cfg = load_config(args.config, overrides)
        if args.data:
            cfg.data.dataset_dir = args.data
        if args.output_dir:
            cfg.training["output_dir"] = args.output_dir
        if not cfg.data.dataset_dir:
            raise ConfigError("no dataset: pass --data DIR (or data.dataset_dir)")
        training_args = build_training_arguments(cfg)
    except ConfigError as err:
        print(f"recipe.train: config error: {err}", file=sys.stderr)
        return 2
    try:
        return run(cfg, training_args, args.resume, args.resume_from_checkpoint, extra_callbacks or [])
    except (DataError, ConfigError, HubError) as err:
        print(f"recipe.train: {err}", file=sys.stderr)
        return 2


def run(
    cfg: RecipeConfig,
    training_args,
    resume: bool = False,
    resume_from_checkpoint: str | None = None,
    extra_callbacks: list[TrainerCallback] | None = None,
) -> int:
    """Train, save the best model and the run's records into OUT, optionally push OUT to the Hub."""
    out = Path(training_args.output_dir)
    started_at, t0 = _utc_now(), time.time()

    checkpoint: str | bool | None = None
    if resume_from_checkpoint:
        if not Path(resume_from_checkpoint).is_dir():
            raise ConfigError(f"--resume_from_checkpoint {resume_from_checkpoint}: no such folder")
        checkpoint = resume_from_checkpoint
    elif resume:
        checkpoint = get_last_checkpoint(str(out)) if out.is_dir() else None
        if checkpoint is None:
            raise ConfigError(f"--resume: no checkpoint-* folder in {out} to resume from")
    elif out.is_dir() and get_last_checkpoint(str(out)) is not None:
        if not cfg.recipe.overwrite_output_dir:
            raise ConfigError(
                f"{out} already holds checkpoints of an earlier run: pass --resume to continue it, "
                "--overwrite_output_dir to start over, or choose another --output_dir"
            )
        with training_args.main_process_first(desc="removing old checkpoints"):
            if training_args.process_index == 0:
                old = sorted(p for p in out.glob("checkpoint-*") if p.is_dir())
                print(f"recipe.train: overwrite_output_dir: removing {len(old)} old checkpoint(s) in {out}")
                for path in old:
                    shutil.rmtree(path)
    if cfg.hub.push_to_hub:
        from .hub import require_token

        require_token()  # fail before hours of training, not after

    set_seed(training_args.seed)
    data = cfg.data
    dsd = load_prepared(data.dataset_dir, (data.train_split, data.eval_split))
    label_names = dsd[data.train_split].features["label"].names
    id2label = dict(enumerate(label_names))
    need_length = training_args.train_sampling_strategy in ("group_by_length", "batch_rebalance")
    train_ds = model_view(dsd[data.train_split], need_length)
    eval_ds = model_view(dsd[data.eval_split], need_length)

    model, feature_extractor = build_model(cfg, id2label)
    collator = AudioClassificationCollator(
        feature_extractor, naive_padding=data.naive_padding, pad_to_multiple_of=data.pad_to_multiple_of
    )
    freeze_cb = FreezeEncoderCallback(
        cfg.recipe.freeze_encoder_epochs, keep_feature_encoder_frozen=cfg.model.freeze_feature_encoder
    )
    callbacks: list[TrainerCallback] = [freeze_cb]
    if cfg.recipe.early_stopping_patience is not None:
        callbacks.append(
            EarlyStoppingCallback(
                early_stopping_patience=cfg.recipe.early_stopping_patience,
                early_stopping_threshold=cfg.recipe.early_stopping_threshold,
            )
        )
    trainer = SERTrainer(
        model=model,
        args=training_args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=collator,
        processing_class=feature_extractor,
        compute_metrics=compute_metrics,
        callbacks=callbacks + list(extra_callbacks or []),
        mixup_alpha=cfg.recipe.mixup_alpha,
        label_smoothing=cfg.recipe.label_smoothing,
    )
    if cfg.recipe.log_train_accuracy:
        trainer.add_callback(TrainAccuracyCallback(trainer))

    train_result = trainer.train(resume_from_checkpoint=checkpoint)
    trainer.save_model(str(out))  # the best model when load_best_model_at_end
    train_metrics = dict(train_result.metrics)
    val = trainer.predict(eval_ds, metric_key_prefix="eval")
    val_metrics = dict(val.metrics)
    if trainer.is_world_process_zero():
        trainer.save_metrics("train", train_metrics, combined=True)
        trainer.save_metrics("validation", val_metrics, combined=True)
        trainer.save_state()
        (out / "train_config.yaml").write_text(cfg.to_yaml())
        state = trainer.state
        run_info = {
            "data_dir": str(data.dataset_dir),
            "encoder": "from scratch" if cfg.model.from_scratch else cfg.model.encoder,
            "encoder_config": model.config.encoder_config if cfg.model.from_scratch else None,
            "freeze_encoder_epochs": cfg.recipe.freeze_encoder_epochs,
            "unfreeze_epoch": freeze_cb.unfreeze_epoch,
            "parameters": trainer.model.parameter_summary(),
            "hardware": hardware_info(),
            "world_size": training_args.world_size,
            "train_runtime_s": round(time.time() - t0, 2),
            "best_model_checkpoint": state.best_model_checkpoint,
            "best_metric": state.best_metric,
            "metric_for_best_model": training_args.metric_for_best_model,
            "epochs_run": state.epoch,
            "global_step": state.global_step,
            "resumed_from": str(checkpoint) if checkpoint else None,
            "started_at": started_at,
            "finished_at": _utc_now(),
            "demo": cfg.recipe.demo,
        }
        (out / "run_info.json").write_text(json.dumps(run_info, indent=2) + "\n")
        print(
            f"recipe.train: done in {run_info['train_runtime_s']:.0f}s, {state.global_step} steps, "
            f"{state.epoch:.1f} epochs; best {training_args.metric_for_best_model}={state.best_metric} "
            f"({state.best_model_checkpoint}); validation: "
            + ", ".join(f"{k}={v:.4f}" for k, v in val_metrics.items() if k in ("eval_accuracy", "eval_uar", "eval_macro_f1"))
        )
        print(f"recipe.train: model and records in {out}")
        if cfg.hub.push_to_hub:
            from .hub import push_folder

            url = push_folder(
                out, cfg.hub.hub_model_id, private=cfg.hub.hub_private_repo, commit_message=cfg.hub.commit_message
            )
            print(f"recipe.train: pushed {out} to {url}")
    trainer.accelerator.wait_for_everyone()
    return 0


if __name__ == "__main__":
    sys.exit(main())
