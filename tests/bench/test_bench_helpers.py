"""bench helpers: the length distribution and the choice of timed batches (behaviour only, no timing)."""
from __future__ import annotations

import numpy as np

from bench.lengths import MAX_S, MIN_S, describe, quantile_durations, quantile_lengths
from bench.report import train_ratios


def test_length_distribution_is_the_documented_one() -> None:
    durations = quantile_durations(4000)
    assert durations.min() >= MIN_S and durations.max() <= MAX_S
    assert abs(np.median(durations) - 2.5) < 0.01
    assert abs((durations > 4.0).mean() - 0.10) < 0.01  # the tail beyond 4 s
    assert np.array_equal(quantile_durations(50, seed=3), quantile_durations(50, seed=3))  # deterministic
    assert not np.array_equal(np.sort(quantile_durations(50)), quantile_durations(50))  # shuffled
    assert quantile_lengths(10).dtype == np.int64
    assert 2.6 < describe()["mean_s"] < 2.8


def test_pick_batches_warms_up_on_the_shortest_and_spreads_the_timed_ones() -> None:
    from bench.train_bench import pick_batches  # imports recipe/transformers: keep it inside the test

    lengths = np.arange(100, 100 + 40 * 10, 10)  # 40 clips of increasing length
    order = list(range(40))  # already grouped: batches of 4 consecutive clips
    warmup, picks = pick_batches(order, lengths, batch_size=4, count=3)
    assert warmup == [0, 1, 2, 3]
    two_warmup, _ = pick_batches(order, lengths, batch_size=4, count=3, warmup_count=2)
    assert two_warmup == list(range(8))
    assert len(picks) == 3 and all(len(batch) == 4 for batch in picks)
    maxima = [int(lengths[batch].max()) for batch in picks]
    assert maxima == sorted(maxima) and maxima[0] > lengths[3] and maxima[-1] < lengths[-1]
    assert not set(warmup) & {i for batch in picks for i in batch}


def test_train_ratios_pair_fast_with_naive() -> None:
    rows = [
        {"model": "base", "device": "cpu", "dtype": "fp32", "mode": "fast", "clips_per_s": 3.0},
        {"model": "base", "device": "cpu", "dtype": "fp32", "mode": "naive", "clips_per_s": 1.0},
        {"model": "tiny", "device": "cpu", "dtype": "fp32", "mode": "fast", "clips_per_s": 2.0},
        {"model": "tiny", "device": "cpu", "dtype": "fp32", "mode": "naive", "clips_per_s": 1.0},
    ]
    ratios = train_ratios(rows)
    assert [(r["model"], r["fast_over_naive"], r["met"]) for r in ratios] == [("tiny", 2.0, False), ("base", 3.0, True)]


def test_onnx_int8_row_has_its_own_rtf_target() -> None:
    from bench.report import target_summary

    rows = [{"variant": v, "batch_size": bs, "rtf": rtf} for v, bs, rtf in
            (("fp32", 1, 0.2), ("fp32", 8, 0.04), ("onnx-fp32", 8, 0.04), ("onnx-int8", 8, 0.04))]
    targets = {t["target"]: t["met"] for t in target_summary({"infer": {"rows": rows}})}
    assert targets == {"CPU RTF batched <= 0.05 (wav2vec2-base, fp32)": True,
                       "CPU RTF batched <= 0.05 (wav2vec2-base, onnx-fp32)": True,
                       "CPU RTF batched <= 0.03 (wav2vec2-base, onnx-int8)": False}
