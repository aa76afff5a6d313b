"""Evaluation computations on hand-built arrays (recipe.components.metrics_report) and the figures
(recipe.components.plots)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from recipe.components.inference import length_batches
from recipe.components.metrics_report import (
    classification_report,
    group_accuracy,
    majority_baseline,
    random_baseline,
    row_normalise,
    top_confusions,
)
from recipe.components.plots import epoch_curves, plot_confusion_matrix, plot_training_curves

LABELS = ["anger", "fear", "happy", "neutral", "sad", "surprise"]


def _hand_case():
    # true: 4 anger, 3 fear, 2 happy, 1 neutral, 2 sad, 0 surprise
    y_true = [0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 4, 4]
    y_pred = [0, 0, 0, 1, 4, 4, 1, 2, 0, 3, 4, 4]
    return np.array(y_true), np.array(y_pred)


def test_classification_report_numbers_by_hand():
    y_true, y_pred = _hand_case()
    rep = classification_report(y_true, y_pred, LABELS, groups={"corpus": ["a"] * 6 + ["b"] * 6})
    assert rep["n"] == 12
    assert rep["accuracy"] == pytest.approx(8 / 12)
    # recalls: anger 3/4, fear 1/3, happy 1/2, neutral 1/1, sad 2/2; surprise absent -> not averaged
    recalls = [3 / 4, 1 / 3, 1 / 2, 1.0, 1.0]
    assert rep["uar"] == pytest.approx(np.mean(recalls))
    assert rep["classes_absent"] == ["surprise"]
    assert rep["per_class"]["surprise"]["accuracy"] is None
    assert rep["per_class"]["surprise"]["support"] == 0
    for name, r in zip(LABELS, recalls):
        assert rep["per_class"][name]["accuracy"] == pytest.approx(r)
    # precision anger = 3/4 (one happy predicted as anger), F1 anger = 0.75
    assert rep["per_class"]["anger"]["precision"] == pytest.approx(3 / 4)
    f1 = {
        "anger": 0.75,
        "fear": 2 * (1 / 2 * 1 / 3) / (1 / 2 + 1 / 3),
        "happy": 2 / 3,
        "neutral": 1.0,
        "sad": 2 * (0.5 * 1.0) / 1.5,
    }
    assert rep["macro_f1"] == pytest.approx(np.mean(list(f1.values())))
    counts = np.array(rep["confusion_matrix"]["counts"])
    assert counts.sum() == 12 and counts[1, 4] == 2 and counts[5].sum() == 0
    assert np.allclose(np.array(rep["confusion_matrix"]["normalised"])[:5].sum(axis=1), 1.0)
    assert rep["per_corpus"] == {
        "a": {"accuracy": 3 / 6, "correct": 3, "n": 6},
        "b": {"accuracy": 5 / 6, "correct": 5, "n": 6},
    }


def test_class_never_predicted_has_zero_precision_and_f1():
    y_true = np.array([0, 1, 2, 0, 1, 2])
    y_pred = np.array([0, 1, 1, 0, 1, 1])  # happy (2) never predicted
    rep = classification_report(y_true, y_pred, LABELS[:3])
    assert rep["per_class"]["happy"] == {"accuracy": 0.0, "precision": 0.0, "f1": 0.0, "support": 2, "predicted": 0}
    assert rep["uar"] == pytest.approx((1 + 1 + 0) / 3)
    assert rep["per_class"]["fear"]["predicted"] == 4


def test_top_confusions_agree_with_matrix():
    y_true, y_pred = _hand_case()
    rep = classification_report(y_true, y_pred, LABELS, k_confusions=10)
    norm = np.array(rep["confusion_matrix"]["normalised"])
    counts = np.array(rep["confusion_matrix"]["counts"])
    pairs = rep["top_confusions"]
    off_diag_nonzero = int(((counts > 0) & ~np.eye(6, dtype=bool)).sum())
    assert len(pairs) == off_diag_nonzero == 3
    assert [p["rate"] for p in pairs] == sorted((p["rate"] for p in pairs), reverse=True)
    for p in pairs:
        i, j = LABELS.index(p["true"]), LABELS.index(p["pred"])
        assert i != j and p["rate"] == norm[i, j] and p["count"] == counts[i, j]
        assert p["text"] == f"{p['true']} → {p['pred']}: {100 * norm[i, j]:.2f} %"
    assert pairs[0]["text"] == "fear → sad: 66.67 %"
    assert top_confusions(np.eye(3, dtype=int) * 5, LABELS[:3]) == []  # perfect classifier: no pairs


def test_row_normalise_keeps_empty_rows_zero():
    out = row_normalise(np.array([[2, 2], [0, 0]]))
    assert out.tolist() == [[0.5, 0.5], [0.0, 0.0]]


def test_majority_baseline_uses_train_distribution():
    train = [3, 3, 3, 0, 1]  # neutral most frequent in TRAIN
    y_true = np.array([0, 0, 3, 4])
    base = majority_baseline(train, y_true, LABELS)
    assert base["class"] == "neutral"
    assert base["accuracy"] == pytest.approx(1 / 4)
    assert base["uar"] == pytest.approx((0 + 1 + 0) / 3)  # recall over classes present in y_true
    assert majority_baseline([1, 0], [0], LABELS)["class"] == "anger"  # tie -> first in label order


def test_random_baseline_is_exact_expectation():
    y_true = np.array([0, 0, 0, 1, 2, 3, 4, 4])  # surprise absent: still predicted, so F1 0 averaged in
    base = random_baseline(y_true, LABELS)
    assert base["accuracy"] == base["uar"] == pytest.approx(1 / 6)
    # expected confusion matrix: precision_j = n_j / N, recall_j = 1/6
    support = np.bincount(y_true, minlength=6) / len(y_true)
    f1 = 2 * support * (1 / 6) / (support + 1 / 6)
    assert base["macro_f1"] == pytest.approx(f1.mean())
    # the exact value agrees with a large seeded simulation
    rng = np.random.default_rng(0)
    sims = [(rng.integers(0, 6, size=len(y_true)) == y_true).mean() for _ in range(20000)]
    assert np.mean(sims) == pytest.approx(base["accuracy"], abs=0.005)


def test_group_accuracy_and_bad_inputs():
    acc = group_accuracy(np.array([0, 1, 1]), np.array([0, 1, 0]), ["en", "hi", "hi"])
    assert acc == {"en": {"accuracy": 1.0, "correct": 1, "n": 1}, "hi": {"accuracy": 0.5, "correct": 1, "n": 2}}
    with pytest.raises(ValueError, match="groups has 2 entries"):
        group_accuracy(np.array([0, 1, 1]), np.array([0, 1, 0]), ["en", "hi"])
    with pytest.raises(ValueError, match="class ids"):
        classification_report([0, 7], [0, 1], LABELS)
    with pytest.raises(ValueError, match="y_pred has 1"):
        classification_report([0, 1], [0], LABELS)
    with pytest.raises(ValueError, match="empty"):
        classification_report([], [], LABELS)


def test_figures_are_valid_pngs(tmp_path):
    log = [
        {"epoch": 1.0, "train_loss": 1.7, "train_accuracy": 0.2, "step": 3},
        {"epoch": 1.0, "eval_loss": 1.6, "eval_accuracy": 0.3, "step": 3},
        {"loss": 1.9, "step": 2},  # step-wise Trainer log without epoch: ignored
        {"epoch": 2.0, "train_loss": 1.2, "train_accuracy": 0.5, "step": 6},
        {"epoch": 2.0, "eval_loss": 1.3, "eval_accuracy": 0.45, "step": 6},
    ]
    curves = epoch_curves(log)
    assert curves["eval_accuracy"] == [(1.0, 0.3), (2.0, 0.45)]
    assert curves["train_loss"] == [(1.0, 1.7), (2.0, 1.2)]
    paths = [
        plot_training_curves(log, tmp_path / "curves.png", unfreeze_epoch=1),
        plot_confusion_matrix([[3, 1], [0, 2]], ["anger", "fear"], tmp_path / "cm.png"),
    ]
    for path in paths:
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            assert img.format == "PNG" and img.size[0] >= 300 and img.size[1] >= 300
    with pytest.raises(ValueError, match="no per-epoch"):
        plot_training_curves([{"loss": 1.0, "step": 1}], tmp_path / "none.png")


class _StubExtractor:
    """Pads a batch with zeros, like the real feature extractor (no normalisation)."""

    sampling_rate = 16000

    def __init__(self, return_attention_mask: bool = True):
        self.return_attention_mask = return_attention_mask
        self.batch_shapes: list[tuple[int, ...]] = []

    def __call__(self, waves, sampling_rate, padding, return_tensors):
        import torch

        assert sampling_rate == 16000 and padding is True and return_tensors == "pt"
        width = max(len(w) for w in waves)
        self.batch_shapes.append(tuple(len(w) for w in waves))
        return {"input_values": torch.tensor(np.stack([np.pad(w, (0, width - len(w))) for w in waves]))}


class _StubModel:
    """Predicts class (peak value of the clip − 1) with certainty: the answer travels with the clip."""

    class config:
        num_labels = 6

    def eval(self):
        return self

    def to(self, device):
        return self

    def __call__(self, input_values):
        from types import SimpleNamespace

        import torch

        cls = input_values.max(dim=1).values.long() - 1
        return SimpleNamespace(logits=torch.nn.functional.one_hot(cls, 6).float() * 20)


def test_predict_probabilities_returns_rows_in_dataset_order():
    """Batches are formed in length order; the probabilities must come back in the dataset's row order."""
    from datasets import Dataset

    from recipe.components.evaluation import predict_probabilities

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, size=11)
    lengths = rng.integers(100, 1000, size=11)
    ds = Dataset.from_dict(
        {"audio": [np.full(n, c + 1, dtype=np.float32) for c, n in zip(labels, lengths)], "length": lengths.tolist()}
    )
    for batch_size in (1, 3, 16):
        for masked in (True, False):
            extractor = _StubExtractor(return_attention_mask=masked)
            probs = predict_probabilities(_StubModel(), extractor, ds, batch_size=batch_size)
            assert probs.shape == (11, 6)
            assert np.allclose(probs.sum(axis=1), 1.0)
            assert probs.argmax(axis=1).tolist() == labels.tolist()
            if not masked:  # no attention mask: never pad, i.e. never mix lengths in a batch
                assert all(len(set(shape)) == 1 for shape in extractor.batch_shapes)


