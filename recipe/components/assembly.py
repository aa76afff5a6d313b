"""One place that assembles the recipe's Trainer from a config: model, collator, callbacks, `SERTrainer`.

`recipe.train` and `bench.train_bench` both call `build_trainer`, so a trainer option wired here is trained with
and timed with alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from datasets import Dataset
from transformers import EarlyStoppingCallback, TrainerCallback, TrainingArguments

from .callbacks import FreezeEncoderCallback, TrainAccuracyCallback
from .collator import AudioClassificationCollator
from .config import RecipeConfig
from .metrics import compute_metrics
from .model_io import build_model
from .trainer import SERTrainer


def build_callbacks(cfg: RecipeConfig) -> list[TrainerCallback]:
    """The config's callbacks: encoder freezing (always, a no-op at 0 epochs) and early stopping when set."""
    callbacks: list[TrainerCallback] = [
        FreezeEncoderCallback(
            cfg.recipe.freeze_encoder_epochs, keep_feature_encoder_frozen=cfg.model.freeze_feature_encoder
        )
    ]
    if cfg.recipe.early_stopping_patience is not None:
        callbacks.append(
            EarlyStoppingCallback(
                early_stopping_patience=cfg.recipe.early_stopping_patience,
                early_stopping_threshold=cfg.recipe.early_stopping_threshold,
            )
        )
    return callbacks


def build_trainer(
    cfg: RecipeConfig,
    training_args: TrainingArguments,
    train_ds: Dataset,
    eval_ds: Dataset | None = None,
    *,
    id2label: dict[int, str] | None = None,
    extra_callbacks: Sequence[TrainerCallback] = (),
) -> SERTrainer:
    """A fresh model (`build_model`) in an `SERTrainer` with the config's collator, callbacks and loss options.

    `id2label` defaults to the names of `train_ds`'s ClassLabel column "label". The model's feature extractor is
    the trainer's `processing_class`; the `FreezeEncoderCallback` is the first of `trainer.callback_handler`'s.
    """
    if id2label is None:
        id2label = dict(enumerate(train_ds.features["label"].names))
    model, feature_extractor = build_model(cfg, id2label)
    collator = AudioClassificationCollator(
        feature_extractor, naive_padding=cfg.data.naive_padding, pad_to_multiple_of=cfg.data.pad_to_multiple_of
    )
    trainer = SERTrainer(
        model=model,
        args=training_args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=collator,
        processing_class=feature_extractor,
        compute_metrics=compute_metrics,
        callbacks=build_callbacks(cfg) + list(extra_callbacks),
        mixup_alpha=cfg.recipe.mixup_alpha,
        label_smoothing=cfg.recipe.label_smoothing,
    )
    if cfg.recipe.log_train_accuracy:
        trainer.add_callback(TrainAccuracyCallback(trainer))
    return trainer


def freeze_callback(trainer: SERTrainer) -> FreezeEncoderCallback:
    """The trainer's `FreezeEncoderCallback` (it records the epoch the encoder was unfrozen)."""
    return next(cb for cb in trainer.callback_handler.callbacks if isinstance(cb, FreezeEncoderCallback))
