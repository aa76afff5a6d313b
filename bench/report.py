"""Target checks, the printed table of `make bench` and the Markdown tables of docs/performance.md."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.tables import markdown_table, text_table

# The recipe's speed targets, checked by `make bench` against the naive paths (docs/performance.md).
TARGET_TRAIN_RATIO = 2.5  # fast / naive training clips per second, realistic length mix
TARGET_PREPARE_FILES_S = 200.0  # decoding + resampling + cropping, 2 cores
TARGET_RTF_BATCHED = 0.05  # wav2vec2-base, CPU, batched (onnxruntime fp32 too)
TARGET_RTF_ONNX_INT8 = 0.03  # wav2vec2-base, CPU, onnxruntime int8


def emit_json(result: dict[str, Any], out: str | None) -> None:
    """Write a result as JSON to `out` (creating its folder), or print it (each bench script runs in its own
    process)."""
    text = json.dumps(result, indent=2)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n")
    else:
        print(text)


def _median_ratio(row: dict[str, Any], base: dict[str, Any]) -> float | None:
    """Ratio of the median repeats' clips/s: on a GPU the first repeat also pays for every batch shape it meets for
    the first time (kernel selection), which the later repeats of the same batches do not."""
    a, b = row.get("clips_per_s_spread"), base.get("clips_per_s_spread")
    return round(a["median"] / b["median"], 2) if a and b else None


def train_ratios(train_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """fast/naive clips-per-second ratio for every (model, device, dtype) measured in both modes."""
    ratios = []
    keys = sorted({(r["model"], r["device"], r["dtype"]) for r in train_rows}, key=lambda k: (k[0] != "tiny", k))
    for model, device, dtype in keys:
        modes = {r["mode"]: r for r in train_rows if (r["model"], r["device"], r["dtype"]) == (model, device, dtype)}
        if "fast" in modes and "naive" in modes:
            ratio = modes["fast"]["clips_per_s"] / modes["naive"]["clips_per_s"]
            entry = {
                "model": model,
                "device": device,
                "dtype": dtype,
                "fast_over_naive": round(ratio, 2),
                "fast_over_naive_median": _median_ratio(modes["fast"], modes["naive"]),
                "target": TARGET_TRAIN_RATIO,
                "met": ratio >= TARGET_TRAIN_RATIO,
            }
            if modes["fast"].get("clips_per_cpu_s") and modes["naive"].get("clips_per_cpu_s"):
                cpu_ratio = modes["fast"]["clips_per_cpu_s"] / modes["naive"]["clips_per_cpu_s"]
                entry["fast_over_naive_cpu_time"] = round(cpu_ratio, 2)
            ratios.append(entry)
    return ratios


def precision_ratios(train_rows: list[dict[str, Any]], reference: str = "fp32") -> list[dict[str, Any]]:
    """Speed of every other precision over `reference` (clips/s and clips per CPU-second), fast mode, per model."""
    out = []
    fast = [r for r in train_rows if r["mode"] == "fast"]
    for row in fast:
        base = next(
            (r for r in fast if (r["model"], r["device"], r["dtype"]) == (row["model"], row["device"], reference)), None
        )
        if base is None or row["dtype"] == reference:
            continue
        entry = {
            "model": row["model"],
            "device": row["device"],
            "dtype": row["dtype"],
            "reference": reference,
            "speedup": round(row["clips_per_s"] / base["clips_per_s"], 2),
            "speedup_median": _median_ratio(row, base),
        }
        if row.get("clips_per_cpu_s") and base.get("clips_per_cpu_s"):
            entry["speedup_cpu_time"] = round(row["clips_per_cpu_s"] / base["clips_per_cpu_s"], 2)
        out.append(entry)
    return out


def infer_speedups(infer: dict[str, Any]) -> dict[str, float]:
    """fp32 seconds / variant seconds at the batched size, per variant other than fp32 (process CPU seconds when
    measured: less disturbed by other work than wall clock)."""
    batched = [r for r in infer["rows"] if r["batch_size"] > 1]
    ref = next((r for r in batched if r["variant"] == "fp32"), None)
    if ref is None:
        return {}
    key = "cpu_seconds" if all("cpu_seconds" in r for r in batched) else "seconds"
    return {r["variant"]: round(ref[key] / r[key], 2) for r in batched if r["variant"] != "fp32"}


def target_summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each speed target with the measured figure and whether it is met."""
    out = []
    prep = results.get("prepare")
    if prep:
        out.append(
            {
                "target": f"prepare >= {TARGET_PREPARE_FILES_S:.0f} files/s (decode stage)",
                "measured": prep["files_per_s"],
                "met": prep["files_per_s"] >= TARGET_PREPARE_FILES_S,
            }
        )
    for ratio in results.get("train_ratios", []):
        out.append(
            {
                "target": f"train fast/naive >= {TARGET_TRAIN_RATIO} ({ratio['model']}, {ratio['device']} "
                f"{ratio['dtype']})",
                "measured": ratio["fast_over_naive"],
                "met": ratio["met"],
            }
        )
    infer = results.get("infer")
    if infer:
        batched = [r for r in infer["rows"] if r["batch_size"] > 1]
        for row in batched:
            target = TARGET_RTF_ONNX_INT8 if row["variant"] == "onnx-int8" else TARGET_RTF_BATCHED
            out.append(
                {
                    "target": f"CPU RTF batched <= {target} (wav2vec2-base, {row['variant']})",
                    "measured": row["rtf"],
                    "met": row["rtf"] <= target,
                }
            )
    return out


