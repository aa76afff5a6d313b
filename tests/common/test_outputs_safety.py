"""No run deletes what it did not write, and replacing an output never leaves a gap.

Outputs that are, contain or lie inside an input are refused before any work; --overwrite replaces only a folder
holding the recipe's marker of the same kind; a run killed between the steps of a replace leaves a complete DEST
(or one the next run restores), never nothing.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from common import atomic
from common.atomic import OutputError, atomic_output, recover
from common.outputs import DATASET, MARKER, TRAINING_RUN, check_disjoint, check_replaceable, kind_of
from tests.support import fixture_corpora as fc
from tests.support.cli import REPO, run_data_prep


def corpus(root: Path) -> Path:
    for label in ("happy", "sad", "anger"):
        for i in range(2):
            fc.write_clip(root / label / f"{label}_{i}.wav")
    return root


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------- outputs never delete inputs


def test_output_holding_the_corpus_is_refused_even_with_overwrite(tmp_path: Path) -> None:
    data = tmp_path / "data"
    raw = corpus(data / "raw" / "demo")
    before = files_of(raw)
    result = run_data_prep("--corpus", f"folder={raw}", "--output", str(data), "--workers", "1", "--overwrite")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "contains the input corpus folder" in result.stderr
    assert files_of(raw) == before  # the corpus is untouched
    assert sorted(p.name for p in data.iterdir()) == ["raw"]  # and nothing was written next to it


@pytest.mark.parametrize("where", ["same", "inside"])
def test_output_equal_to_or_inside_the_corpus_is_refused(tmp_path: Path, where: str) -> None:
    raw = corpus(tmp_path / "raw")
    before = files_of(raw)
    out = raw if where == "same" else raw / "prepared"
    result = run_data_prep("--corpus", f"folder={raw}", "--output", str(out), "--workers", "1", "--overwrite")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert ("is the input" if where == "same" else "lies inside the input") in result.stderr
    assert files_of(raw) == before and not (raw / "prepared").exists()


def test_overwrite_replaces_only_a_prepared_dataset(tmp_path: Path) -> None:
    raw = corpus(tmp_path / "raw")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("my own notes")
    refused = run_data_prep("--corpus", f"folder={raw}", "--output", str(notes), "--workers", "1", "--overwrite")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "files the recipe did not write" in refused.stderr
    assert files_of(notes) == {"todo.txt": b"my own notes"}

    out = tmp_path / "prepared"
    first = run_data_prep("--corpus", f"folder={raw}", "--output", str(out), "--workers", "1")
    assert first.returncode == 0, first.stderr
    assert kind_of(out) == DATASET and (out / MARKER).is_file()
    again = run_data_prep("--corpus", f"folder={raw}", "--output", str(out), "--workers", "1", "--overwrite")
    assert again.returncode == 0, again.stderr


def test_legacy_folders_are_recognised_by_their_files(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "prepare_report.json").write_text("{}")
    assert kind_of(legacy) is None  # one of the two files is not enough
    (legacy / "dataset_dict.json").write_text('{"splits": []}')
    assert kind_of(legacy) == DATASET
    check_replaceable(legacy, DATASET, overwrite=True)
    with pytest.raises(OutputError, match="a recipe prepared dataset, not a training run"):
        check_replaceable(legacy, TRAINING_RUN, overwrite=True)
    with pytest.raises(OutputError, match="already exists"):
        check_replaceable(legacy, DATASET, overwrite=False)
    run = tmp_path / "run"
    (run / "checkpoint-4").mkdir(parents=True)
    (run / "checkpoint-4" / "trainer_state.json").write_text("{}")
    assert kind_of(run) == TRAINING_RUN


def test_disjoint_rule(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (tmp_path / "data.csv").write_text("path,label\n")
    check_disjoint(tmp_path / "elsewhere", [("--model", model)])
    check_disjoint(model / "onnx", [("--model", model)], may_lie_inside=["--model"])
    with pytest.raises(OutputError, match="lies inside the input --model"):
        check_disjoint(model / "onnx", [("--model", model)])
    with pytest.raises(OutputError, match="is the input --model"):
        check_disjoint(str(model) + "/", [("--model", model)], may_lie_inside=["--model"])
    with pytest.raises(OutputError, match="contains the input --model"):
        check_disjoint(tmp_path, [("--model", model)], may_lie_inside=["--model"])
    with pytest.raises(OutputError, match="is the input manifest"):  # a file input stands for its folder
        check_disjoint(tmp_path, [("manifest", tmp_path / "data.csv")])


# ----------------------------------------------------------------------------- atomic replace without a gap


def _fill(folder: Path, version: str) -> None:
    for i in range(20):
        (folder / f"part-{i}.txt").write_text(version)
    (folder / "complete").write_text(version)


def test_exchange_swaps_two_folders(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "x").write_text("a"), (b / "x").write_text("b")
    assert atomic.exchange(a, b), "renameat2(RENAME_EXCHANGE) unavailable on this file system"
    assert (a / "x").read_text() == "b" and (b / "x").read_text() == "a"


def test_reader_always_finds_a_complete_dest(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    with atomic_output(dest, overwrite=True) as tmp:
        _fill(tmp, "v0")
    seen: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                seen.append((dest / "complete").read_text())  # written last: DEST is a finished folder
            except FileNotFoundError:
                seen.append("MISSING")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(1, 30):
            with atomic_output(dest, overwrite=True) as tmp:
                _fill(tmp, f"v{n}")
    finally:
        stop.set()
        reader.join()
    assert "MISSING" not in seen and len(seen) > 0
    assert set(seen) <= {f"v{n}" for n in range(30)}
    assert (dest / "complete").read_text() == "v29"


KILL_BETWEEN_RENAMES = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from common import atomic

    dest = Path(sys.argv[1])
    atomic.exchange = lambda a, b: False  # the fallback: two renames
    real_rename = os.rename

    def rename(src, dst):
        real_rename(src, dst)
        if Path(dst).name == dest.name and ".old-" in str(Path(dst).parent.name):
            os._exit(9)  # killed between DEST -> .old and new -> DEST

    atomic.os.rename = rename
    with atomic.atomic_output(dest, overwrite=True) as tmp:
        (tmp / "complete").write_text("new")
    """
)


