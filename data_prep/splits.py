"""Train/validation/test splits stratified by (corpus, class), optionally speaker-disjoint, and
balancing of train to a fixed number of clips per class.

All functions work on row indices and are deterministic for a seed. sklearn's splitters are not used
because they do not give "every small (corpus, class) group still reaches val and test" nor a
multi-class-stratified speaker assignment; the logic below is short and tested.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

SPLITS: tuple[str, ...] = ("train", "validation", "test")
MIN_GROUP = 3  # a (corpus, class) group or corpus needs at least this many clips/speakers to reach val and test


def _holdout_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """Clips of a group of `n` that go to validation and test: rounded fractions, at least one each when
    the fraction is > 0 and n >= MIN_GROUP, always leaving one for train. Smaller groups stay in train."""
    if n < MIN_GROUP:
        return 0, 0
    n_val = int(n * val_fraction + 0.5)
    n_test = int(n * test_fraction + 0.5)
    n_val = max(n_val, 1) if val_fraction > 0 else 0
    n_test = max(n_test, 1) if test_fraction > 0 else 0
    while n_val + n_test > n - 1:
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    return n_val, n_test


def split_by_utterance(
    labels: Sequence[str], corpora: Sequence[str], val_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[int]]:
    """Stratified split of rows: each (corpus, class) group is shuffled and cut by the fractions."""
    rng = np.random.default_rng(seed)
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, key in enumerate(zip(corpora, labels)):
        groups[key].append(i)
    out: dict[str, list[int]] = {name: [] for name in SPLITS}
    for key in sorted(groups):
        rows = [groups[key][j] for j in rng.permutation(len(groups[key]))]
        n_val, n_test = _holdout_sizes(len(rows), val_fraction, test_fraction)
        out["validation"] += rows[:n_val]
        out["test"] += rows[n_val : n_val + n_test]
        out["train"] += rows[n_val + n_test :]
    return {name: sorted(rows) for name, rows in out.items()}


def split_by_speaker(
    labels: Sequence[str],
    corpora: Sequence[str],
    speakers: Sequence[str],
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> dict[str, list[int]]:
    """Speaker-disjoint split: within each corpus, whole speakers are assigned greedily (largest first)
    to the split whose per-class target (fraction x corpus class counts) they fill best, so every class
    reaches each split where the speakers allow. A corpus with < MIN_GROUP speakers stays in train;
    otherwise validation and test each get at least one speaker (when their fraction is > 0)."""
    rng = np.random.default_rng(seed)
    fractions = {"train": 1 - val_fraction - test_fraction, "validation": val_fraction, "test": test_fraction}
    classes = sorted(set(labels))
    col = {c: j for j, c in enumerate(classes)}
    out: dict[str, list[int]] = {name: [] for name in SPLITS}
    for corpus in sorted(set(corpora)):
        rows_of: dict[str, list[int]] = defaultdict(list)
        for i, (c, spk) in enumerate(zip(corpora, speakers)):
            if c == corpus:
                rows_of[spk].append(i)
        names = sorted(rows_of)
        vec = {s: np.bincount([col[labels[i]] for i in rows_of[s]], minlength=len(classes)) for s in names}
        if len(names) < MIN_GROUP:
            for s in names:
                out["train"] += rows_of[s]
            continue
        total = sum(vec.values())
        weight = 1.0 / np.maximum(total, 1)  # so small classes count as much as big ones
        target = {k: f * total for k, f in fractions.items()}
        current = {k: np.zeros(len(classes)) for k in SPLITS}
        assigned: dict[str, list[str]] = {k: [] for k in SPLITS}
        order = [names[j] for j in rng.permutation(len(names))]
        order.sort(key=lambda s: -int(vec[s].sum()))  # stable: ties keep the seeded order

        def cost_change(split: str, s: str, sign: int = 1) -> float:
            new = current[split] + sign * vec[s]
            return float((weight * ((new - target[split]) ** 2 - (current[split] - target[split]) ** 2)).sum())

        for s in order:
            best = min((k for k in SPLITS if fractions[k] > 0), key=lambda k: cost_change(k, s))
            assigned[best].append(s)
            current[best] += vec[s]
        for split in ("validation", "test"):  # guarantee a speaker where the fraction asks for one
            if fractions[split] > 0 and not assigned[split]:
                donor = max(SPLITS, key=lambda k: len(assigned[k]))
                if len(assigned[donor]) < 2:
                    continue
                s = min(assigned[donor], key=lambda x: cost_change(split, x) + cost_change(donor, x, -1))
                assigned[donor].remove(s)
                assigned[split].append(s)
                current[donor] -= vec[s]
                current[split] += vec[s]
        for split, spks in assigned.items():
            for s in spks:
                out[split] += rows_of[s]
    return {name: sorted(rows) for name, rows in out.items()}


def speaker_folds(labels: Sequence[str], speakers: Sequence[str], k: int, seed: int) -> dict[str, int]:
    """Assign whole speakers to `k` folds for speaker-independent cross-validation: largest speakers first
    (ties in seeded order), each to the fold whose per-class counts stay closest to an even 1/k share (the
    same class-weighted cost as `split_by_speaker`). Returns {speaker: fold}; needs at least k speakers."""
    names = sorted(set(speakers))
    if len(names) < k:
        raise ValueError(f"{k} folds need at least {k} speakers, the data has {len(names)}")
    rng = np.random.default_rng([seed, 2])
    classes = sorted(set(labels))
    col = {c: j for j, c in enumerate(classes)}
    vec = {s: np.zeros(len(classes)) for s in names}
    for label, spk in zip(labels, speakers):
        vec[spk][col[label]] += 1
    total = sum(vec.values())
    weight = 1.0 / np.maximum(total, 1)
    target = total / k
    current = np.zeros((k, len(classes)))
    order = [names[j] for j in rng.permutation(len(names))]
    order.sort(key=lambda s: -int(vec[s].sum()))
    out: dict[str, int] = {}
    for i, s in enumerate(order):
        if i < k:  # every fold gets a speaker first
            best = i
        else:
            gain = [
                float((weight * ((current[f] + vec[s] - target) ** 2 - (current[f] - target) ** 2)).sum())
                for f in range(k)
            ]
            best = int(np.argmin(gain))
        out[s] = best
        current[best] += vec[s]
    return dict(sorted(out.items()))


def balance(train_rows: Sequence[int], labels: Sequence[str], per_class: int, seed: int) -> list[int]:
    """Resample train rows to exactly `per_class` per class present: classes with more clips are
    undersampled (without replacement); classes with fewer are repeated whole as often as fits and
    topped up with a random subset, so copies are spread evenly. Returned in a seeded shuffled order.
    `per_class` 0 keeps the rows as they are."""
    if per_class == 0:
        return list(train_rows)
    rng = np.random.default_rng([seed, 1])
    by_class: dict[str, list[int]] = defaultdict(list)
    for i in train_rows:
        by_class[labels[i]].append(i)
    out: list[int] = []
    for label in sorted(by_class):
        rows = np.array(sorted(by_class[label]))
        if len(rows) >= per_class:
            out += rows[rng.choice(len(rows), per_class, replace=False)].tolist()
        else:
            repeats, rest = divmod(per_class, len(rows))
            out += np.tile(rows, repeats).tolist() + rows[rng.choice(len(rows), rest, replace=False)].tolist()
    return [out[j] for j in rng.permutation(len(out))]


def speaker_overlap(splits: dict[str, Sequence[int]], speakers: Sequence[str]) -> dict[str, int]:
    """Number of speakers shared by each pair of splits, keyed "train-validation" etc."""
    sets = {name: {speakers[i] for i in rows} for name, rows in splits.items()}
    pairs = (("train", "validation"), ("train", "test"), ("validation", "test"))
    return {f"{a}-{b}": len(sets.get(a, set()) & sets.get(b, set())) for a, b in pairs}


def class_counts(rows: Sequence[int], labels: Sequence[str], classes: Sequence[str]) -> dict[str, int]:
    """Clips per class (every class listed, zeros included)."""
    counts = Counter(labels[i] for i in rows)
    return {c: counts.get(c, 0) for c in classes}