@dataclass
class Table:
    """One table of the report, built once and rendered as aligned text (terminal, headed by ``caption``) and, unless
    ``markdown`` is False, as Markdown (docs/performance.md)."""

    headers: list[str]
    rows: list[list[Any]]
    caption: str = ""
    markdown: bool = True


def _times(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio:.2f}x"


def _spread(row: dict[str, Any]) -> str:
    """min / median / max clips/s over the timed steps ("" for results written before they were recorded)."""
    spread = row.get("clips_per_s_spread")
    return "" if not spread else f"{spread['min']} / {spread['median']} / {spread['max']}"


def prepare_tables(prep: dict[str, Any]) -> list[Table]:
    rows = [
        [
            "decode stage (`data_prep.decode.decoded_rows`)",
            prep["files"],
            prep["workers"],
            prep["decode_s"],
            prep["files_per_s"],
            prep["files_per_s_after_first"],
        ],
    ]
    if prep.get("cli_s") is not None:
        rows.append(["whole `python -m data_prep` command", prep["files"], prep["workers"], prep["cli_s"]])
        rows[-1] += [prep.get("cli_files_per_s"), ""]
    caption = (
        "Prepare (decode + mono + 8 s crop + resample to 16 kHz + SHA-1; "
        f"{prep['files']} WAV files at {'/'.join(str(r) for r in prep.get('sample_rates', []))} Hz)"
    )
    headers = ["prepare path", "files", "workers", "seconds", "files/s", "files/s after 1st result"]
    return [Table(headers, rows, caption)]