def test_kill_between_the_fallback_renames_is_recovered(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    with atomic_output(dest, overwrite=False) as tmp:
        (tmp / "complete").write_text("previous")
    killed = subprocess.run(
        [sys.executable, "-c", KILL_BETWEEN_RENAMES, str(dest)], cwd=REPO, capture_output=True, text=True
    )
    assert killed.returncode == 9, killed.stderr
    assert not dest.exists()  # the gap the fallback cannot avoid...
    assert [p.name for p in tmp_path.glob(".out.old-*")], "the previous copy must still exist"
    # ...which the next run on DEST closes first: it restores the previous copy instead of deleting it.
    with pytest.raises(RuntimeError, match="build failed"):
        with atomic_output(dest, overwrite=True) as tmp:
            raise RuntimeError("build failed")
    assert (dest / "complete").read_text() == "previous"
    assert not list(tmp_path.glob(".out.old-*")) and not list(tmp_path.glob(".out.partial-*"))


def test_recover_restores_only_when_dest_is_missing(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    old = tmp_path / ".out.old-abc"
    (old / "out").mkdir(parents=True)
    (old / "out" / "complete").write_text("previous")
    dest.mkdir()
    assert recover(dest) is None and (old / "out").exists()
    dest.rmdir()
    assert recover(dest) == old / "out" and (dest / "complete").read_text() == "previous"


KILL_AFTER_EXCHANGE = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from common import atomic

    dest = Path(sys.argv[1])
    real = atomic.exchange

    def exchange(a, b):
        assert real(a, b)
        os._exit(9)  # killed after the swap, before the previous copy is removed

    atomic.exchange = exchange
    with atomic.atomic_output(dest, overwrite=True) as tmp:
        (tmp / "complete").write_text("new")
    """
)


def test_kill_after_the_exchange_leaves_the_new_output(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    with atomic_output(dest, overwrite=False) as tmp:
        (tmp / "complete").write_text("previous")
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_EXCHANGE, str(dest)], cwd=REPO, capture_output=True, text=True
    )
    assert killed.returncode == 9, killed.stderr
    assert (dest / "complete").read_text() == "new"
    with atomic_output(dest, overwrite=True) as tmp:
        (tmp / "complete").write_text("next")
    assert (dest / "complete").read_text() == "next" and not list(tmp_path.glob(".out.partial-*"))
