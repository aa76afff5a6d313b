"""bench helpers: the length distribution and the choice of timed batches (behaviour only, no timing)."""

from __future__ import annotations

import numpy as np

from bench.lengths import MAX_S, MIN_S, describe, quantile_durations, quantile_lengths
from bench.report import BEGIN_MARK, END_MARK, infer_speedups, precision_ratios, train_ratios, write_tables


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
    assert all(r["fast_over_naive_median"] is None for r in ratios)


def test_precision_ratios_compare_fast_rows_with_the_reference() -> None:
    rows = [
        {"model": "base", "device": "cpu", "dtype": "fp32", "mode": "fast", "clips_per_s": 2.0, "clips_per_cpu_s": 1.0},
        {"model": "base", "device": "cpu", "dtype": "fp32", "mode": "naive", "clips_per_s": 1.0},
        {"model": "base", "device": "cpu", "dtype": "bf16", "mode": "fast", "clips_per_s": 4.5, "clips_per_cpu_s": 2.5},
    ]
    assert precision_ratios(rows) == [
        {
            "model": "base",
            "device": "cpu",
            "dtype": "bf16",
            "reference": "fp32",
            "speedup": 2.25,
            "speedup_median": None,  # rows without per-repeat figures
            "speedup_cpu_time": 2.5,
        }
    ]
    # a slow first repeat (new batch shapes on a GPU) drags the all-repeats ratio; the median repeats' is kept apart
    rows[0]["clips_per_s_spread"] = {"min": 1.0, "median": 2.0, "max": 2.1}
    rows[2]["clips_per_s_spread"] = {"min": 0.5, "median": 3.0, "max": 3.1}
    assert precision_ratios(rows)[0]["speedup_median"] == 1.5
    infer = {
        "rows": [
            {"variant": "fp32", "batch_size": 1, "seconds": 9.0},
            {"variant": "fp32", "batch_size": 8, "seconds": 8.0},
            {"variant": "bf16", "batch_size": 8, "seconds": 2.0},
        ]
    }
    assert infer_speedups(infer) == {"bf16": 4.0}


def test_report_replaces_only_the_marked_block(tmp_path) -> None:
    results = {
        "command": "python -m bench",
        "date": "d",
        "wall_s": 1.0,
        "machine": {"cpu": "CPU", "cpus_usable": 2, "torch": "t", "transformers": "x"},
        "infer": {
            "device": "cpu",
            "clips": 1,
            "audio_s": 2.0,
            "rows": [{"variant": "fp32", "batch_size": 8, "seconds": 1.0, "rtf": 0.5}],
        },
    }
    doc = tmp_path / "performance.md"
    doc.write_text(f"# Prose before\n\n{BEGIN_MARK}\nold tables\n{END_MARK}\n\nProse after\n")
    write_tables(results, "results.json", doc)
    text = doc.read_text()
    assert text.startswith("# Prose before") and text.endswith("Prose after\n") and "old tables" not in text
    assert "| fp32 | cpu | 8 |" in text and "Measured by `python -m bench`" in text


def test_parity_groups_runs_by_training_precision(tmp_path, capsys) -> None:
    import json

    from bench.parity import main as parity_main
    from tests.support.run_fixtures import make_fake_run

    folders = []
    for i, precision in enumerate(("bf16", "fp32", "bf16")):
        out, _ = make_fake_run(tmp_path / str(i))
        info = json.loads((out / "run_info.json").read_text())
        (out / "run_info.json").write_text(json.dumps({**info, "precision": precision}))
        folders.append(str(out))
    assert parity_main(folders) == 0
    rows = capsys.readouterr().out.strip().splitlines()[2:]
    assert [row.split(" | ")[:3] for row in rows] == [["| bf16", "2", "42, 42"], ["| fp32", "1", "42"]]
    assert " ± 0.0 |" in rows[0]  # the same fake scores in both bf16 runs
    assert parity_main([str(tmp_path / "missing")]) == 2


def test_onnx_int8_row_has_its_own_rtf_target() -> None:
    from bench.report import target_summary

    rows = [
        {"variant": v, "batch_size": bs, "rtf": rtf}
        for v, bs, rtf in (("fp32", 1, 0.2), ("fp32", 8, 0.04), ("onnx-fp32", 8, 0.04), ("onnx-int8", 8, 0.04))
    ]
    targets = {t["target"]: t["met"] for t in target_summary({"infer": {"rows": rows}})}
    assert targets == {
        "CPU RTF batched <= 0.05 (wav2vec2-base, fp32)": True,
        "CPU RTF batched <= 0.05 (wav2vec2-base, onnx-fp32)": True,
        "CPU RTF batched <= 0.03 (wav2vec2-base, onnx-int8)": False,
    }
