"""Stratified / speaker-disjoint splits and train balancing (pure functions on row indices)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from data_prep.splits import (
    _holdout_sizes,
    balance,
    speaker_folds,
    speaker_overlap,
    split_by_speaker,
    split_by_utterance,
)


def toy(n_corpora: int = 2, speakers: int = 10, per: int = 4, seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    """Rows: every speaker of every corpus says `per` clips of each of 4 classes (+ a ragged extra)."""
    rng = np.random.default_rng(seed)
    labels, corpora, spk = [], [], []
    for c in range(n_corpora):
        for s in range(speakers):
            for label in ("anger", "happy", "sad", "fear"):
                for _ in range(per + int(rng.integers(0, 3))):
                    labels.append(label)
                    corpora.append(f"c{c}")
                    spk.append(f"c{c}_s{s}")
    return labels, corpora, spk


def assert_partition(splits: dict[str, list[int]], n: int) -> None:
    rows = [i for r in splits.values() for i in r]
    assert sorted(rows) == list(range(n)), "every row in exactly one split"


def test_holdout_sizes() -> None:
    assert _holdout_sizes(100, 0.15, 0.15) == (15, 15)
    assert _holdout_sizes(1, 0.15, 0.15) == (0, 0)
    assert _holdout_sizes(2, 0.15, 0.15) == (0, 0)
    assert _holdout_sizes(3, 0.15, 0.15) == (1, 1)
    assert _holdout_sizes(3, 0.0, 0.15) == (0, 1)
    assert _holdout_sizes(7, 0.4, 0.4) == (3, 3)


def test_utterance_split_is_stratified_disjoint_and_seeded() -> None:
    labels, corpora, _ = toy()
    splits = split_by_utterance(labels, corpora, 0.15, 0.15, seed=1)
    assert_partition(splits, len(labels))
    for key in set(zip(corpora, labels)):
        group = [i for i, k in enumerate(zip(corpora, labels)) if k == key]
        n_val, n_test = _holdout_sizes(len(group), 0.15, 0.15)
        assert sum(i in set(splits["validation"]) for i in group) == n_val
        assert sum(i in set(splits["test"]) for i in group) == n_test
    assert split_by_utterance(labels, corpora, 0.15, 0.15, seed=1) == splits
    assert split_by_utterance(labels, corpora, 0.15, 0.15, seed=2) != splits


def test_small_groups_stay_in_train_or_reach_every_split() -> None:
    labels = ["sad", "sad", "fear", "happy", "happy", "happy"]
    splits = split_by_utterance(labels, ["x"] * 6, 0.15, 0.15, seed=0)
    assert set(splits["train"]) >= {0, 1, 2}
    assert [labels[i] for i in splits["validation"]] == ["happy"] == [labels[i] for i in splits["test"]]


def test_speaker_split_has_no_shared_speaker_and_covers_classes() -> None:
    labels, corpora, spk = toy(speakers=12)
    splits = split_by_speaker(labels, corpora, spk, 0.15, 0.15, seed=3)
    assert_partition(splits, len(labels))
    assert speaker_overlap(splits, spk) == {"train-validation": 0, "train-test": 0, "validation-test": 0}
    for name in ("validation", "test"):
        assert {labels[i] for i in splits[name]} == {"anger", "happy", "sad", "fear"}
        assert {corpora[i] for i in splits[name]} == {"c0", "c1"}
        share = len(splits[name]) / len(labels)
        assert 0.05 < share < 0.3, share
    assert split_by_speaker(labels, corpora, spk, 0.15, 0.15, seed=3) == splits


def test_speaker_split_few_speakers() -> None:
    labels, corpora, spk = toy(n_corpora=1, speakers=2)
    splits = split_by_speaker(labels, corpora, spk, 0.15, 0.15, seed=0)
    assert len(splits["train"]) == len(labels)  # < 3 speakers: all train
    labels, corpora, spk = toy(n_corpora=1, speakers=3)
    splits = split_by_speaker(labels, corpora, spk, 0.15, 0.15, seed=0)
    assert all(len({spk[i] for i in rows}) == 1 for rows in splits.values())


def test_utterance_split_reports_overlap() -> None:
    labels, corpora, spk = toy(speakers=3)
    overlap = speaker_overlap(split_by_utterance(labels, corpora, 0.15, 0.15, 0), spk)
    assert overlap["train-test"] > 0


def test_balance_exact_counts_even_copies_and_seeded() -> None:
    labels = ["anger"] * 50 + ["sad"] * 7 + ["fear"] * 20
    train = list(range(len(labels)))
    out = balance(train, labels, 20, seed=0)
    assert Counter(labels[i] for i in out) == {"anger": 20, "sad": 20, "fear": 20}
    anger = [i for i in out if labels[i] == "anger"]
    assert len(set(anger)) == 20  # undersampled: no repeats
    copies = Counter(i for i in out if labels[i] == "sad")
    assert set(copies) == set(range(50, 57)) and max(copies.values()) - min(copies.values()) <= 1
    assert sorted(i for i in out if labels[i] == "fear") == list(range(57, 77))  # exactly enough: each once
    assert balance(train, labels, 20, seed=0) == out
    assert balance(train, labels, 20, seed=1) != out
    assert balance(train, labels, 0, seed=0) == train


def test_balance_uses_only_given_rows() -> None:
    labels = ["anger"] * 10 + ["sad"] * 10
    out = balance([0, 1, 2, 10, 11], labels, 6, seed=0)
    assert set(out) == {0, 1, 2, 10, 11} and len(out) == 12


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_speaker_split_random_corpora_never_overlap(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    labels = [str(x) for x in rng.integers(0, 6, n)]
    corpora = [f"c{x}" for x in rng.integers(0, 3, n)]
    spk = [f"{c}_{x}" for c, x in zip(corpora, rng.integers(0, 9, n))]
    splits = split_by_speaker(labels, corpora, spk, 0.2, 0.1, seed)
    assert_partition(splits, n)
    assert sum(speaker_overlap(splits, spk).values()) == 0


def test_speaker_folds_keep_speakers_whole_and_classes_even() -> None:
    rng = np.random.default_rng(0)
    speakers = [f"s{i}" for i in rng.integers(0, 12, 600)]
    labels = [["anger", "sad", "surprise"][i] for i in rng.integers(0, 3, 600)]
    folds = speaker_folds(labels, speakers, 4, seed=1)
    assert set(folds) == set(speakers) and set(folds.values()) == {0, 1, 2, 3}
    assert folds == speaker_folds(labels, speakers, 4, seed=1)
    per_fold = Counter((folds[s], label) for s, label in zip(speakers, labels))
    for label in ("anger", "sad", "surprise"):
        counts = [per_fold[(f, label)] for f in range(4)]
        assert max(counts) - min(counts) < 0.5 * np.mean(counts)  # about a quarter of each class per fold
    with pytest.raises(ValueError, match="at least 5 speakers"):
        speaker_folds(["a", "b"], ["x", "y"], 5, seed=0)
