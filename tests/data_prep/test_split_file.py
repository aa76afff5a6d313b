"""Published protocols: `--split_file` places every clip where the file says and reports the clips it does not
name; `data_prep.emobox` turns EmoBox's fold files (their real JSON-lines format) into such a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import load_from_disk

from data_prep.config import ConfigError, load_config
from data_prep.emobox import main as emobox_main
from data_prep.prepare import prepare
from data_prep.split_file import read_split_file
from tests.support import fixture_corpora as fc
from tests.support.cli import run_data_prep

EMOBOX_EMO = {1: "Neutral", 2: "Calm", 3: "Happy", 4: "Sad", 5: "Angry", 6: "Fearful", 7: "Disgust", 8: "Surprised"}
LEFT_OUT = "03-01-05-02-02-02-03.wav"  # a kept clip (actor 3, anger) that no EmoBox file names


@pytest.fixture(scope="module")
def ravdess(tmp_path_factory: pytest.TempPathFactory) -> fc.Fixture:
    return fc.ravdess(tmp_path_factory.mktemp("ravdess"), actors=(1, 2, 3))


def _emobox_record(actor: int, name: str) -> dict:
    """One line of an EmoBox ravdess_*_fold_N.jsonl file, in its published format."""
    wav = f"downloads/ravdess/audio/Audio_Speech_Actors_01-24/Actor_{actor:02d}/{name}"
    return {
        "key": f"ravdess-{name[:-4]}",
        "dataset": "ravdess",
        "wav": wav,
        "type": "raw",
        "sample_rate": 48000,
        "num_frame": 19200.0,
        "task": "category",
        "length": 0.4,
        "emo": EMOBOX_EMO[int(name.split("-")[2])],
        "channel": 1,
    }


def _write_emobox(root: Path, ravdess_root: Path) -> list[Path]:
    """Three leave-one-actor-out folds: fold N tests actor N and trains on the other two (speech files only)."""
    names = {
        actor: sorted(p.name for p in (ravdess_root / f"Actor_{actor:02d}").glob("03-01-*.wav")) for actor in (1, 2, 3)
    }
    files = []
    for fold in (1, 2, 3):
        folder = root / "data" / "ravdess" / f"fold_{fold}"
        folder.mkdir(parents=True)
        for split, actors in (("test", [fold]), ("train", [a for a in (1, 2, 3) if a != fold])):
            records = [_emobox_record(a, n) for a in actors for n in names[a] if n != LEFT_OUT]
            path = folder / f"ravdess_{split}_fold_{fold}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in records))
            files.append(path)
    return files


def test_emobox_converter_reads_the_published_format(tmp_path: Path, ravdess: fc.Fixture) -> None:
    files = _write_emobox(tmp_path, ravdess.root)
    out = tmp_path / "folds.csv"
    assert emobox_main([*map(str, files), "--output", str(out)]) == 0
    split_file = read_split_file(out)
    assert split_file.kind == "fold" and split_file.folds == ["1", "2", "3"]
    # 3 actors x 60 speech files, less the one left out; each clip's fold is the fold that tests its actor
    assert len(split_file.entries) == 3 * 60 - 1
    for key, fold in split_file.entries.items():
        assert key.split("/")[-2] == f"actor_0{fold}"


def test_emobox_converter_refuses_a_clip_tested_twice(tmp_path: Path, ravdess: fc.Fixture) -> None:
    files = _write_emobox(tmp_path, ravdess.root)
    test_2 = next(f for f in files if f.name == "ravdess_test_fold_2.jsonl")
    test_1 = next(f for f in files if f.name == "ravdess_test_fold_1.jsonl")
    test_2.write_text(test_2.read_text() + test_1.read_text().splitlines()[0] + "\n")
    assert emobox_main([*map(str, files), "--output", str(tmp_path / "x.csv")]) == 2
    assert not (tmp_path / "x.csv").exists()
    bad = tmp_path / "ravdess_test.jsonl"
    bad.write_text("{}\n")
    assert emobox_main([str(bad), "--output", str(tmp_path / "y.csv")]) == 2


def test_split_file_places_clips_and_reports_the_unnamed(tmp_path: Path, ravdess: fc.Fixture) -> None:
    csv_path = tmp_path / "folds.csv"
    assert emobox_main([*map(str, _write_emobox(tmp_path, ravdess.root)), "--output", str(csv_path)]) == 0
    out = tmp_path / "prepared"
    cfg = load_config(
        None, [f"ravdess={ravdess.root}"], output=str(out), workers=1, per_class=0, split_file=str(csv_path)
    )
    report = prepare(cfg, verbose=False)
    ds = load_from_disk(str(out))
    actor_of = {name: {Path(p).parent.name for p in ds[name]["path"]} for name in ds}
    # fold "1" (first) tests, fold "2" validates, fold "3" trains: whole actors, as the file says
    assert actor_of == {
        "test": {"Actor_01"},
        "validation": {"Actor_02"},
        "train": {"Actor_03"},
        "train_unbalanced": {"Actor_03"},  # the split before balancing (data.yaml keeps it)
    }
    kept_per_actor = sum(ravdess.kept.values()) // 3  # 60 speech files less 8 calm and 8 disgust = 44
    assert [len(ds[n]) for n in ("test", "validation", "train")] == [kept_per_actor, kept_per_actor, kept_per_actor - 1]

    block = report["split_file"]
    assert block["not_named_count"] == 1 and [Path(p).name for p in block["not_named"]] == [LEFT_OUT]
    # calm and disgust are in EmoBox's files but dropped by the adapter: entries that name no kept clip
    assert block["unmatched_entries_count"] == 3 * (8 + 8)  # per actor: 2 intensities x 2 statements x 2 reps
    corpus = report["corpora"]["ravdess"]
    assert corpus["skipped"]["not in split file"] == 1
    assert corpus["found"] == ravdess.found == corpus["kept"] + sum(corpus["skipped"].values())

    folds = json.loads((out / "folds.json").read_text())
    assert folds["k"] == 3 and folds["fold_ids"] == ["1", "2", "3"]
    assert {Path(p).parent.name: f for p, f in folds["paths"].items()} == {"Actor_01": 0, "Actor_02": 1, "Actor_03": 2}


def test_kfold_variant_tests_on_each_published_fold(tmp_path: Path, ravdess: fc.Fixture) -> None:
    from recipe.experiments import kfold_variant

    csv_path = tmp_path / "folds.csv"
    assert emobox_main([*map(str, _write_emobox(tmp_path, ravdess.root)), "--output", str(csv_path)]) == 0
    data = tmp_path / "prepared"
    prepare(
        load_config(
            None, [f"ravdess={ravdess.root}"], output=str(data), workers=1, per_class=0, split_file=str(csv_path)
        ),
        verbose=False,
    )
    variant = kfold_variant(str(data), tmp_path / "exp")
    for fold, folder in variant.datasets:
        test_actors = {Path(p).parent.name for p in load_from_disk(folder)["test"]["path"]}
        assert test_actors == {f"Actor_0{fold + 1}"}


def test_split_by_file_name_and_bad_files(tmp_path: Path, ravdess: fc.Fixture) -> None:
    names = sorted(p.name for p in (ravdess.root / "Actor_01").glob("03-01-0[134568]-*.wav"))
    csv_path = tmp_path / "split.csv"
    rows = [f"{n},{'test' if i % 3 == 0 else 'dev' if i % 3 == 1 else 'train'}" for i, n in enumerate(names)]
    csv_path.write_text("path,split\n" + "\n".join(rows) + "\n")
    out = tmp_path / "prepared"
    report = prepare(
        load_config(
            None, [f"ravdess={ravdess.root}"], output=str(out), workers=1, per_class=0, split_file=str(csv_path)
        ),
        verbose=False,
    )
    ds = load_from_disk(str(out))
    assert len(ds["test"]) == len(names[0::3]) and len(ds["validation"]) == len(names[1::3])
    assert {Path(p).name for p in ds["test"]["path"]} == set(names[0::3])
    assert report["split_file"]["not_named_count"] == 2 * 44  # actors 2 and 3: reported, not placed

    bad = tmp_path / "bad.csv"
    bad.write_text("path,split\na.wav,holdout\n")
    with pytest.raises(ConfigError, match="bad.csv:2"):
        load_config(None, [f"ravdess={ravdess.root}"], split_file=str(bad))
    result = run_data_prep(
        "--corpus", f"ravdess={ravdess.root}", "--split_file", str(bad), "--output", str(tmp_path / "o")
    )
    assert result.returncode == 2 and "bad.csv:2" in result.stderr
    assert not (tmp_path / "o").exists()