def test_length_batches():
    lengths = [5, 3, 5, 3, 9, 5]
    assert [b.tolist() for b in length_batches(lengths, 2, same_length_only=False)] == [[1, 3], [0, 2], [5, 4]]
    assert [b.tolist() for b in length_batches(lengths, 2, same_length_only=True)] == [[1, 3], [0, 2], [5], [4]]
    assert sorted(i for b in length_batches(lengths, 4, True) for i in b.tolist()) == list(range(6))
    with pytest.raises(ValueError, match="batch_size"):
        length_batches(lengths, 0, True)


# ------------------------------------------------------------------ bootstrap intervals (recipe.components.uncertainty)


def test_confusion_metrics_match_sklearn_definitions():
    from recipe.components.metrics import classification_metrics
    from recipe.components.uncertainty import cluster_confusions, metrics_from_confusion

    y_true, y_pred = _hand_case()
    counts = cluster_confusions(y_true, y_pred, np.zeros(len(y_true)), len(LABELS))[0]
    expected = classification_metrics(y_true, y_pred)
    assert metrics_from_confusion(counts) == pytest.approx([expected[m] for m in ("accuracy", "uar", "macro_f1")])


def test_cluster_bootstrap_keeps_speakers_whole_by_hand():
    """Speaker A: 3 clips, all right; speaker B: 1 clip, wrong. Resampling the 2 speakers can only give the pools
    AA (accuracy 1), AB/BA (3/4) or BB (0): P = 1/4, 1/2, 1/4, so the 2.5th and 97.5th percentiles are 0 and 1.
    Resampling clips would also give 1/4 and 1/2."""
    from recipe.components.uncertainty import bootstrap_ci

    y_true, y_pred = np.array([0, 1, 2, 3]), np.array([0, 1, 2, 0])
    ci = bootstrap_ci(y_true, y_pred, 6, speakers=["A", "A", "A", "B"], n_resamples=2000, seed=1)
    assert ci["resampled"] == "speakers" and ci["n_clusters"] == 2 and ci["confidence"] == 0.95
    assert ci["accuracy"] == [0.0, 1.0]
    # the distribution itself: only the three whole-speaker pools occur
    import scipy.stats

    from recipe.components.uncertainty import cluster_confusions, metrics_from_confusion

    per = cluster_confusions(y_true, y_pred, np.array(["A", "A", "A", "B"], dtype=object), 6)
    res = scipy.stats.bootstrap(
        (np.arange(2),),
        lambda i, axis=-1: metrics_from_confusion(per[i].sum(-3))[0],
        n_resamples=500,
        vectorized=True,
        method="percentile",
        rng=np.random.default_rng(0),
    )
    assert set(np.round(res.bootstrap_distribution, 6)) == {0.0, 0.75, 1.0}


