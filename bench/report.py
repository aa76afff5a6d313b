"""Target checks, the printed table of `make bench` and the Markdown tables of docs/performance.md."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common.tables import markdown_table, text_table

# The recipe's speed targets, checked by `make bench` against the naive paths (docs/performance.md).
TARGET_TRAIN_RATIO = 2.5        # fast / naive training clips per second, realistic length mix
TARGET_PREPARE_FILES_S = 200.0  # decoding + resampling + cropping, 2 cores
TARGET_RTF_BATCHED = 0.05       # wav2vec2-base, CPU, batched


def emit_json(result: dict[str, Any], out: str | None) -> None:
    """Write a result as JSON to `out` (creating its folder), or print it (each bench script runs in its own
    process)."""
    text = json.dumps(result, indent=2)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n")
    else:
        print(text)


def train_ratios(train_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """fast/naive clips-per-second ratio for every (model, device, dtype) measured in both modes."""
    ratios = []
    keys = sorted({(r["model"], r["device"], r["dtype"]) for r in train_rows}, key=lambda k: (k[0] != "tiny", k))
    for model, device, dtype in keys:
        modes = {r["mode"]: r for r in train_rows if (r["model"], r["device"], r["dtype"]) == (model, device, dtype)}
        if "fast" in modes and "naive" in modes:
            ratio = modes["fast"]["clips_per_s"] / modes["naive"]["clips_per_s"]
            entry = {"model": model, "device": device, "dtype": dtype, "fast_over_naive": round(ratio, 2),
                     "target": TARGET_TRAIN_RATIO, "met": ratio >= TARGET_TRAIN_RATIO}
            if modes["fast"].get("clips_per_cpu_s") and modes["naive"].get("clips_per_cpu_s"):
                cpu_ratio = modes["fast"]["clips_per_cpu_s"] / modes["naive"]["clips_per_cpu_s"]
                entry["fast_over_naive_cpu_time"] = round(cpu_ratio, 2)
            ratios.append(entry)
    return ratios


def target_summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each speed target with the measured figure and whether it is met."""
    out = []
    prep = results.get("prepare")
    if prep:
        out.append({"target": f"prepare >= {TARGET_PREPARE_FILES_S:.0f} files/s (decode stage)",
                    "measured": prep["files_per_s"], "met": prep["files_per_s"] >= TARGET_PREPARE_FILES_S})
    for ratio in results.get("train_ratios", []):
        out.append({"target": f"train fast/naive >= {TARGET_TRAIN_RATIO} ({ratio['model']}, {ratio['device']} "
                              f"{ratio['dtype']})", "measured": ratio["fast_over_naive"], "met": ratio["met"]})
    infer = results.get("infer")
    if infer:
        batched = [r for r in infer["rows"] if r["batch_size"] > 1]
        for row in batched:
            out.append({"target": f"CPU RTF batched <= {TARGET_RTF_BATCHED} (wav2vec2-base, {row['variant']})",
                        "measured": row["rtf"], "met": row["rtf"] <= TARGET_RTF_BATCHED})
    return out


