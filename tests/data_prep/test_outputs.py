"""Outputs are atomic: a reader of --output sees the previous complete dataset or the new one, never a mix; a second
run on the same output is refused; replacing needs --overwrite; nothing usable writes nothing. Long files cost the
memory of the kept window only."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from datasets import load_from_disk

import data_prep.prepare as prepare_module
from common.atomic import OutputError, output_lock
from common.outputs import MARKER
from data_prep.audio import load_clip
from data_prep.config import load_config
from data_prep.prepare import NothingUsableError, prepare
from tests.support import fixture_corpora as fc
from tests.support.cli import run_data_prep as run_cli

ROOT = Path(__file__).resolve().parents[2]


def small_corpus(root: Path, per_label: int = 3) -> Path:
    for label in ("happy", "sad", "anger"):
        for i in range(per_label):
            fc.write_clip(root / label / f"{label}_{i}.wav")
    return root


def cfg_for(corpus: Path, out: Path):
    return load_config(
        None, [f"folder={corpus}"], output=str(out), workers=1, per_class=0, keep_unbalanced=False, folds=0
    )


def siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name and p.name.startswith(f".{out.name}."))


def test_existing_output_needs_overwrite_and_is_replaced_whole(tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    out = tmp_path / "out"
    prepare(cfg_for(corpus, out), verbose=False)
    (out / "stale.txt").write_text("from an older run")
    with pytest.raises(OutputError, match="--overwrite"):
        prepare(cfg_for(corpus, out), verbose=False)
    assert (out / "stale.txt").exists()
    prepare(cfg_for(corpus, out), verbose=False, overwrite=True)
    assert not (out / "stale.txt").exists() and (out / "prepare_report.json").is_file()
    assert siblings(out) == [".out.lock"]  # no partial, old or work folder left behind
    result = run_cli("--corpus", f"folder={corpus}", "--output", str(out), "--workers", "1")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert f"{out} already exists" in result.stderr and "Traceback" not in result.stderr


def test_crash_while_building_leaves_the_previous_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = small_corpus(tmp_path / "corpus")
    out = tmp_path / "out"
    prepare(cfg_for(corpus, out), verbose=False)
    before = (out / "prepare_report.json").read_bytes()
    fc.write_clip(corpus / "sad" / "new.wav")

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(prepare_module, "write_report", crash)  # after the new splits were saved
    with pytest.raises(RuntimeError, match="disk full"):
        prepare(cfg_for(corpus, out), verbose=False, overwrite=True)
    assert (out / "prepare_report.json").read_bytes() == before
    assert sum(len(split) for split in load_from_disk(str(out)).values()) == 9
    assert siblings(out) == [".out.lock"]
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != MARKER]  # no leftover inside


def test_second_concurrent_run_is_refused(tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "corpus", per_label=1)
    out = tmp_path / "out"
    with output_lock(out):  # another run holds the output
        result = run_cli("--corpus", f"folder={corpus}", "--output", str(out), "--workers", "1")
    assert result.returncode == 2
    assert "being written by another run" in result.stderr and f"pid {os.getpid()}" in result.stderr
    assert not out.exists()


def tree_contents(folder: Path) -> dict[str, str | None]:
    """Every path under `folder` with its file's SHA-1 (None for folders)."""
    return {
        str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.slow
def test_killed_run_leaves_nothing_where_a_reader_looks(tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "corpus", per_label=40)
    out = tmp_path / "out"
    prepare(cfg_for(corpus, out), verbose=False)
    before = tree_contents(out)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "data_prep",
            "--corpus",
            f"folder={corpus}",
            "--output",
            str(out),
            "--workers",
            "1",
            "--overwrite",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    deadline = time.time() + 120
    while not any(name.startswith(".out.work-") for name in siblings(out)) and time.time() < deadline:
        time.sleep(0.05)
    # killed while it works: its staging folder exists and the process has not ended on its own
    assert any(name.startswith(".out.work-") for name in siblings(out)), "the run never started writing"
    assert proc.poll() is None, f"the run ended (status {proc.returncode}) before it could be killed"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert tree_contents(out) == before  # the old output, byte for byte, nothing added
    assert not any(".prepare-work" in p.name or ".work-" in p.name for p in out.rglob("*"))
    prepare(cfg_for(corpus, out), verbose=False, overwrite=True)  # the next run clears the debris
    assert siblings(out) == [".out.lock"]


def test_nothing_usable_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "happy").mkdir(parents=True)
    (corpus / "happy" / "notes.txt").write_text("no audio here")
    sf.write(corpus / "happy" / "silent.wav", np.zeros(8000, np.float32), 16000)
    with pytest.raises(NothingUsableError, match="silent 1"):
        prepare(cfg_for(corpus, tmp_path / "out"), verbose=False)
    result = run_cli("--corpus", f"folder={corpus}", "--output", str(tmp_path / "out"), "--workers", "1")
    assert result.returncode == 2 and "No usable clip" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_one_clip_gives_a_loadable_dataset_with_empty_splits(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    fc.write_clip(corpus / "happy" / "only.wav")
    prepare(cfg_for(corpus, tmp_path / "out"), verbose=False)
    ds = load_from_disk(str(tmp_path / "out"))
    assert {name: len(split) for name, split in ds.items()} == {"train": 1, "validation": 0, "test": 0}


@pytest.mark.parametrize("content", [b"", b"file;emotion\nx.wav;sad\n"])
def test_cli_bad_manifest_is_one_line_exit_2(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "m.csv").write_bytes(content)
    result = run_cli("--corpus", f"csv={tmp_path / 'corpus' / 'm.csv'}", "--output", str(tmp_path / "out"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "m.csv" in result.stderr
    assert "input" not in result.stderr  # the manifest's own error, not the output rule


def test_cli_latin1_semicolon_manifest_works(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"  # the output may not lie inside the manifest's folder (an input)
    names = [fc.write_clip(corpus / "clips" / f"c{i}.wav").name for i in range(4)]
    text = "path;label;speaker\r\n" + "".join(
        f"clips/{n};{'traurig' if i else 'sad'};Zoë\r\n" for i, n in enumerate(names)
    )
    (corpus / "m.csv").write_bytes(text.encode("cp1252"))
    result = run_cli("--corpus", f"csv={corpus / 'm.csv'}", "--output", str(tmp_path / "out"), "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert "read as cp1252" in result.stdout
    report = json.loads((tmp_path / "out" / "prepare_report.json").read_text(encoding="utf-8"))
    assert report["corpora"]["csv"]["kept"] == 1 and report["corpora"]["csv"]["skipped"] == {"unknown label": 3}


def test_long_file_costs_the_window_not_the_file(tmp_path: Path) -> None:
    """A 10-minute 16 kHz WAV (38 MB as float32) decoded for its centre 8 s: peak Python/numpy memory stays under
    2 MB (the 8 s window is 0.5 MB)."""
    path = tmp_path / "long.wav"
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", 16000, 1, "PCM_16") as fh:
        for _ in range(60):  # 60 blocks of 10 s
            fh.write((0.1 * rng.standard_normal(160000)).astype(np.float32))
    tracemalloc.start()
    wave, duration = load_clip(path, 16000, max_duration=8.0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(wave) == 128000 and duration == pytest.approx(600.0)
    assert peak < 2_000_000, f"peak {peak} bytes"