def test_clip_bootstrap_percentiles_by_hand():
    """No speaker ids: clips are resampled. All right -> every resample is 1 (interval [1, 1]); one clip of 10 wrong
    -> the interval is the 2.5th/97.5th percentile of k/10 with k ~ Binomial(10, 0.9): k = 7 and k = 10."""
    from recipe.components.uncertainty import bootstrap_ci

    y = np.array([0, 1, 2, 3, 4, 5, 0, 1, 2, 3])
    perfect = bootstrap_ci(y, y, 6, n_resamples=500)
    assert perfect["resampled"] == "clips" and perfect["accuracy"] == [1.0, 1.0] and perfect["uar"] == [1.0, 1.0]
    one_wrong = y.copy()
    one_wrong[0] = 5
    ci = bootstrap_ci(y, one_wrong, 6, n_resamples=20000, seed=3)
    # scipy's percentile interval interpolates between order statistics: P(k <= 6) = 1.3 %, P(k <= 7) = 7.0 %,
    # P(k = 10) = 34.9 %, so the bounds land between 0.6 and 0.8 and exactly at 1.0
    assert 0.6 <= ci["accuracy"][0] <= 0.8 and ci["accuracy"][1] == 1.0
    assert ci["n_clusters"] == 10 and ci["seed"] == 3
    assert bootstrap_ci(y, one_wrong, 6, n_resamples=2000, seed=3) == bootstrap_ci(
        y, one_wrong, 6, n_resamples=2000, seed=3
    )


def test_mean_std_ci_is_the_t_interval():
    from recipe.components.uncertainty import mean_std_ci

    stats = mean_std_ci([0.5, 0.6, 0.7])
    # mean 0.6, sd 0.1, t(0.975, 2) = 4.302653 -> half width 4.302653 * 0.1 / sqrt(3) = 0.248414
    assert stats["mean"] == pytest.approx(0.6) and stats["std"] == pytest.approx(0.1)
    assert stats["ci95"] == pytest.approx([0.6 - 0.248414, 0.6 + 0.248414], abs=1e-6)
    assert mean_std_ci([0.4]) == {"mean": 0.4, "std": None, "ci95": None}
