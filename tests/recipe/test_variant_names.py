"""Variant names become folders under OUT/runs: a name that is not one plain folder name (`..`, `.`, "", a path,
a hidden name) is refused with one line and exit 2 before anything runs, and no run folder lies outside OUT/runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recipe import experiments
from recipe.components.ablation import VariantError, run_folder
from tests.support.train_helpers import make_dataset, tiny_config, write_config

BAD_NAMES = ["..", ".", "", "a/b", "../escape", ".hidden", "/abs", "a\\0b", " lead", "x" * 101, "null"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    base = tmp_path_factory.mktemp("variants")
    data = make_dataset(base / "data", n_train=3, n_eval=2)
    return write_config(base / "cfg.yaml", tiny_config(training={"num_train_epochs": 1})), data


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_variant_name_is_one_line_exit_2_and_nothing_runs(
    tmp_path: Path, setup, name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    config, data = setup
    started: list[Path] = []

    def no_training(run, *args, **kwargs):
        started.append(run.folder)
        raise ValueError("stop")

    monkeypatch.setattr(experiments, "execute", no_training)
    variants = tmp_path / "v.yaml"
    key = "null" if name == "null" else json.dumps(name.replace("\\0", "\0"))  # YAML null: a name that is no text
    variants.write_text(f"variants:\n  {key}: {{recipe.mixup_alpha: 0.0}}\n")
    out = tmp_path / "exp" / "out"
    argv = ["--config", config, "--data", data, "--output", str(out), "--seeds", "1", "--variant_file", str(variants)]
    assert experiments.main([*argv, "--variants", "baseline," + name.replace("\\0", "\0")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot name a run folder" in err[0], err
    assert started == [] and not out.exists()


@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "../../x", ".hidden", "/tmp/x"])
def test_run_folder_refuses_names_that_leave_runs(tmp_path: Path, name: str) -> None:
    with pytest.raises(VariantError, match="cannot name a run folder"):
        run_folder(tmp_path, name, 42)


@pytest.mark.parametrize("name", ["baseline", "no_mixup", "loco-crema_d", "lr 3e-5", "v1.2+wide"])
def test_good_names_land_in_out_runs(tmp_path: Path, name: str) -> None:
    assert run_folder(tmp_path, name, 7, 1) == tmp_path / "runs" / name / "seed-7" / "fold-1"
    assert run_folder(tmp_path, name, 7) == tmp_path / "runs" / name / "seed-7"
