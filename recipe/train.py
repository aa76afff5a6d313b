"""Train the SER model on a prepared DatasetDict.

    python -m recipe.train [--config configs/recipe.yaml] --data DIR --output_dir OUT [--resume] [--key value ...]

Every config key is an option, ``--section.key value`` or ``--key value`` (``--help`` lists them with their
defaults, the seed recipe's), e.g. ``--learning_rate 1e-4 --recipe.mixup_alpha 0`` or
``--push_to_hub --hub_model_id USER/NAME``. Runs unchanged
under ``accelerate launch -m recipe.train ...`` and ``torchrun --nproc_per_node N -m recipe.train ...``.

OUT receives the best model (safetensors + config.json with auto_map + modelling code + preprocessor_config.json),
trainer_state.json, train_results.json / validation_results.json / all_results.json, train_config.yaml and
run_info.json; the Trainer's checkpoints live in OUT/checkpoint-*.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import EarlyStoppingCallback, TrainerCallback, set_seed
from transformers.trainer_utils import get_last_checkpoint

from common.cli import run_cli
from common.config import ConfigParser
from common.hardware import hardware_info
from data_prep.dataset import PreparedDataError, load_prepared

from .components.callbacks import FreezeEncoderCallback, TrainAccuracyCallback
from .components.checkpoints import checkpoint_problem, newest_intact_checkpoint
from .components.collator import AudioClassificationCollator
from .components.config import ConfigError, RecipeConfig, build_training_arguments, config_parser, parse_args
from .components.metrics import compute_metrics
from .components.precision import cpu_bf16_flags, precision_of
from .components.speechbrain_checkpoint import SpeechBrainFormatError
from .components.trainer import SERTrainer
from .hub import HubError
from .modeling import SERConfig, SERFeatureExtractor, SERForAudioClassification

MODEL_COLUMNS = ("audio", "label", "length")


class DataError(ValueError):
    """The prepared dataset cannot be trained on; the message names the directory and the problem."""


def model_view(ds: Dataset, need_length: bool, extra: tuple[str, ...] = ()) -> Dataset:
    """Only the columns training reads (and `extra`, e.g. speaker), as numpy (fast float32 arrays)."""
    if need_length and "length" not in ds.column_names:
        raise DataError("the 'length' column is needed for length-grouped batches (train_sampling_strategy)")
    columns = [c for c in (*MODEL_COLUMNS, *extra) if c in ds.column_names]
    ds = ds.select_columns(columns)
    ds.set_format("numpy", columns=columns)
    return ds


def build_model(cfg: RecipeConfig, id2label: dict[int, str]) -> tuple[SERForAudioClassification, SERFeatureExtractor]:
    """A fresh model (pretrained encoder + new head, or all random with `model.from_scratch`) and its extractor."""
    opts = cfg.model
    if opts.from_scratch:
        # SERConfig completes a partial encoder_config with the architecture's defaults.
        encoder_config = {"model_type": "wav2vec2", **opts.encoder_config}
        if opts.use_weighted_layer_sum:
            encoder_config.setdefault("layerdrop", 0.0)  # dropped layers would misalign the layer weights
        try:
            config = SERConfig(
                encoder_config=encoder_config,
                head_sizes=opts.head_sizes,
                head_dropout=opts.head_dropout,
                attention_hidden_size=opts.attention_hidden_size,
                pooling=opts.pooling,
                use_weighted_layer_sum=opts.use_weighted_layer_sum,
                encoder_output_norm=bool(opts.encoder_output_norm),
                id2label=id2label,
            )
        except (ValueError, TypeError) as err:
            raise ConfigError(f"model.encoder_config: {err}") from err
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
                attention_hidden_size=opts.attention_hidden_size,
                use_weighted_layer_sum=opts.use_weighted_layer_sum,
                encoder_output_norm=opts.encoder_output_norm,
                pooling=opts.pooling,
                attn_implementation=opts.attn_implementation,
                **opts.encoder_config,
            )
        except OSError as err:  # not on disk, not in the cache and no Hub access
            raise ConfigError(
                f"model.encoder {opts.encoder!r} cannot be loaded (offline without a cached copy? a typo?): {err}"
            ) from err
        except SpeechBrainFormatError as err:
            raise ConfigError(f"model.encoder {opts.encoder!r}: {err}") from err
    if opts.speaker_norm:
        model.enable_speaker_norm()
    if opts.freeze_feature_encoder:
        model.freeze_feature_encoder()
    feature_extractor = SERFeatureExtractor.for_encoder(model.config.encoder_config, max_duration=opts.max_duration)
    return model, feature_extractor


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


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def build_parser() -> ConfigParser:
    """Every config key (with its default and meaning in --help) plus the options of a training run."""
    parser = config_parser(
        "python -m recipe.train",
        description=__doc__.split("\n\n")[0],
        usage="%(prog)s [--config FILE] --data DIR --output_dir OUT [--resume] [--section.key VALUE | --key VALUE ...]",
    )
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output_dir")
    parser.add_argument("--resume_from_checkpoint", metavar="DIR", help="continue from this checkpoint folder")
    return parser


def main(argv: list[str] | None = None, extra_callbacks: list[TrainerCallback] | None = None) -> int:
    """CLI entry point; `extra_callbacks` lets tests hook into the run. A user error is one line and exit 2; a
    config error comes before any model is built or folder written."""

    def train() -> int:
        cfg, args = parse_args(build_parser(), sys.argv[1:] if argv is None else list(argv))
        if not cfg.data.dataset_dir:
            raise ConfigError("no dataset: pass --data DIR (or data.dataset_dir)")
        training_args = build_training_arguments(cfg)
        return run(cfg, training_args, args.resume, args.resume_from_checkpoint, extra_callbacks or [])

    return run_cli("recipe.train", train, (DataError, PreparedDataError, HubError))


def resume_checkpoint(out: Path) -> str:
    """The newest intact checkpoint in `out` for --resume; damaged newer ones are named on stdout and skipped."""
    checkpoint, damaged = newest_intact_checkpoint(out)
    for folder, problem in damaged:
        print(f"recipe.train: --resume: skipping damaged {folder.name} ({problem})", flush=True)
    if checkpoint is None:
        if damaged:
            raise ConfigError(
                f"--resume: no intact checkpoint in {out}: "
                + "; ".join(f"{folder.name}: {problem}" for folder, problem in damaged)
            )
        raise ConfigError(f"--resume: no checkpoint-* folder in {out} to resume from")
    if damaged:
        print(f"recipe.train: --resume: resuming from {checkpoint.name}", flush=True)
    return str(checkpoint)


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
        if problem := checkpoint_problem(Path(resume_from_checkpoint)):
            raise ConfigError(f"--resume_from_checkpoint {resume_from_checkpoint}: {problem}")
        checkpoint = resume_from_checkpoint
    elif resume:
        checkpoint = resume_checkpoint(out)
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

    if training_args.process_index == 0:
        print(
            f"recipe.train: precision {precision_of(training_args)} on {training_args.device.type} "
            f"(recipe.precision: {cfg.recipe.precision})"
        )
    set_seed(training_args.seed)
    data = cfg.data
    dsd = load_prepared(data.dataset_dir, (data.train_split, data.eval_split))
    label_names = dsd[data.train_split].features["label"].names
    id2label = dict(enumerate(label_names))
    need_length = training_args.train_sampling_strategy in ("group_by_length", "batch_rebalance")
    extra = ("speaker",) if cfg.model.speaker_norm else ()
    train_ds = model_view(dsd[data.train_split], need_length, extra)
    eval_ds = model_view(dsd[data.eval_split], need_length, extra)

    model, feature_extractor = build_model(cfg, id2label)
    collator = AudioClassificationCollator(
        feature_extractor,
        naive_padding=data.naive_padding,
        pad_to_multiple_of=data.pad_to_multiple_of,
        speaker_column="speaker" if cfg.model.speaker_norm else None,
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
        speaker_clips=cfg.model.speaker_norm_clips if cfg.model.speaker_norm else 0,
    )
    if cfg.recipe.log_train_accuracy:
        trainer.add_callback(TrainAccuracyCallback(trainer))

    t_train = time.time()
    train_result = trainer.train(resume_from_checkpoint=checkpoint)
    t_after = time.time()
    trainer.save_model(str(out))  # the best model when load_best_model_at_end
    train_metrics = dict(train_result.metrics)
    # The final model's validation metrics were logged when it was evaluated during training: reuse them instead
    # of a second pass over the validation set (same weights, same data, same precision).
    val_metrics = logged_eval_metrics(trainer.state, training_args.load_best_model_at_end)
    if val_metrics is None:
        val_metrics = dict(trainer.evaluate(eval_ds))
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
            # total, trainable at the end, and trainable while the encoder is frozen (the model card prints them)
            "parameters": trainer.model.parameter_summary(),
            "encoder_loading": model.loading_info or None,  # what from_encoder loaded, discarded, initialised
            "hardware": {**hardware_info(training_args.device.type), "cpu_bf16": list(cpu_bf16_flags())},
            "precision": precision_of(training_args),
            "precision_requested": cfg.recipe.precision,
            "world_size": training_args.world_size,
            "train_runtime_s": round(time.time() - t0, 2),
            # setup: data, model, Trainer; train: Trainer.train(); after: saving the model and these records
            "timings_s": {
                "setup": round(t_train - t0, 2),
                "train": round(t_after - t_train, 2),
                "after": round(time.time() - t_after, 2),
            },
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
            + ", ".join(
                f"{k}={v:.4f}" for k, v in val_metrics.items() if k in ("eval_accuracy", "eval_uar", "eval_macro_f1")
            )
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