def train_tables(results: dict[str, Any]) -> list[Table]:
    headers = [
        "model",
        "device",
        "dtype",
        "mode",
        "batch x accum",
        "timed steps",
        "real/padded samples",
        "clips/s",
        "clips/s of the repeats min / median / max",
        "audio s/s",
        "peak memory MiB",
        "clips per CPU-s",
    ]
    rows = [
        [
            r["model"],
            r["device"],
            r["dtype"],
            r["mode"],
            f"{r['batch_size']} x {r.get('grad_accum', 1)}",
            r["timed_steps"],
            r["padding_efficiency"],
            r["clips_per_s"],
            _spread(r),
            r["audio_s_per_s"],
            f"{r['peak_cuda_mb']} (CUDA)" if r["peak_cuda_mb"] is not None else f"{r['peak_rss_mb']} (RSS)",
            r.get("clips_per_cpu_s", ""),
        ]
        for r in results["train"]
    ]
    tables = [Table(headers, rows, "Training (SERTrainer steps after 1 warm-up step; realistic length mix)")]
    ratio_rows = [
        [
            r["model"],
            r["device"],
            r["dtype"],
            f"{r['fast_over_naive']:.2f}x",
            f"{r['fast_over_naive_cpu_time']:.2f}x" if "fast_over_naive_cpu_time" in r else "",
            _times(r.get("fast_over_naive_median")),
            f">= {r['target']}x",
        ]
        for r in results.get("train_ratios", [])
    ]
    headers = ["model", "device", "dtype", "fast / naive (wall clock)", "fast / naive (CPU time)"]
    headers += ["fast / naive (median repeats)", "target"]
    tables.append(Table(headers, ratio_rows, "Fast over naive padding"))
    if results.get("precision_ratios"):
        headers = ["model", "device", "precision", "speed over fp32 (clips/s)", "speed over fp32 (CPU time)"]
        headers.append("speed over fp32 (median repeats)")
        rows = [
            [
                r["model"],
                r["device"],
                r["dtype"],
                f"{r['speedup']:.2f}x",
                f"{r['speedup_cpu_time']:.2f}x" if "speedup_cpu_time" in r else "",
                _times(r.get("speedup_median")),
            ]
            for r in results["precision_ratios"]
        ]
        tables.append(Table(headers, rows, "Precision over fp32"))
    return tables


def infer_table(infer: dict[str, Any]) -> Table:
    speedups = infer_speedups(infer)
    headers = [
        "variant",
        "device",
        "batch",
        "clips",
        "audio s",
        "seconds",
        "CPU s",
        "RTF",
        "RTF (CPU s)",
        "speed over fp32",
        "top-1 = fp32",
        "max abs prob diff",
    ]
    rows = [
        [
            r["variant"],
            infer["device"],
            r["batch_size"],
            infer["clips"],
            infer["audio_s"],
            r["seconds"],
            r.get("cpu_seconds", ""),
            r["rtf"],
            round(r["cpu_seconds"] / infer["audio_s"], 4) if "cpu_seconds" in r else "",
            f"{speedups[r['variant']]:.2f}x" if r["batch_size"] > 1 and r["variant"] in speedups else "",
            r.get("top1_agreement", ""),
            r.get("max_abs_prob_diff", ""),
        ]
        for r in infer["rows"]
    ]
    caption = f"Inference ({infer.get('model', 'model')}, {infer['device']}, {infer.get('torch_threads', '?')} threads)"
    return Table(headers, rows, caption)


def recipe_table(runs: list[dict[str, Any]]) -> Table:
    headers = [
        "model",
        "precision",
        "train/val clips",
        "batch x accum",
        "start-up s",
        "setup s",
        "`train()` s",
        "after s",
        "wall s",
        "validation pass skipped s",
    ]
    rows = [
        [
            r["model"],
            r["precision"],
            f"{r['train_clips']}/{r['eval_clips']}",
            r["batch"],
            r["startup_s"],
            r["setup_s"],
            r["train_s"],
            r["after_s"],
            r["wall_s"],
            r["validation_pass_skipped_s"],
        ]
        for r in runs
    ]
    return Table(headers, rows, "Whole `python -m recipe.train` runs (1 epoch)")


def segment_tables(segment: dict[str, Any]) -> list[Table]:
    """bench.segment_bench: the long-file predict run and the voice activity detectors compared."""
    tables = []
    if segment.get("long"):
        long = segment["long"]
        headers = ["audio h", "segments", "seconds", "CPU s", "RTF", "RTF (CPU s)", "peak RSS MB"]
        rows = [
            [
                round(long["audio_s"] / 3600, 2),
                long["segments"],
                long["wall_s"],
                long["cpu_s"],
                long["rtf"],
                long["rtf_cpu"],
                long["peak_rss_mb"],
            ]
        ]
        tables.append(Table(headers, rows, f"Long recording (`{long['command']}`, {long['model']})"))
    if segment.get("vad"):
        vad = segment["vad"]
        headers = ["detector", "noise dBFS", "found", "bounds <= 0.3 s", "false alarm s", "RTF (CPU s)"]
        rows = [
            [
                r["detector"],
                r["noise_db"],
                r["found"],
                r["boundaries_within_0.3s"],
                r["false_alarm_s"],
                r["rtf_cpu"],
            ]
            for r in vad["rows"]
        ]
        caption = (
            f"Voice activity detectors ({vad['audio_s']} s of {vad['speech']} speech, {vad['utterances']} utterances)"
        )
        tables.append(Table(headers, rows, caption))
    return tables


