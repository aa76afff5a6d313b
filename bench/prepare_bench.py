"""Prepare-stage speed: files per second through the recipe's own decoding path.

A corpus of WAV files at mixed sample rates (16 / 22.05 / 44.1 / 48 kHz), sample formats (16-bit PCM, every fifth
32-bit float, every seventh stereo) and lengths (`bench.lengths`, plus every 25th clip 10 s long so the 8 s centre
crop is exercised) is written to a temporary folder as ``<emotion>/<speaker>_<emotion>_<i>.wav``, then:

* ``decode``: `data_prep.decode.decoded_rows` (the process pool `python -m data_prep` uses, default worker count:
  read, mix to mono, centre crop, soxr resampling to 16 kHz, SHA-1 of the file), pool start-up included;
* ``cli``: the whole ``python -m data_prep --corpus folder=DIR`` command (interpreter start, scan, decode, Arrow
  table, splits, ``save_to_disk``, report), wall clock.

    python -m bench.prepare_bench [--files 400] [--out result.json]

Keep this module's top-level imports light (no datasets/torch): the decoding pool spawns fresh interpreters that
re-import the main module, exactly as it re-imports ``data_prep.__main__`` in a real run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from bench.lengths import quantile_durations, synthetic_wave
from bench.report import emit_json
from common.config import CliParser
from data_prep.config import PrepareConfig
from data_prep.decode import decoded_rows
from data_prep.labels import EMOTIONS

SAMPLE_RATES = (16000, 22050, 44100, 48000)
LONG_CLIP_EVERY = 25
LONG_CLIP_S = 10.0
SPEAKERS = 12


def write_corpus(folder: Path, n_files: int, seed: int = 0) -> list[dict[str, str]]:
    """Write `n_files` WAV files under `folder`; return them as the utterance dicts `decoded_rows` reads."""
    rng = np.random.default_rng(seed)
    durations = quantile_durations(n_files, seed)
    utterances = []
    for i, duration in enumerate(durations):
        if i % LONG_CLIP_EVERY == LONG_CLIP_EVERY - 1:
            duration = LONG_CLIP_S
        sr = SAMPLE_RATES[i % len(SAMPLE_RATES)]
        wave = synthetic_wave(int(round(duration * sr)), rng)
        if i % 7 == 3:  # some stereo files: the decoder mixes them down
            wave = np.stack([wave, wave[::-1]], axis=1)
        label = EMOTIONS[i % len(EMOTIONS)]
        speaker = f"spk{i % SPEAKERS:02d}"
        (folder / label).mkdir(parents=True, exist_ok=True)
        path = folder / label / f"{speaker}_{label}_{i:04d}.wav"
        sf.write(str(path), wave, sr, subtype="FLOAT" if i % 5 == 4 else "PCM_16")
        utterances.append(
            {"path": str(path), "label": label, "speaker": f"bench_{speaker}", "corpus": "bench", "language": "und"}
        )
    return utterances


def time_cli(corpus: Path, output: Path, workers: int) -> float:
    """Wall-clock seconds of the real `python -m data_prep` command on `corpus` (raises if it fails)."""
    cmd = [
        sys.executable,
        "-m",
        "data_prep",
        "--config",
        "configs/demo_data.yaml",
        "--corpus",
        f"folder={corpus}",
        "--output",
        str(output),
        "--per_class",
        "0",
        "--workers",
        str(workers),
    ]
    env = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"python -m data_prep failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return seconds


def run(n_files: int = 400, workers: int | None = None, cli: bool = True) -> dict[str, Any]:
    """Write the corpus, time the decoding stage and (optionally) the whole CLI, return the figures."""
    cfg = PrepareConfig()
    workers = cfg.num_workers if workers is None else workers
    root = Path(tempfile.mkdtemp(prefix="ser-bench-prepare-"))
    try:
        corpus = root / "corpus"
        utterances = write_corpus(corpus, n_files)
        audio_s = sum(sf.info(u["path"]).duration for u in utterances)
        os.environ["TQDM_DISABLE"] = "1"

        start = time.perf_counter()
        first = None
        rows = []
        for row in decoded_rows(utterances, cfg.sampling_rate, cfg.max_duration, cfg.min_duration, workers):
            if first is None:
                first = time.perf_counter()
            rows.append(row)
        end = time.perf_counter()
        errors = [r["path"] for r in rows if r["error"]]
        if errors:
            raise RuntimeError(f"bench corpus: {len(errors)} files failed to decode, e.g. {errors[0]}")
        cropped = sum(1 for r in rows if r["length"] == int(cfg.max_duration * cfg.sampling_rate))
        del rows
        cli_s = time_cli(corpus, root / "prepared", workers) if cli else None
    finally:
        shutil.rmtree(root, ignore_errors=True)
    decode_s = end - start
    result: dict[str, Any] = {
        "files": n_files,
        "workers": workers,
        "sample_rates": list(SAMPLE_RATES),
        "audio_s": round(audio_s, 1),
        "cropped_to_8s": cropped,
        "decode_s": round(decode_s, 3),
        "files_per_s": round(n_files / decode_s, 1),
        "audio_s_per_s": round(audio_s / decode_s, 1),
        "first_result_s": round(first - start, 3),
        "files_per_s_after_first": round((n_files - 1) / max(end - first, 1e-9), 1),
    }
    if cli_s is not None:
        result.update(cli_s=round(cli_s, 2), cli_files_per_s=round(n_files / cli_s, 1))
    return result


def main(argv: list[str] | None = None) -> int:
    """CLI: run and print (or write) the JSON figures."""
    ap = CliParser(prog="python -m bench.prepare_bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=400, help="WAV files in the synthetic corpus")
    ap.add_argument("--workers", type=int, default=None, help="decoding processes; none given: data_prep's default")
    ap.add_argument("--no_cli", action="store_true", help="skip timing the whole `python -m data_prep` command")
    ap.add_argument("--out", help="write the JSON result here instead of stdout")
    args = ap.parse_args(argv)
    result = run(args.files, args.workers, cli=not args.no_cli)
    emit_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
