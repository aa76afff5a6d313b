"""Trainer callbacks of the recipe: encoder freezing for the first epochs, train accuracy per epoch."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

if TYPE_CHECKING:
    from .trainer import SERTrainer


def _completed_epochs(state: TrainerState) -> int:
    """Whole epochs finished so far (state.epoch is a float, exact at epoch boundaries)."""
    return int(math.floor((state.epoch or 0.0) + 1e-6))


class FreezeEncoderCallback(TrainerCallback):
    """Train only pooling + head for ``freeze_epochs`` epochs, then unfreeze the transformer encoder.

    Freezing happens in ``on_train_begin`` (after Trainer has built its optimizer and, under DDP, wrapped the
    model, so the encoder stays registered with both) and unfreezing at the beginning of epoch
    ``freeze_epochs``. On resume, the encoder is frozen only if the checkpoint is still inside the frozen
    epochs. SERTrainer's optimizer holds every parameter, so the unfrozen encoder is trained from then on.
    ``keep_feature_encoder_frozen`` re-applies `freeze_feature_encoder()` after unfreezing (the CNN stays
    frozen for the whole run when the config says so).
    """

    def __init__(self, freeze_epochs: int, keep_feature_encoder_frozen: bool = False) -> None:
        if freeze_epochs < 0:
            raise ValueError(f"freeze_epochs must be >= 0, got {freeze_epochs}")
        self.freeze_epochs = int(freeze_epochs)
        self.keep_feature_encoder_frozen = keep_feature_encoder_frozen
        self.frozen = False
        self.unfreeze_epoch: int | None = None

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any):
        model = kwargs["model"]
        if self.freeze_epochs > 0 and _completed_epochs(state) < self.freeze_epochs:
            model.freeze_encoder()
            self.frozen = True
        elif self.freeze_epochs > 0:
            # Resumed after the unfreezing point: the encoder was already being trained.
            self.unfreeze_epoch = self.freeze_epochs

    def on_epoch_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any):
        if self.frozen and _completed_epochs(state) >= self.freeze_epochs:
            model = kwargs["model"]
            model.unfreeze_encoder()
            if self.keep_feature_encoder_frozen:
                model.freeze_feature_encoder()
            self.frozen = False
            self.unfreeze_epoch = _completed_epochs(state)


class TrainAccuracyCallback(TrainerCallback):
    """Log ``{"epoch", "train_accuracy", "train_loss"}`` into ``log_history`` at the end of every epoch.

    The figures come from the training batches themselves (no extra pass over the data): SERTrainer counts,
    per batch, argmax(logits) against the *dominant* label of the mixup pair (the one with weight >= 0.5;
    the original label when mixup is off) and the loss actually optimised (mixup + label smoothing). So
    train_accuracy is measured on mixed inputs while the model is still changing within the epoch, with
    dropout on, and is typically below an eval pass on the same clips would give. Under DDP the counts are
    summed over all processes. After a mid-epoch resume the first epoch covers only the remaining batches.
    """

    def __init__(self, trainer: SERTrainer) -> None:
        self.trainer = trainer

    def on_epoch_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any):
        trainer = self.trainer
        stats = trainer.train_stats.pop(
            reduce_sum=(lambda t: trainer.accelerator.reduce(t, reduction="sum"))
            if trainer.accelerator.num_processes > 1
            else None
        )
        if stats is not None:
            trainer.log(stats)