def result_tables(results: dict[str, Any]) -> list[Table]:
    """Every table of a results.json, in report order; each is rendered by format_results and markdown_tables."""
    tables: list[Table] = []
    if results.get("prepare"):
        tables += prepare_tables(results["prepare"])
    if results.get("train"):
        tables += train_tables(results)
    tables += [infer_table(infer) for infer in [results.get("infer"), *results.get("infer_device", [])] if infer]
    if results.get("recipe"):
        tables.append(recipe_table(results["recipe"]))
    if results.get("segment"):
        tables += segment_tables(results["segment"])
    if results.get("targets"):
        rows = [[t["target"], t["measured"], "yes" if t["met"] else "NO"] for t in results["targets"]]
        tables.append(Table(["target", "measured", "met"], rows, "Targets", markdown=False))
    return tables


def format_results(results: dict[str, Any]) -> str:
    """The human-readable summary printed at the end of `make bench`."""
    m = results["machine"]
    parts = [
        f"SER recipe benchmark - {results['date']} - {m['cpu']} ({m['cpus_usable']} usable CPUs, "
        f"load {m['load_average_at_start']}), torch {m['torch']}, device {m['device']}"
        + (f" ({m['gpu_name']})" if m.get("gpu_name") else "")
    ]
    for table in result_tables(results):
        parts += [f"\n{table.caption}", text_table(table.headers, table.rows)]
    parts.append(f"\nwall time {results['wall_s']:.0f} s; written to {results['results_file']}")
    return "\n".join(parts)


def markdown_tables(results: dict[str, Any]) -> str:
    """The Markdown tables of docs/performance.md, generated from a results.json (``python -m bench.report FILE``)."""
    return "\n\n".join(markdown_table(t.headers, t.rows) for t in result_tables(results) if t.markdown)


BEGIN_MARK, END_MARK = "<!-- bench tables: begin -->", "<!-- bench tables: end -->"


def write_tables(results: dict[str, Any], results_path: str, out: Path) -> None:
    """Write the tables, headed by what measured them, to `out`; when `out` already holds the begin/end markers,
    only the text between them is replaced (so docs/performance.md keeps its prose)."""
    m = results["machine"]
    block = (
        f"{BEGIN_MARK}\n<!-- generated by `python -m bench.report {results_path} --out {out}` -->\n\n"
        f"Measured by `{results.get('command', 'python -m bench')}` ({results.get('date', '?')}, "
        f"{results.get('wall_s', '?')} s): {m['cpu']}, {m['cpus_usable']} usable CPUs, torch {m['torch']}, "
        f"transformers {m['transformers']}.\n\n{markdown_tables(results)}\n{END_MARK}"
    )
    text = out.read_text() if out.is_file() else ""
    if BEGIN_MARK in text and END_MARK in text:
        head, rest = text.split(BEGIN_MARK, 1)
        text = head + block + rest.split(END_MARK, 1)[1]
    else:
        text = block + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.report [RESULTS] [--out FILE]`: the Markdown tables of a results.json, printed or written."""
    from common.cli import UserError, run_cli
    from common.config import CliParser

    ap = CliParser(prog="python -m bench.report", description=main.__doc__)
    ap.add_argument("results", nargs="?", default="bench/results.json", help="results.json of python -m bench")
    ap.add_argument("--out", help="write the tables here (between the bench-tables markers if the file has them)")
    args = ap.parse_args(argv)

    def tables() -> int:
        try:
            results = json.loads(Path(args.results).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise UserError(f"{args.results}: cannot read the results ({err})") from None
        if args.out:
            write_tables(results, args.results, Path(args.out))
        else:
            print(markdown_tables(results))
        return 0

    return run_cli("bench.report", tables)


if __name__ == "__main__":
    raise SystemExit(main())
