"""Collapse guard: say plainly when the model predicts one class for every validation clip.

A model that has collapsed to a constant output scores exactly chance UAR (1 / number of classes) and can look
like a slow start in the metrics; the guard names it at each evaluation where it happens and records it in
run_info.json (``collapse``). `PredictionSpread` wraps `compute_metrics` to keep the last evaluation's predicted
class counts without adding metrics to the log (the metrics files keep their keys).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from transformers import EvalPrediction, TrainerCallback, TrainerControl, TrainerState, TrainingArguments


class PredictionSpread:
    """`compute_metrics` that also remembers how many clips each class was predicted for (``last_counts``)."""

    def __init__(self, compute_metrics: Callable[[EvalPrediction], dict[str, float]], num_classes: int) -> None:
        self.compute_metrics = compute_metrics
        self.num_classes = int(num_classes)
        self.last_counts: np.ndarray | None = None

    def __call__(self, eval_pred: EvalPrediction) -> dict[str, float]:
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        predicted = np.asarray(logits).argmax(axis=-1).reshape(-1)
        self.last_counts = np.bincount(predicted, minlength=self.num_classes)
        return self.compute_metrics(eval_pred)


class CollapseGuardCallback(TrainerCallback):
    """After each evaluation: when every clip got the same class, print one line and record the event."""

    def __init__(self, spread: PredictionSpread, id2label: Mapping[int, str]) -> None:
        self.spread = spread
        self.id2label = dict(id2label)
        self.events: list[dict[str, Any]] = []
        self.last_collapsed = False

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        counts, self.spread.last_counts = self.spread.last_counts, None
        self.last_collapsed = bool(counts is not None and counts.sum() > 0 and np.count_nonzero(counts) == 1)
        if not self.last_collapsed:
            return
        label = self.id2label.get(int(counts.argmax()), str(int(counts.argmax())))
        event = {"epoch": state.epoch, "step": state.global_step, "class": label, "clips": int(counts.sum())}
        self.events.append(event)
        if state.is_world_process_zero:
            print(
                f"recipe.train: COLLAPSE at epoch {state.epoch:.2f} (step {state.global_step}): the model predicts "
                f"{label!r} for all {event['clips']} validation clips (UAR = chance). Training has diverged; "
                "try a lower learning rate, or recipe.precision fp32 to rule out mixed precision.",
                flush=True,
            )

    def record(self, final_step: int | None, final_is_last_evaluation: bool = False) -> dict[str, Any]:
        """What run_info.json keeps: every collapsed evaluation, and whether the final model's evaluation was one
        (the evaluation at `final_step`, e.g. the best checkpoint's, or the last one, e.g. after averaging)."""
        if final_is_last_evaluation:
            final = self.last_collapsed
        else:
            final = final_step is not None and any(e["step"] == final_step for e in self.events)
        return {"collapsed_evaluations": self.events, "final_model_collapsed": final}
