"""Corpora as people really have them: non-UTF-8 names, symlinked folders, git clones and trash folders,
duplicated trees, spreadsheet manifests. Every file is kept or counted with a reason: found = kept + sum(skipped)."""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from datasets import load_from_disk

from common.files import walk_tree
from data_prep.config import load_config
from data_prep.corpora import get_adapter
from data_prep.corpora.base import ManifestError
from data_prep.prepare import prepare
from tests.support import fixture_corpora as fc


def run_prepare(root: Path, out: Path, adapter: str = "folder", **options) -> dict:
    cfg = load_config(None, [f"{adapter}={root}"], output=str(out), workers=1, per_class=0)
    cfg.corpora[0].options.update(options)
    return prepare(cfg, verbose=False)


def assert_balanced(report: dict) -> None:
    for name, c in report["corpora"].items():
        assert c["found"] == c["kept"] + sum(c["skipped"].values()), name


def fsname(raw: bytes) -> str:
    """A file name from raw bytes, as Python's filesystem functions give it (surrogate escapes)."""
    return os.fsdecode(raw)


def test_non_utf8_names_are_kept_stored_and_reported_losslessly(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    for label in ("happy", "sad", "anger"):
        for i in range(3):
            fc.write_clip(root / label / f"clip_{i}.wav")
    kept_name = fsname(b"caf\xe9_latin1.wav")  # 'café' as a Latin-1 archive stores it
    fc.write_clip(root / "happy" / kept_name)
    skipped_name = fsname(b"notes_\xff.txt")
    (root / "sad" / skipped_name).write_text("not audio")
    out = tmp_path / "out"
    report = run_prepare(root, out)
    text = (out / "prepare_report.json").read_text(encoding="utf-8")  # valid UTF-8 JSON
    assert json.loads(text)["corpora"]["folder"]["kept"] == 10
    assert_balanced(report)
    names = {entry["path"]: entry["bytes_b64"] for entry in json.loads(text)["non_utf8_names"]}
    assert len(names) == 2
    for shown, b64 in names.items():
        raw = base64.b64decode(b64)
        assert os.path.exists(raw)  # the exact bytes open the file again
        assert "\\x" in shown and os.fsencode(shown) != raw  # shown with a visible \xNN escape
    ds = load_from_disk(str(out))
    paths = [p for split in ds.values() for p in split["path"]]
    assert any(p.endswith("caf\\xe9_latin1.wav") for p in paths)


def test_folder_symlink_to_a_label_folder_loses_nothing(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    for label in ("happy", "sad"):
        for i in range(2):
            fc.write_clip(root / label / f"{label}_{i}.wav")
    (root / "happy" / "more_sad").symlink_to("../sad")  # sorts before sad/: walk order must not matter
    (root / "happy" / "gone.wav").symlink_to("../nowhere.wav")
    (root / "sad" / "self.wav").symlink_to("self.wav")
    outside = tmp_path / "elsewhere"
    fc.write_clip(outside / "neutral" / "n_0.wav")
    (outside / "neutral" / "back").symlink_to("..")  # a loop outside the root
    (root / "disk2").symlink_to(outside)  # a folder link leaving the root: walked
    fc.write_clip(tmp_path / "other" / "x.wav")
    (root / "sad" / "linked.wav").symlink_to(tmp_path / "other" / "x.wav")  # a file link leaving the root: read
    (root / "happy" / "alias.wav").symlink_to("../sad/sad_0.wav")  # a second path to a real file
    result = get_adapter("folder").scan(root)
    labels = Counter(u.label for u in result.utterances)
    assert labels == {"happy": 2, "sad": 3, "neutral": 1}
    assert {Path(u.path).parent.name for u in result.utterances if u.label == "sad"} == {"sad"}
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert reasons == {
        "more_sad": "symlink alias",
        "gone.wav": "broken symlink",
        "self.wav": "symlink loop",
        "back": "symlink loop",
        "alias.wav": "symlink alias",
    }


def test_predict_and_data_prep_share_the_walk(tmp_path: Path) -> None:
    fc.write_clip(tmp_path / "sad" / "a.wav")
    (tmp_path / "happy").mkdir()
    (tmp_path / "happy" / "more_sad").symlink_to("../sad")
    from recipe.components.prediction import find_audio_files

    files, errors = find_audio_files([tmp_path])
    assert (
        [f.relative_to(tmp_path).as_posix() for f in files]
        == ["sad/a.wav"]
        == [f.relative_to(tmp_path).as_posix() for f in walk_tree(tmp_path).files]
    )


def test_hidden_folders_count_once_and_wave_is_audio(tmp_path: Path) -> None:
    root = tmp_path / "urdu_clone"
    fc.write_clip(root / "Happy" / "a.wav")
    fc.write_clip(root / "Happy" / "b.wav").rename(root / "Happy" / "b.wave")
    for i in range(28):
        (root / ".git" / "objects" / f"{i:02d}").parent.mkdir(parents=True, exist_ok=True)
        (root / ".git" / "objects" / f"{i:02d}").write_bytes(b"git object")
    fc.write_clip(root / ".Trash-1000" / "files" / "happy" / "deleted.wav")
    (root / "Happy" / "._a.wav").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    (root / "README.md").write_text("URDU-Dataset\n")
    result = get_adapter("folder").scan(root)
    assert sorted(Path(u.path).name for u in result.utterances) == ["a.wav", "b.wave"]
    skipped = {Path(s.path).name: (s.reason, s.detail) for s in result.skipped}
    assert skipped[".git"] == ("hidden folder", "28 files not read")
    assert skipped[".Trash-1000"] == ("hidden folder", "1 files not read")
    assert skipped["._a.wav"][0] == "hidden file" and skipped["README.md"][0] == "not an audio file"
    assert result.found == 6


def test_ravdess_name_collisions(tmp_path: Path) -> None:
    """Kaggle copy: the same name with the same bytes is a duplicate; with other bytes it is reported to look at."""
    name = "03-01-03-01-01-01-02.wav"
    first = fc.write_clip(tmp_path / "Actor_02" / name, 48000)
    same = tmp_path / "audio_speech_actors_01-24" / "Actor_02" / name
    same.parent.mkdir(parents=True)
    same.write_bytes(first.read_bytes())
    fc.write_clip(tmp_path / "Actor_05" / name, 48000)  # a file named for actor 02 inside Actor_05
    result = get_adapter("ravdess").scan(tmp_path)
    assert [Path(u.path).parent.name for u in result.utterances] == ["Actor_02"]
    reasons = {s.path.split("/")[-2]: (s.reason, s.detail) for s in result.skipped}
    assert reasons["Actor_02"][0] == "duplicate name"
    assert reasons["Actor_05"][0] == "name collision" and "different bytes" in reasons["Actor_05"][1]


def test_generic_folder_keeps_same_names_but_drops_identical_bytes(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    for spk in ("spk01", "spk02"):
        for label in ("happy", "sad"):
            fc.write_clip(root / spk / label / "take_01.wav")
    (root / "spk03" / "happy").mkdir(parents=True)
    (root / "spk03" / "happy" / "take_01.wav").write_bytes((root / "spk01" / "happy" / "take_01.wav").read_bytes())
    report = run_prepare(root, tmp_path / "out")
    assert report["corpora"]["folder"]["kept"] == 4
    assert report["corpora"]["folder"]["skipped"] == {"duplicate content": 1}


# ---- CSV manifests ----


def write_clips(folder: Path, n: int = 4) -> list[str]:
    return [fc.write_clip(folder / f"c{i}.wav").name for i in range(n)]


def test_csv_latin1_semicolon_manifest(tmp_path: Path) -> None:
    names = write_clips(tmp_path / "clips")
    rows = ["Path;Label;Speaker"] + [f"clips/{n};{'Fröhlich' if i == 0 else 'happy'};José" for i, n in enumerate(names)]
    (tmp_path / "m.csv").write_bytes("\r\n".join(rows).encode("cp1252"))
    result = get_adapter("csv").scan(tmp_path / "m.csv")
    assert [u.speaker for u in result.utterances] == ["csv_José"] * 3
    assert [(s.reason, s.detail) for s in result.skipped] == [("unknown label", "label 'Fröhlich'")]
    assert result.notes and "read as cp1252" in result.notes[0]


def test_csv_utf8_bom_and_header_only(tmp_path: Path) -> None:
    names = write_clips(tmp_path)
    (tmp_path / "m.csv").write_bytes(("path,label\n" + "".join(f"{n},sad\n" for n in names)).encode("utf-8-sig"))
    result = get_adapter("csv").scan(tmp_path / "m.csv")
    assert len(result.utterances) == 4 and not result.notes
    (tmp_path / "h.csv").write_text("path,label\n")
    assert get_adapter("csv").scan(tmp_path / "h.csv").found == 0


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file"),
        (b"   \n\n", "empty file"),
        (b"file,emotion\nx.wav,sad\n", "needs columns path,label"),
        (b"path\nx.wav\n", "needs columns path,label"),
    ],
)
def test_csv_unusable_manifest_is_a_manifest_error(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "m.csv").write_bytes(content)
    with pytest.raises(ManifestError, match=message) as info:
        get_adapter("csv").scan(tmp_path / "m.csv")
    assert "m.csv" in str(info.value) and "\n" not in str(info.value)


def test_csv_paths_outside_the_manifest_folder(tmp_path: Path) -> None:
    base = tmp_path / "manifests"
    inside = write_clips(base / "clips", 1)[0]
    fc.write_clip(tmp_path / "other" / "o.wav")
    outside = fc.write_clip(tmp_path / "other" / "abs.wav")
    (base / "m.csv").write_text(f"path,label\nclips/{inside},sad\n../other/o.wav,sad\n{outside},happy\n,sad\n")
    result = get_adapter("csv").scan(base / "m.csv")
    assert len(result.utterances) == 1
    assert Counter(s.reason for s in result.skipped) == {"path outside manifest folder": 2, "empty path": 1}
    assert result.found == 4
    allowed = get_adapter("csv").scan(base / "m.csv", allow_outside=True)
    assert len(allowed.utterances) == 3


# ---- audio content ----


def test_constant_and_mirrored_stereo_clips_are_rejected(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    for i in range(3):
        fc.write_clip(root / "happy" / f"ok_{i}.wav")
    (root / "sad").mkdir()
    sf.write(root / "sad" / "dc.wav", np.full(8000, 0.25, np.float32), 16000, subtype="FLOAT")
    left = fc.write_clip(tmp_path / "mono.wav", seconds=0.5)
    wave, sr = sf.read(left, dtype="float32")
    sf.write(root / "sad" / "mirrored.wav", np.stack([wave, -wave], axis=1), sr)
    report = run_prepare(root, tmp_path / "out")
    details = {Path(s["path"]).name: (s["reason"], s["detail"]) for s in report["skipped_files"]}
    assert details["dc.wav"][0] == "no signal" and "constant" in details["dc.wav"][1]
    assert details["mirrored.wav"][0] == "channels cancel" and "right = -left" in details["mirrored.wav"][1]
    assert_balanced(report)