def format_results(results: dict[str, Any]) -> str:
    """The human-readable summary printed at the end of `make bench`."""
    m = results["machine"]
    parts = [f"SER recipe benchmark - {results['date']} - {m['cpu']} ({m['cpus_usable']} usable CPUs, "
             f"load {m['load_average_at_start']}), torch {m['torch']}, device {m['device']}"
             + (f" ({m['gpu_name']})" if m.get("gpu_name") else "")]
    prep = results.get("prepare")
    if prep:
        parts.append("\nPrepare (decode + mono + 8 s crop + resample to 16 kHz + SHA-1; "
                     f"{prep['files']} WAV files at {'/'.join(str(r) for r in prep['sample_rates'])} Hz)")
        rows = [["decode stage (data_prep.decode)", prep["workers"], prep["decode_s"], prep["files_per_s"],
                 prep["files_per_s_after_first"], prep["audio_s_per_s"]]]
        if prep.get("cli_s") is not None:
            rows.append(["whole `python -m data_prep` CLI", prep["workers"], prep["cli_s"], prep["cli_files_per_s"],
                         "", ""])
        parts.append(text_table(["path", "workers", "seconds", "files/s", "files/s after 1st", "audio s/s"], rows))
    train = results.get("train")
    if train:
        parts.append("\nTraining (SERTrainer steps after 1 warm-up step; realistic length mix)")
        rows = [[r["model"], r["device"], r["dtype"], r["mode"], f"{r['batch_size']}x{r.get('grad_accum', 1)}",
                 r["timed_steps"],
                 r["padding_efficiency"], r["clips_per_s"], r["audio_s_per_s"],
                 r["peak_cuda_mb"] if r["peak_cuda_mb"] is not None else r["peak_rss_mb"],
                 r.get("clips_per_cpu_s")] for r in train]
        parts.append(text_table(["model", "device", "dtype", "mode", "batch x accum", "steps", "real/padded", "clips/s",
                             "audio s/s", "peak MiB", "clips/CPU-s"], rows))
        for ratio in results.get("train_ratios", []):
            cpu = ratio.get("fast_over_naive_cpu_time")
            parts.append(f"  fast/naive {ratio['model']} {ratio['device']} {ratio['dtype']}: "
                         f"{ratio['fast_over_naive']:.2f}x wall clock (target >= {ratio['target']})"
                         + (f", {cpu:.2f}x in CPU time" if cpu is not None else ""))
    infer = results.get("infer")
    if infer:
        parts.append(f"\nInference ({infer['model']}, {infer['device']}, {infer['clips']} clips, "
                     f"{infer['audio_s']} s of audio, {infer['torch_threads']} threads)")
        rows = [[r["variant"], r["batch_size"], r["seconds"], r["rtf"], r["clips_per_s"],
                 r.get("top1_agreement", ""), r.get("max_abs_prob_diff", "")] for r in infer["rows"]]
        parts.append(text_table(["variant", "batch", "seconds", "RTF", "clips/s", "top-1 = fp32", "max |dp|"], rows))
    for extra in results.get("infer_device", []):
        parts.append(f"\nInference on {extra['device']}")
        rows = [[r["variant"], r["batch_size"], r["seconds"], r["rtf"], r["clips_per_s"]] for r in extra["rows"]]
        parts.append(text_table(["variant", "batch", "seconds", "RTF", "clips/s"], rows))
    targets = results.get("targets")
    if targets:
        parts.append("\nTargets")
        rows = [[t["target"], t["measured"], "yes" if t["met"] else "NO"] for t in targets]
        parts.append(text_table(["target", "measured", "met"], rows))
    parts.append(f"\nwall time {results['wall_s']:.0f} s; written to {results['results_file']}")
    return "\n".join(parts)


def markdown_tables(results: dict[str, Any]) -> str:
    """The Markdown tables of docs/performance.md, generated from a results.json (``python -m bench.report FILE``)."""
    parts = []
    prep = results.get("prepare")
    if prep:
        headers = ["prepare path", "files", "workers", "seconds", "files/s", "files/s after 1st result"]
        parts.append(markdown_table(headers, [
            ["decode stage (`data_prep.decode.decoded_rows`)", prep["files"], prep["workers"], prep["decode_s"],
             prep["files_per_s"], prep["files_per_s_after_first"]],
            ["whole `python -m data_prep` command", prep["files"], prep["workers"], prep.get("cli_s"),
             prep.get("cli_files_per_s"), ""]]))
    train = results.get("train")
    if train:
        headers = ["model", "device", "dtype", "mode", "batch x accum", "timed steps", "real/padded samples",
                   "clips/s", "audio s/s", "peak memory MiB", "clips per CPU-s"]
        parts.append(markdown_table(headers, [
            [r["model"], r["device"], r["dtype"], r["mode"], f"{r['batch_size']} x {r.get('grad_accum', 1)}",
             r["timed_steps"], r["padding_efficiency"], r["clips_per_s"], r["audio_s_per_s"],
             f"{r['peak_cuda_mb']} (CUDA)" if r["peak_cuda_mb"] is not None else f"{r['peak_rss_mb']} (RSS)",
             r.get("clips_per_cpu_s", "")]
            for r in train]))
        headers = ["model", "device", "dtype", "fast / naive (wall clock)", "fast / naive (CPU time)", "target"]
        parts.append(markdown_table(headers, [
            [r["model"], r["device"], r["dtype"], f"{r['fast_over_naive']:.2f}x",
             f"{r['fast_over_naive_cpu_time']:.2f}x" if "fast_over_naive_cpu_time" in r else "", f">= {r['target']}x"]
            for r in results.get("train_ratios", [])]))
    for infer in [results.get("infer")] + list(results.get("infer_device", [])):
        if infer:
            headers = ["variant", "device", "batch", "clips", "audio s", "seconds", "RTF", "top-1 = fp32",
                       "max abs prob diff"]
            parts.append(markdown_table(headers, [
                [r["variant"], infer["device"], r["batch_size"], infer["clips"], infer["audio_s"], r["seconds"],
                 r["rtf"], r.get("top1_agreement", ""), r.get("max_abs_prob_diff", "")] for r in infer["rows"]]))
    return "\n\n".join(parts)


if __name__ == "__main__":
    import sys

    print(markdown_tables(json.loads(open(sys.argv[1] if len(sys.argv) > 1 else "bench/results.json").read())))
