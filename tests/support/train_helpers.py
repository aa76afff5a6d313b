"""Shared helpers of the training tests: a small prepared DatasetDict on disk and tiny configs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from datasets import Dataset, DatasetDict, concatenate_datasets

from data_prep.dataset import FEATURES
from data_prep.labels import EMOTIONS
from tests.support.tiny_models import tiny_encoder_overrides

SR = 16000
REPO = Path(__file__).resolve().parents[2]


def make_split(n_per_class: int, seed: int, min_s: float = 0.3, max_s: float = 0.7) -> Dataset:
    """Six classes of noisy tones (class k: 200*(k+1) Hz), random lengths, the columns of data_prep.dataset.FEATURES."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[Any]] = {
        k: [] for k in ("audio", "label", "speaker", "corpus", "language", "path", "duration", "length")
    }
    for label in range(len(EMOTIONS)):
        for i in range(n_per_class):
            n = int(rng.uniform(min_s, max_s) * SR)
            t = np.arange(n) / SR
            wave = 0.5 * np.sin(2 * np.pi * 200 * (label + 1) * t) + 0.05 * rng.standard_normal(n)
            rows["audio"].append(wave.astype(np.float32))
            rows["label"].append(label)
            rows["speaker"].append(f"synth_spk{i % 3}")
            rows["corpus"].append("synth")
            rows["language"].append("none")
            rows["path"].append(f"/synthetic/{EMOTIONS[label]}/{i}.wav")
            rows["duration"].append(n / SR)
            rows["length"].append(n)
    return Dataset.from_dict(rows, features=FEATURES)


def make_dataset(path: str | Path, n_train: int = 6, n_eval: int = 2, seed: int = 0) -> str:
    """Write a prepared DatasetDict (train/validation/test) to `path` and return it."""
    dsd = DatasetDict(
        {
            "train": make_split(n_train, seed),
            "validation": make_split(n_eval, seed + 1),
            "test": make_split(n_eval, seed + 2),
        }
    )
    dsd.save_to_disk(str(path))
    return str(path)


def tiny_config(**sections: dict[str, Any]) -> dict[str, Any]:
    """A from-scratch tiny-model config for fast CPU runs; `sections` update its sections."""
    cfg: dict[str, Any] = {
        "model": {
            "from_scratch": True,
            "encoder_config": tiny_encoder_config(),
            "head_sizes": [16],
            "head_dropout": 0.0,
            "max_duration": 1.0,
            "freeze_feature_encoder": False,
        },
        # fp32: the same numbers on every CPU; the auto precision has its own tests (tests/recipe/test_precision.py)
        "recipe": {
            "mixup_alpha": 0.3,
            "label_smoothing": 0.1,
            "freeze_encoder_epochs": 0,
            "early_stopping_patience": None,
            "precision": "fp32",
        },
        "training": {
            "per_device_train_batch_size": 4,
            "per_device_eval_batch_size": 8,
            "gradient_accumulation_steps": 1,
            "learning_rate": 1e-3,
            "num_train_epochs": 2,
            "logging_steps": 5,
            "save_total_limit": 2,
            "dataloader_num_workers": 0,
            "disable_tqdm": True,
            "use_cpu": True,
        },
    }
    for name, values in sections.items():
        cfg.setdefault(name, {}).update(values)
    return cfg


def write_config(path: str | Path, cfg: dict[str, Any]) -> str:
    Path(path).write_text(yaml.safe_dump(cfg))
    return str(path)


def tiny_encoder_config(no_dropout: bool = False) -> dict[str, Any]:
    """Config dict of a tiny random Wav2Vec2 encoder (stride 320), optionally with every dropout off."""
    cfg: dict[str, Any] = {"model_type": "wav2vec2", "mask_time_prob": 0.0, "layerdrop": 0.0}
    cfg.update({k: list(v) if isinstance(v, tuple) else v for k, v in tiny_encoder_overrides().items()})
    if no_dropout:
        cfg.update(
            hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0, final_dropout=0.0
        )
    return cfg


def make_two_corpus_set(path: Path) -> str:
    """A prepared set with corpora c0/c1, 4 speakers each, an unbalanced train split and folds.json."""

    def tag(ds, corpus, split):
        return ds.map(
            lambda row, i: {
                "corpus": corpus,
                "speaker": f"{corpus}_s{i % 4}",
                "path": f"/{corpus}/{split}{row['path']}",
            },
            with_indices=True,
        )

    splits = {
        name: [tag(make_split(n, seed), c, name) for c in ("c0", "c1")]
        for name, n, seed in (("train", 2, 0), ("validation", 1, 1), ("test", 1, 2))
    }
    dsd = DatasetDict({k: concatenate_datasets(v) for k, v in splits.items()})
    dsd["train_unbalanced"] = dsd["train"]
    dsd.save_to_disk(str(path))
    speakers = sorted(set(dsd["train"]["speaker"]))
    (path / "folds.json").write_text(
        json.dumps({"k": 4, "by": "speaker", "seed": 0, "speakers": {s: i % 4 for i, s in enumerate(speakers)}})
    )
    return str(path)
