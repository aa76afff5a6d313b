"""A hand-built run folder with every file `python -m recipe.train` writes (+ eval_results.json), for model-card tests
that must not depend on training. The evaluation numbers come from recipe.components.metrics_report on seeded random
predictions, so they have the real shape and are internally consistent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from recipe.components.metrics_report import classification_report, majority_baseline, random_baseline
from recipe.components.plots import plot_confusion_matrix, plot_training_curves

LABELS = ["anger", "fear", "happy", "neutral", "sad", "surprise"]


def _clips(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.integers(0, 6, size=n), np.where(np.arange(n) % 3 == 0, "RAVDESS", "URDU-Dataset")


def _split_results(rng: np.random.Generator, y_true: np.ndarray, corpus: np.ndarray, train_labels: np.ndarray) -> dict:
    y_pred = np.where(rng.random(len(y_true)) < 0.6, y_true, rng.integers(0, 6, size=len(y_true)))
    language = np.where(corpus == "RAVDESS", "en", "ur")
    rep = classification_report(
        y_true, y_pred, LABELS, groups={"corpus": corpus.tolist(), "language": language.tolist()}
    )
    rep["baselines"] = {
        "majority": majority_baseline(train_labels, y_true, LABELS),
        "random": random_baseline(y_true, LABELS),
    }
    return rep


def make_fake_run(root: Path, demo: bool = False, encoder: str = "facebook/wav2vec2-base") -> tuple[Path, Path]:
    """Write OUT and DATA folders under ``root``; returns (out_dir, data_dir)."""
    rng = np.random.default_rng(0)
    out, data = root / "out", root / "data"
    out.mkdir(parents=True)
    data.mkdir(parents=True)
    clips = {s: _clips(rng, n) for s, n in (("train", 120), ("validation", 40), ("test", 60))}
    train_labels = clips["train"][0]
    splits = {s: _split_results(rng, *clips[s], train_labels) for s in ("test", "validation")}
    (out / "eval_results.json").write_text(
        json.dumps(
            {
                "schema_version": 1,
                "split": "test",
                "labels": LABELS,
                "model_dir": str(out),
                "data_dir": str(data),
                "evaluated_at": "2026-11-23T21:00:00+00:00",
                "inference": {"device": "cpu", "batch_size": 8, "sampling_rate": 16000},
                "figures": {"confusion_matrix": "confusion_matrix.png", "training_curves": "training_curves.png"},
                "splits": splits,
            }
        )
    )
    log = []
    for epoch in (1, 2, 3):
        step = 10 * epoch
        log.append({"loss": 1.8 / epoch, "learning_rate": 1e-4, "epoch": epoch - 0.5, "step": step - 5})
        log.append(
            {
                "epoch": float(epoch),
                "step": step,
                "train_loss": 1.7 / epoch + 0.01234,
                "train_accuracy": 0.2 * epoch + 0.01111,
            }
        )
        log.append(
            {
                "epoch": float(epoch),
                "step": step,
                "eval_loss": 1.6 / epoch + 0.04321,
                "eval_accuracy": 0.19 * epoch + 0.02222,
                "eval_uar": 0.18 * epoch + 0.00333,
                "eval_macro_f1": 0.17 * epoch + 0.00444,
                "eval_runtime": 1.0,
            }
        )
    log.append({"epoch": 3.0, "step": 30, "train_runtime": 42.5, "train_loss": 1.01})
    (out / "trainer_state.json").write_text(
        json.dumps(
            {
                "best_metric": log[-2]["eval_uar"],
                "best_global_step": 30,
                "best_model_checkpoint": str(out / "checkpoint-30"),
                "epoch": 3.0,
                "global_step": 30,
                "log_history": log,
            }
        )
    )
    (out / "run_info.json").write_text(
        json.dumps(
            {
                "data_dir": str(data),
                "encoder": encoder,
                "freeze_encoder_epochs": 1,
                "unfreeze_epoch": 1,
                "parameters": {"total": 94571234, "trainable": 94371334, "trainable_encoder_frozen": 856199},
                "hardware": {
                    "device": "cpu",
                    "gpu_name": None,
                    "cpu_count": 2,
                    "torch": "2.13.0+cpu",
                    "transformers": "5.23.0",
                },
                "train_runtime_s": 42.5,
                "best_model_checkpoint": str(out / "checkpoint-30"),
                "best_metric": log[-2]["eval_uar"],
                "metric_for_best_model": "uar",
                "epochs_run": 3,
                "started_at": "2026-11-23T20:00:00+00:00",
                "finished_at": "2026-11-23T20:00:43+00:00",
                "demo": demo,
            }
        )
    )
    (out / "train_config.yaml").write_text(
        yaml.safe_dump(
            {
                "model": {"encoder": encoder, "head_sizes": [512, 256, 128], "head_dropout": 0.3},
                "training": {
                    "learning_rate": 3e-5,
                    "num_train_epochs": 3,
                    "weight_decay": 0.01,
                    "per_device_train_batch_size": 8,
                    "freeze_encoder_epochs": 1,
                    "label_smoothing_factor": 0.1,
                    "seed": 42,
                },
            },
            sort_keys=False,
        )
    )
    (out / "config.json").write_text(
        json.dumps(
            {
                "model_type": "ser_attention_pooling",
                "head_sizes": [512, 256, 128],
                "head_dropout": 0.3,
                "attention_hidden_size": 384,
                "id2label": {str(i): c for i, c in enumerate(LABELS)},
                "label2id": {c: i for i, c in enumerate(LABELS)},
                "encoder_config": {
                    "model_type": "wav2vec2",
                    "hidden_size": 768,
                    "num_hidden_layers": 12,
                    "num_attention_heads": 12,
                    "feat_extract_norm": "group",
                    "hidden_dropout": 0.1,
                    "layerdrop": 0.05,
                    "mask_time_prob": 0.05,
                },
            }
        )
    )
    (out / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "sampling_rate": 16000,
                "max_duration": 8.0,
                "do_normalize": True,
                "return_attention_mask": False,
                "padding_value": 0.0,
                "feature_size": 1,
            }
        )
    )
    (out / "model.safetensors").write_bytes(b"\0" * 4096)
    (out / "checkpoint-30").mkdir()
    (out / "checkpoint-30" / "optimizer.pt").write_bytes(b"\0" * 1000)
    plot_confusion_matrix(splits["test"]["confusion_matrix"]["counts"], LABELS, out / "confusion_matrix.png")
    plot_training_curves(log, out / "training_curves.png", unfreeze_epoch=1)

    def per_class(mask_of) -> dict[str, int]:
        counts = sum(np.bincount(y[mask_of(y, c)], minlength=6) for y, c in clips.values())
        return {label: int(n) for label, n in zip(LABELS, counts)}

    ravdess = per_class(lambda y, c: c == "RAVDESS")
    urdu = per_class(lambda y, c: c != "RAVDESS")
    (data / "prepare_report.json").write_text(
        json.dumps(
            {
                "corpora": {
                    "RAVDESS": {
                        "found": sum(ravdess.values()) + 10,
                        "kept": sum(ravdess.values()),
                        "skipped": {"too short": 7, "all silent": 3},
                        "language": "en",
                        "per_class": ravdess,
                    },
                    "URDU-Dataset": {
                        "found": sum(urdu.values()),
                        "kept": sum(urdu.values()),
                        "skipped": {},
                        "language": "ur",
                        "per_class": urdu,
                    },
                },
                "splits": {
                    s: {label: int(n) for label, n in zip(LABELS, np.bincount(y, minlength=6))}
                    for s, (y, _) in clips.items()
                },
                "train_before_balancing": {
                    label: int(n) + 3 for label, n in zip(LABELS, np.bincount(clips["train"][0], minlength=6))
                },
                "skipped_files": [],
                "speaker_overlap": {"train-validation": 0, "train-test": 2, "validation-test": 0},
                "settings": {
                    "per_class": None,
                    "split_by": "speaker",
                    "seed": 0,
                    "val_fraction": 0.15,
                    "test_fraction": 0.15,
                    "max_duration": 8.0,
                    "min_duration": 0.25,
                    "sampling_rate": 16000,
                },
            }
        )
    )
    return out, data
