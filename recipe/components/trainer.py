"""`SERTrainer`: the stock `Trainer` plus waveform mixup, label-smoothed soft-target loss and an optimizer that
keeps frozen parameters (so an encoder frozen at the start still gets trained after it is unfrozen)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler, get_length_grouped_indices

from .losses import soft_target_loss
from .speaker_norm import SpeakerGroupedSampler, speaker_sorted_order

__all__ = ["EpochTrainStats", "MixedBatch", "SERTrainer", "mixup_batch", "soft_target_loss"]


@dataclass
class MixedBatch:
    """A mixup batch: mixed inputs, soft targets, and for each row the label with the larger weight."""

    input_values: torch.Tensor
    attention_mask: torch.Tensor | None
    targets: torch.Tensor
    dominant_labels: torch.Tensor
    lam: float
    permutation: torch.Tensor


def mixup_batch(
    input_values: torch.Tensor,
    attention_mask: torch.Tensor | None,
    labels: torch.Tensor,
    num_classes: int,
    lam: float,
    permutation: torch.Tensor,
) -> MixedBatch:
    """Mix each row with row ``permutation[i]``: x = lam*x_i + (1-lam)*x_p, targets likewise on one-hot labels.

    Both waveforms are already zero-padded to the batch length, so the mix of a short and a long clip is the
    long clip's length; its attention mask is the union (elementwise max) of the two masks.
    """
    one_hot = F.one_hot(labels, num_classes).to(torch.float32)
    mixed = lam * input_values + (1.0 - lam) * input_values[permutation]
    mask = None if attention_mask is None else torch.maximum(attention_mask, attention_mask[permutation])
    targets = lam * one_hot + (1.0 - lam) * one_hot[permutation]
    dominant = labels if lam >= 0.5 else labels[permutation]
    return MixedBatch(mixed, mask, targets, dominant, lam, permutation)


@dataclass
class EpochTrainStats:
    """Running sums over the training batches of one epoch (kept on the device; no sync per step)."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    correct: torch.Tensor | None = None
    seen: torch.Tensor | None = None
    loss_sum: torch.Tensor | None = None

    def update(self, logits: torch.Tensor, labels: torch.Tensor, loss: torch.Tensor) -> None:
        n = labels.shape[0]
        correct = (logits.detach().argmax(-1) == labels).sum().to(torch.float64)
        batch = torch.tensor(float(n), dtype=torch.float64, device=logits.device)
        weighted = loss.detach().to(torch.float64) * n
        if self.correct is None:
            self.correct, self.seen, self.loss_sum = correct, batch, weighted
        else:
            self.correct, self.seen, self.loss_sum = self.correct + correct, self.seen + batch, self.loss_sum + weighted

    def pop(self, reduce_sum=None) -> dict[str, float] | None:
        """Accuracy and mean loss so far (summed over processes with ``reduce_sum``), then reset."""
        if self.correct is None:
            stacked = None
        else:
            stacked = torch.stack([self.correct, self.seen, self.loss_sum])
        self.correct = self.seen = self.loss_sum = None
        if reduce_sum is not None:
            # Every process must take part in the collective, even one that saw no batch this epoch.
            if stacked is None:
                stacked = torch.zeros(3, dtype=torch.float64, device=self.device)
            stacked = reduce_sum(stacked)
        if stacked is None or float(stacked[1]) == 0.0:
            return None
        correct, seen, loss_sum = (float(v) for v in stacked)
        return {"train_accuracy": correct / seen, "train_loss": loss_sum / seen}


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """transformers' length-grouped order, shuffled by a generator seeded with (seed, epoch).

    The stock `LengthGroupedSampler` built for training draws from torch's global RNG, which drifts apart between
    processes (e.g. dropout over batches of different lengths consumes different amounts of it): under DDP the
    processes then shard *different* permutations and see overlapping, incomplete subsets of the data. Seeding
    by epoch gives every process the same order (each takes its own batches of it), and gives a resumed run
    the same order as an uninterrupted one. Accelerate forwards `set_epoch` to this sampler every epoch.
    """

    def __init__(self, batch_size: int, lengths: list[int], seed: int) -> None:
        super().__init__(batch_size, lengths=lengths)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        generator = torch.Generator()
        generator.manual_seed(self.seed + self.epoch)
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=generator))


