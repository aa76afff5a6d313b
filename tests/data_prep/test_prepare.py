"""The whole prepare stage: DatasetDict contents, report counts, splits, balancing, CLI end to end."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from datasets import load_from_disk

from data_prep.config import ConfigError, load_config
from data_prep.dataset import COLUMNS
from data_prep.labels import EMOTIONS
from data_prep.prepare import NoCorpusError, prepare
from demo.corpus import generate
from tests.support import fixture_corpora as fc
from tests.support.cli import run_data_prep as run_cli

ROOT = Path(__file__).resolve().parents[2]
REGEX = r"^(?P<speaker>[^_]+)_"


def folder_config(root: Path, out: Path, **overrides) -> object:
    """The three splits alone unless a test asks for train_unbalanced or folds (the defaults write both)."""
    overrides = {"keep_unbalanced": False, "folds": 0, **overrides}
    cfg = load_config(None, [f"folder={root}"], output=str(out), workers=1, **overrides)
    cfg.corpora[0].options["speaker_regex"] = REGEX
    return cfg


def split_paths(ds) -> dict[str, list[str]]:
    return {name: list(ds[name]["path"]) for name in ds}


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> fc.Fixture:
    return fc.bad_folder(tmp_path_factory.mktemp("bad"))


@pytest.fixture(scope="module")
def prepared(bad: fc.Fixture, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("out")
    report = prepare(folder_config(bad.root, out, per_class=8, max_duration=1.0, seed=7), verbose=False)
    return out, report


def test_dataset_columns_audio_and_lengths(prepared: tuple[Path, dict]) -> None:
    out, _ = prepared
    ds = load_from_disk(str(out))
    assert set(ds) == {"train", "validation", "test"}
    for name in ds:
        assert tuple(ds[name].column_names) == COLUMNS
        assert ds[name].features["label"].names == list(EMOTIONS)
        for row in ds[name].with_format("numpy"):
            audio = row["audio"]
            assert audio.dtype == np.float32 and audio.ndim == 1
            assert len(audio) == row["length"] <= 16000
            assert row["duration"] == pytest.approx(row["length"] / 16000)
            assert row["speaker"].startswith("folder_") and row["corpus"] == "folder" and row["language"] == "und"
            assert np.isfinite(audio).all() and np.abs(audio).max() > 0
    lengths = {Path(r["path"]).name: r["length"] for n in ds for r in ds[n].select_columns(["path", "length"])}
    assert lengths["s1_long.wav"] == 16000  # 3 s cropped to max_duration 1 s
    assert lengths["s2_anger_2.wav"] == 8000  # 0.5 s at whatever rate → 8000 samples


def test_report_counts_match_the_files(bad: fc.Fixture, prepared: tuple[Path, dict]) -> None:
    out, report = prepared
    assert json.loads((out / "prepare_report.json").read_text()) == report
    c = report["corpora"]["folder"]
    assert c["found"] == bad.found == c["kept"] + sum(c["skipped"].values())
    assert c["kept"] == sum(bad.kept.values())
    assert c["per_class"] == {e: bad.kept[e] for e in EMOTIONS}
    assert c["skipped"] == dict(bad.skipped + bad.decode_skipped)
    listed = {(Path(s["path"]).name, s["reason"]) for s in report["skipped_files"]}
    for name, reason in [
        ("s9_empty.wav", "empty file"),
        ("s9_truncated.wav", "truncated file"),
        ("s9_text.wav", "not audio"),
        ("s9_zero.wav", "zero length"),
        ("s9_short.wav", "too short"),
        ("s9_silent.wav", "all silent"),
        ("s9_nan.wav", "NaN/inf samples"),
        ("s1_copy.wav", "duplicate content"),
        ("readme.md", "not an audio file"),
        ("s1_calm_1.wav", "dropped label"),
    ]:
        assert (name, reason) in listed
    assert all(s["corpus"] == "folder" and Path(s["path"]).is_absolute() for s in report["skipped_files"])
    assert report["settings"]["per_class"] == 8 and report["settings"]["max_duration"] == 1.0


def test_splits_disjoint_balanced_and_reported(bad: fc.Fixture, prepared: tuple[Path, dict]) -> None:
    out, report = prepared
    ds = load_from_disk(str(out))
    paths = split_paths(ds)
    for name in ("validation", "test"):
        assert len(set(paths[name])) == len(paths[name])  # originals only
        assert not set(paths[name]) & set(paths["train"])
    assert not set(paths["validation"]) & set(paths["test"])
    assert len(set().union(*paths.values())) == sum(bad.kept.values())  # every kept clip is used
    for name in ds:
        counts = Counter(ds[name].features["label"].int2str(x) for x in ds[name]["label"])
        assert report["splits"][name] == {e: counts.get(e, 0) for e in EMOTIONS}
    assert report["splits"]["train"] == dict.fromkeys(EMOTIONS, 8)
    # every class has >= 6 clips, so each reaches validation and test
    assert all(n >= 1 for n in report["splits"]["validation"].values())
    assert all(n >= 1 for n in report["splits"]["test"].values())


def test_same_seed_same_dataset_other_seed_differs(
    bad: fc.Fixture, prepared: tuple[Path, dict], tmp_path: Path
) -> None:
    out, _ = prepared
    prepare(folder_config(bad.root, tmp_path / "a", per_class=8, max_duration=1.0, seed=7), verbose=False)
    prepare(folder_config(bad.root, tmp_path / "b", per_class=8, max_duration=1.0, seed=8), verbose=False)
    first = split_paths(load_from_disk(str(out)))
    assert split_paths(load_from_disk(str(tmp_path / "a"))) == first
    assert split_paths(load_from_disk(str(tmp_path / "b"))) != first


def test_speaker_disjoint_mode(bad: fc.Fixture, tmp_path: Path) -> None:
    report = prepare(folder_config(bad.root, tmp_path, per_class=0, split_by="speaker"), verbose=False)
    assert report["speaker_overlap"] == {"train-validation": 0, "train-test": 0, "validation-test": 0}
    ds = load_from_disk(str(tmp_path))
    speakers = {name: set(ds[name]["speaker"]) for name in ds}
    assert not speakers["train"] & speakers["validation"] and not speakers["train"] & speakers["test"]
    assert not speakers["validation"] & speakers["test"]
    assert speakers["validation"] and speakers["test"]
    assert sum(len(ds[n]) for n in ds) == sum(bad.kept.values())  # per_class 0: no balancing


def test_no_corpus_on_disk(tmp_path: Path) -> None:
    cfg = load_config(ROOT / "configs" / "data.yaml", output=str(tmp_path / "out"))
    for spec in cfg.corpora:
        spec.path = str(tmp_path / "raw" / spec.name)
    with pytest.raises(NoCorpusError) as info:
        prepare(cfg, verbose=False)
    message = str(info.value)
    for name in ("ravdess", "iesc", "hindi", "kai_indian", "urdu", "urdu_ser"):
        assert f"{name}: put it at {tmp_path / 'raw' / name}" in message
    assert "Zenodo" in message and "siddiquelatif/URDU-Dataset" in message


@pytest.mark.slow  # spawns the CLI
def test_cli_no_corpus_exit_code(tmp_path: Path) -> None:
    if (ROOT / "data" / "raw").exists():
        pytest.skip("real corpora present in this checkout")
    result = run_cli("--config", "configs/data.yaml", "--output", str(tmp_path / "out"), cwd=ROOT)
    assert result.returncode == 2
    assert "data/raw/ravdess" in result.stderr and "Zenodo" in result.stderr


def test_config_errors(tmp_path: Path) -> None:
    bad_key = tmp_path / "bad.yaml"
    bad_key.write_text("per_class: 10\nper_klass: 3\n")
    with pytest.raises(ConfigError, match="per_klass"):
        load_config(bad_key)
    bad_opt = tmp_path / "opt.yaml"
    bad_opt.write_text("corpora:\n  ravdess: {path: x, speaker_regex: y}\n")
    with pytest.raises(ConfigError, match="speaker_regex"):
        load_config(bad_opt)
    with pytest.raises(ConfigError, match="NAME=PATH"):
        load_config(None, ["folder"])
    with pytest.raises(ConfigError, match="unknown corpus adapter"):
        load_config(None, ["mystery=/x"])
    with pytest.raises(ConfigError, match="split_by"):
        load_config(None, split_by="session")


@pytest.mark.slow  # spawns the CLI
def test_cli_config_error_exit_code(tmp_path: Path) -> None:
    bad_key = tmp_path / "bad.yaml"
    bad_key.write_text("per_class: 10\nper_klass: 3\n")
    result = run_cli("--config", str(bad_key))
    assert result.returncode == 2 and "per_klass" in result.stderr


@pytest.mark.parametrize(
    "text",
    [
        "corpora:\n  ravdess: data/ravdess_path\ncorpus_options:\n  ravdess: {language: en}\n",
        "corpora: [ravdess]\n",
    ],
)
def test_corpus_entries_that_are_not_mappings(tmp_path: Path, text: str) -> None:
    config = tmp_path / "flat.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError, match="must map|expected a mapping"):
        load_config(config)


def test_shipped_configs_load() -> None:
    cfg = load_config(ROOT / "configs" / "data.yaml")
    assert [c.name for c in cfg.corpora] == ["ravdess", "iesc", "hindi", "kai_indian", "urdu", "urdu_ser"]
    assert {c.name: c.language for c in cfg.corpora} == {
        "ravdess": "en",
        "iesc": "en",
        "hindi": "hi",
        "kai_indian": "hi",
        "urdu": "ur",
        "urdu_ser": "ur",
    }
    assert cfg.settings() == {
        "per_class": 1000,
        "split_by": "utterance",
        "seed": 42,
        "val_fraction": 0.15,
        "test_fraction": 0.15,
        "max_duration": 8.0,
        "min_duration": 0.25,
        "sampling_rate": 16000,
    }
    demo = load_config(ROOT / "configs" / "demo_data.yaml", ["folder=/somewhere"])
    assert demo.corpora[0].options["speaker_regex"] == REGEX and demo.output == "outputs/demo/prepared"


@pytest.mark.slow
def test_cli_end_to_end_on_all_six_layouts(tmp_path: Path) -> None:
    """`make prepare` on fixture copies of the six layouts (configs/data.yaml, corpora given by --corpus)."""
    fixtures = fc.all_six(tmp_path / "raw")
    out = tmp_path / "prepared"
    args = ["--config", "configs/data.yaml", "--output", str(out), "--per_class", "20", "--workers", "2"]
    for name, fx in fixtures.items():
        args += ["--corpus", f"{name}={fx.root}"]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "split" in result.stdout and "ravdess" in result.stdout and "decoding" in result.stderr
    report = json.loads((out / "prepare_report.json").read_text())
    total = Counter()
    for name, fx in fixtures.items():
        c = report["corpora"][name]
        assert c["found"] == fx.found, name
        assert c["per_class"] == {e: fx.kept[e] for e in EMOTIONS}, name
        assert c["skipped"] == dict(fx.skipped + fx.decode_skipped), name
        assert c["found"] == c["kept"] + sum(c["skipped"].values())
        total += fx.kept
    assert report["corpora"]["ravdess"]["language"] == "en" and report["corpora"]["iesc"]["language"] == "en"
    ds = load_from_disk(str(out))
    assert report["splits"]["train"] == dict.fromkeys(EMOTIONS, 20) and len(ds["train"]) == 120
    for label in EMOTIONS:  # every kept clip is in exactly one split before balancing
        assert (
            report["train_before_balancing"][label]
            + report["splits"]["validation"][label]
            + report["splits"]["test"][label]
            == total[label]
        )
    paths = split_paths(ds)
    for name in ("validation", "test"):
        assert len(set(paths[name])) == len(paths[name]) and not set(paths[name]) & set(paths["train"])
    assert not set(paths["validation"]) & set(paths["test"])
    assert "kai_happy_copy.wav" not in {Path(p).name for p in sum(paths.values(), [])}
    assert report["settings"]["split_by"] == "utterance"


@pytest.mark.slow
def test_cli_on_demo_corpus_without_config(tmp_path: Path) -> None:
    generate(tmp_path / "demo", seed=1, speakers=2, clips_per_speaker_per_emotion=3, quiet=True, mix="uniform")
    result = run_cli(
        "--corpus",
        f"folder={tmp_path / 'demo'}",
        "--output",
        str(tmp_path / "out"),
        "--per_class",
        "5",
        "--workers",
        "1",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "prepare_report.json").read_text())
    assert report["corpora"]["folder"]["kept"] == 36
    assert report["splits"]["train"] == dict.fromkeys(EMOTIONS, 5)


def test_unbalanced_train_split_and_speaker_folds(tmp_path: Path) -> None:
    """keep_unbalanced saves train before balancing as its own split; folds writes folds.json (whole speakers)."""
    generate(tmp_path / "demo", seed=2, speakers=6, clips_per_speaker_per_emotion=2, quiet=True)
    cfg = folder_config(
        tmp_path / "demo", tmp_path / "out", per_class=3, split_by="speaker", keep_unbalanced=True, folds=3
    )
    report = prepare(cfg, verbose=False)
    ds = load_from_disk(str(tmp_path / "out"))
    assert set(ds) == {"train", "validation", "test", "train_unbalanced"}
    assert set(report["splits"]) == {"train", "validation", "test"}  # the report's splits are what is trained on
    unbalanced = Counter(ds["train_unbalanced"].features["label"].int2str(ds["train_unbalanced"]["label"]))
    assert {e: unbalanced.get(e, 0) for e in EMOTIONS} == report["train_before_balancing"]
    assert len(set(ds["train_unbalanced"]["path"])) == len(ds["train_unbalanced"])  # no copies
    assert set(ds["train"]["path"]) <= set(ds["train_unbalanced"]["path"])
    folds = json.loads((tmp_path / "out" / "folds.json").read_text())
    speakers = {s for name in ("train_unbalanced", "validation", "test") for s in ds[name]["speaker"]}
    assert folds["k"] == 3 and set(folds["speakers"]) == speakers and set(folds["speakers"].values()) == {0, 1, 2}
    assert sum(sum(f.values()) for f in folds["per_fold"]) == report["corpora"]["folder"]["kept"]
    with pytest.raises(ConfigError, match="folds"):
        folder_config(tmp_path / "demo", tmp_path / "o2", folds=2)
