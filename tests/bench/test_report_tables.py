"""bench.report builds each table once: the terminal summary and the Markdown of docs/performance.md show the
same cells, and the training rows carry the spread of their timed steps."""

from __future__ import annotations

import re

from bench.report import format_results, markdown_tables, precision_ratios, target_summary, train_ratios


def _train_row(mode: str, dtype: str, clips_per_s: float) -> dict:
    return {
        "model": "tiny",
        "device": "cpu",
        "dtype": dtype,
        "mode": mode,
        "batch_size": 8,
        "grad_accum": 1,
        "timed_steps": 25,
        "padding_efficiency": 0.8,
        "clips_per_s": clips_per_s,
        "clips_per_s_spread": {"min": clips_per_s - 1, "median": clips_per_s, "max": clips_per_s + 2},
        "audio_s_per_s": 30.0,
        "peak_cuda_mb": None,
        "peak_rss_mb": 512.0,
        "clips_per_cpu_s": 4.5,
    }


def _results() -> dict:
    train = [_train_row("fast", "fp32", 10.0), _train_row("naive", "fp32", 4.0), _train_row("fast", "bf16", 15.0)]
    results = {
        "date": "2026-01-01",
        "wall_s": 12.0,
        "results_file": "bench/results.json",
        "machine": {"cpu": "CPU", "cpus_usable": 2, "torch": "t", "device": "cpu", "load_average_at_start": [1.0]},
        "prepare": {
            "files": 400,
            "sample_rates": [16000, 44100],
            "workers": 2,
            "decode_s": 2.0,
            "files_per_s": 200.0,
            "files_per_s_after_first": 210.0,
            "audio_s_per_s": 900.0,
            "cli_s": 3.0,
            "cli_files_per_s": 133.3,
        },
        "train": train,
        "train_ratios": train_ratios(train),
        "precision_ratios": precision_ratios(train),
        "infer": {
            "model": "wav2vec2-base",
            "device": "cpu",
            "clips": 8,
            "audio_s": 16.0,
            "torch_threads": 2,
            "rows": [
                {"variant": "fp32", "batch_size": 8, "seconds": 1.6, "cpu_seconds": 3.2, "rtf": 0.1, "clips_per_s": 5},
                {
                    "variant": "int8",
                    "batch_size": 8,
                    "seconds": 0.8,
                    "cpu_seconds": 1.6,
                    "rtf": 0.05,
                    "clips_per_s": 10,
                },
            ],
        },
    }
    results["targets"] = target_summary(results)
    return results


def _markdown_rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    return [[c for c in line[2:-2].split(" | ") if c] for line in lines]


def test_terminal_and_markdown_show_the_same_rows():
    results = _results()
    terminal, markdown = format_results(results), markdown_tables(results)
    terminal_rows = [re.split(r"\s{2,}", line.strip()) for line in terminal.splitlines()]
    md_rows = _markdown_rows(markdown)
    assert len(md_rows) == 14  # 5 tables: their headers and 2 + 3 + 1 + 1 + 2 rows
    for row in md_rows:
        assert row in terminal_rows
    # the spread of the timed steps, the ratios (10 / 4 and 15 / 10) and the int8 speed-up (3.2 / 1.6 CPU s)
    assert ["tiny", "cpu", "fp32", "fast", "8 x 1", "25", "0.8", "10.0", "9.0 / 10.0 / 12.0", "30.0"] == md_rows[4][:10]
    # equal CPU time per clip in both rows; the median repeats' ratio from the spreads (10 / 4, 15 / 10)
    assert ["tiny", "cpu", "fp32", "2.50x", "1.00x", "2.50x", ">= 2.5x"] in md_rows
    assert ["tiny", "cpu", "bf16", "1.50x", "1.00x", "1.50x"] in md_rows
    assert ["int8", "cpu", "8", "8", "16.0", "0.8", "1.6", "0.05", "0.1", "2.00x"] in md_rows
    # the targets are the terminal's verdict only
    assert ["train fast/naive >= 2.5 (tiny, cpu fp32)", "2.5", "yes"] in terminal_rows
    assert "train fast/naive" not in markdown


def test_rows_without_a_recorded_spread_leave_the_cell_empty():
    results = _results()
    for row in results["train"]:
        del row["clips_per_s_spread"]
    assert "| 10.0 |  | 30.0 |" in markdown_tables(results)