@contextlib.contextmanager
def _all_parameters_require_grad(model: nn.Module) -> Iterator[None]:
    """Temporarily mark every parameter trainable, then restore the flags exactly."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(True)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


class SERTrainer(Trainer):
    """Trainer for `SERForAudioClassification`.

    * training batches: optional waveform augmentation per class (`augmenter`, components.augment), then mixup
      (lambda ~ Beta(alpha, alpha), one per batch, rows paired by a random permutation) of waveforms, attention
      masks and one-hot targets;
    * training loss: cross-entropy, or focal loss with ``focal_gamma`` > 0, on the soft targets with torch's
      `label_smoothing` and optional per-class weights (components.losses);
    * evaluation loss: plain cross-entropy on the true labels (no mixup, no smoothing), so `eval_loss`
      is the validation negative log-likelihood;
    * optimizer: built over *all* parameters, including frozen ones. The stock `create_optimizer` keeps only
      parameters with ``requires_grad`` at creation time, so an encoder frozen for the first epochs would
      never be updated after `unfreeze_encoder()`. Frozen parameters have ``grad is None``, which torch's
      Adam/AdamW skip entirely (no update, no weight decay), so they stay bit-for-bit unchanged while frozen.
    """

    # Our loss is a per-micro-batch mean: let Trainer divide it by the gradient-accumulation steps.
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        *args: Any,
        mixup_alpha: float = 0.0,
        label_smoothing: float = 0.0,
        focal_gamma: float = 0.0,
        class_weights: torch.Tensor | None = None,
        augmenter: Any = None,
        speaker_clips: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.speaker_clips = int(speaker_clips)  # > 0: speaker-grouped batches (speaker normalisation)
        if mixup_alpha < 0:
            raise ValueError(f"mixup_alpha must be >= 0, got {mixup_alpha}")
        self.mixup_alpha = float(mixup_alpha)
        self.label_smoothing = float(label_smoothing)
        self.focal_gamma = float(focal_gamma)
        self.class_weights = class_weights
        self.augmenter = augmenter  # components.augment.BatchAugmenter or None
        self.train_stats = EpochTrainStats(device=self.args.device)

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        """Stock optimizer construction (same classes, groups and weight-decay split) over all parameters."""
        if self.optimizer is not None:
            return super().create_optimizer(model)
        with _all_parameters_require_grad(self.model if model is None else model):
            return super().create_optimizer(model)

    def _get_train_sampler(self, train_dataset=None):
        """Length-grouped batches from the precomputed length column, in the same order on every process
        (see EpochSeededLengthGroupedSampler); anything else is the stock sampler."""
        dataset = self.train_dataset if train_dataset is None else train_dataset
        column = self.args.length_column_name
        if self.speaker_clips:
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            return SpeakerGroupedSampler(list(dataset["speaker"]), self.speaker_clips, seed)
        if (
            self.args.train_sampling_strategy == "group_by_length"
            and hasattr(dataset, "column_names")
            and column in dataset.column_names
        ):
            lengths = [int(n) for n in dataset[column]]
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            return EpochSeededLengthGroupedSampler(
                self.args.train_batch_size * self.args.gradient_accumulation_steps, lengths, seed
            )
        return super()._get_train_sampler(train_dataset)

    def _get_eval_sampler(self, eval_dataset):
        """Evaluation in order of length (longest first) when the length column is there: the least padding
        possible, so each clip is scored almost as it would be alone (group-norm encoders see zero padding as
        audio); the same order on every process. `predict()` returns predictions and label_ids in this order."""
        column = self.args.length_column_name
        if self.speaker_clips and column in eval_dataset.column_names:
            return speaker_sorted_order(list(eval_dataset["speaker"]), [int(n) for n in eval_dataset[column]])
        if hasattr(eval_dataset, "column_names") and column in eval_dataset.column_names:
            lengths = [int(n) for n in eval_dataset[column]]
            return sorted(range(len(lengths)), key=lambda i: -lengths[i])
        return super()._get_eval_sampler(eval_dataset)

    def sample_mixup(self, batch_size: int) -> tuple[float, torch.Tensor]:
        """lambda ~ Beta(alpha, alpha) and a random pairing of the rows, from torch's global RNG (seeded by
        Trainer, saved in checkpoints and restored on resume)."""
        alpha = torch.tensor(self.mixup_alpha)
        lam = float(torch.distributions.Beta(alpha, alpha).sample())
        return lam, torch.randperm(batch_size)

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ):
        inputs = dict(inputs)
        labels = inputs.pop("labels", None)
        if labels is None:
            raise ValueError("SERTrainer.compute_loss: the batch has no 'labels' (check the data collator)")
        if model.training:
            num_classes = self.model.config.num_labels
            if self.augmenter is not None:
                # One seed per batch from torch's global generator (checkpointed by Trainer): exact on resume.
                inputs = self.augmenter(inputs, labels, int(torch.randint(0, 2**31 - 1, ())))
            inputs.pop("lengths", None)
            if self.mixup_alpha > 0 and labels.shape[0] > 1:
                lam, perm = self.sample_mixup(labels.shape[0])
                mixed = mixup_batch(
                    inputs["input_values"],
                    inputs.get("attention_mask"),
                    labels,
                    num_classes,
                    lam,
                    perm.to(labels.device),
                )
                inputs["input_values"] = mixed.input_values
                if mixed.attention_mask is not None:
                    inputs["attention_mask"] = mixed.attention_mask
                targets, dominant = mixed.targets, mixed.dominant_labels
            else:
                targets, dominant = F.one_hot(labels, num_classes).to(torch.float32), labels
            outputs = model(**inputs)
            loss = soft_target_loss(outputs.logits, targets, self.label_smoothing, self.focal_gamma, self.class_weights)
            self.train_stats.update(outputs.logits, dominant, loss)
        else:
            inputs.pop("lengths", None)
            outputs = model(**inputs)
            loss = F.cross_entropy(outputs.logits.float(), labels)
        return (loss, outputs) if return_outputs else loss
