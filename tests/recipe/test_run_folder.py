"""One run per output folder, nothing of the user's deleted, no stale records beside new weights, and --resume
continues only the recipe its checkpoints were trained with."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from common.atomic import output_lock
from common.outputs import MARKER, TRAINING_RUN, kind_of, write_marker
from recipe.components.config import load_config
from recipe.components.run_folder import CONFIG_FILE, claim_output_dir, config_changes
from recipe.experiments import main as experiments_main
from recipe.train import main
from tests.support.train_helpers import make_dataset, tiny_config, write_config


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def one_line_exit_2(rc: int, err: str) -> str:
    assert rc == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_second_run_on_a_locked_output_is_refused(tmp_path, capsys, small_dataset) -> None:
    config = write_config(tmp_path / "c.yaml", tiny_config())
    out = tmp_path / "out"
    with output_lock(out):  # another run holds OUT
        rc = main(["--config", config, "--data", small_dataset, "--output_dir", str(out)])
        err = one_line_exit_2(rc, capsys.readouterr().err)
        assert f"being written by another run (pid {os.getpid()}" in err
        exp = tmp_path / "exp"
        with output_lock(exp):
            rc = experiments_main(["--config", config, "--data", small_dataset, "--output", str(exp)])
            err = one_line_exit_2(rc, capsys.readouterr().err)
            assert f"{exp} is being written by another run (pid {os.getpid()}" in err
    assert not out.exists() and not exp.exists()


@pytest.mark.parametrize("where", ["inside", "contains", "same"])
def test_output_dir_overlapping_the_data_is_refused(tmp_path, capsys, where) -> None:
    data = Path(make_dataset(tmp_path / "outer" / "data", n_train=1, n_eval=1))
    before = files_of(data)
    capsys.readouterr()  # the dataset's progress bars
    out = {"inside": data / "run", "contains": data.parent, "same": data}[where]
    config = write_config(tmp_path / "c.yaml", tiny_config())
    rc = main(["--config", config, "--data", str(data), "--output_dir", str(out), "--overwrite_output_dir"])
    err = one_line_exit_2(rc, capsys.readouterr().err)
    assert {"inside": "lies inside", "contains": "contains", "same": "is"}[where] + " the input --data" in err
    assert files_of(data) == before and not (data / "run").exists()


def test_finished_model_folder_needs_overwrite_output_dir(tmp_path, capsys, small_dataset) -> None:
    out = tmp_path / "model"
    out.mkdir()
    for name in ("config.json", "model.safetensors", "run_info.json", "train_config.yaml", "README.md"):
        (out / name).write_text(name)  # a finished run of an older recipe: no marker, no checkpoint
    before = files_of(out)
    config = write_config(tmp_path / "c.yaml", tiny_config())
    rc = main(["--config", config, "--data", small_dataset, "--output_dir", str(out)])
    err = one_line_exit_2(rc, capsys.readouterr().err)
    assert "already holds files of an earlier run" in err and "--overwrite_output_dir" in err
    assert files_of(out) == before


def test_overwrite_output_dir_refuses_a_folder_the_recipe_did_not_write(tmp_path, capsys, small_dataset) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "ideas.md").write_text("mine")
    (notes / "config.json").write_text("{}")  # a name the recipe also writes: still not the recipe's folder
    config = write_config(tmp_path / "c.yaml", tiny_config())
    rc = main(["--config", config, "--data", small_dataset, "--output_dir", str(notes), "--overwrite_output_dir"])
    err = one_line_exit_2(rc, capsys.readouterr().err)
    assert "files the recipe did not write" in err
    assert files_of(notes) == {"config.json": b"{}", "ideas.md": b"mine"}


def test_reusing_a_run_folder_removes_every_record_of_the_earlier_run(tmp_path) -> None:
    out = tmp_path / "model"
    (out / "checkpoint-3").mkdir(parents=True)
    (out / "onnx").mkdir()
    (out / "my_analysis").mkdir()
    write_marker(out, TRAINING_RUN)
    records = ("README.md", "eval_results.json", "app.py", "requirements.txt", "run_info.json", "model.safetensors")
    for name in (*records, "confusion_matrix.png", "notes.txt"):
        (out / name).write_text("old")
    (out / "onnx" / "export_info.json").write_text('{"files": ["model.onnx"]}')
    (out / "onnx" / "model_int8.onnx").write_text("old graph")
    (out / "my_analysis" / "plot.png").write_text("mine")
    cfg = load_config(None, ["--data", str(tmp_path / "data"), "--overwrite_output_dir"])
    removed = claim_output_dir(out, cfg, resuming=False)
    assert set(removed) == {*records, "confusion_matrix.png", "checkpoint-3", "onnx"}
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, "my_analysis", "notes.txt"])
    assert kind_of(out) == TRAINING_RUN


def test_config_changes_split_structural_from_safe() -> None:
    saved = yaml.safe_load(load_config(None, ["--data", "d"]).to_yaml())
    new = yaml.safe_load(
        load_config(
            None, ["--data", "d", "--num_train_epochs", "30", "--early_stopping_patience", "3", "--pooling", "mean"]
        ).to_yaml()
    )
    structural, safe = config_changes(saved, new)
    assert structural == ["model.pooling 'attentive' -> 'mean'"]
    assert safe == ["recipe.early_stopping_patience 10 -> 3", "training.num_train_epochs 15.0 -> 30.0"]
    assert config_changes(saved, saved) == ([], [])


@pytest.mark.slow  # trains one tiny epoch, then resumes it once
def test_resume_refuses_a_structural_change_and_allows_a_safe_one(tmp_path, capsys, small_dataset) -> None:
    config = write_config(tmp_path / "c.yaml", tiny_config(training={"num_train_epochs": 1}))
    out = tmp_path / "out"
    base = ["--config", config, "--data", small_dataset, "--output_dir", str(out)]
    assert main(base) == 0
    checkpoint = next(out.glob("checkpoint-*"))
    assert (checkpoint / CONFIG_FILE).read_text() == (out / CONFIG_FILE).read_text()
    other_data = make_dataset(tmp_path / "other", n_train=1, n_eval=1, seed=5)
    capsys.readouterr()
    for extra, key in (
        (["--pooling", "mean"], "model.pooling 'attentive' -> 'mean'"),
        (["--learning_rate", "0.01"], "training.learning_rate 0.001 -> 0.01"),
        (["--mixup_alpha", "0"], "recipe.mixup_alpha 0.3 -> 0.0"),
        (["--data", other_data], "data.dataset_dir"),
    ):
        rc = main([*base, "--resume", *extra])
        err = one_line_exit_2(rc, capsys.readouterr().err)
        assert key in err and "--resume" in err, err
    assert main([*base, "--resume", "--num_train_epochs", "2", "--logging_steps", "1"]) == 0
    printed = capsys.readouterr().out
    assert "continuing with changed training.logging_steps 5.0 -> 1.0; training.num_train_epochs 1.0 -> 2.0" in printed


@pytest.mark.parametrize("where", ["model", "parent", "notes"])
def test_export_never_replaces_its_model_or_a_foreign_folder(tmp_path, capsys, where) -> None:
    from recipe.export import main as export_main

    model = tmp_path / "run" / "model"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine")
    output = {"model": model, "parent": model.parent, "notes": notes}[where]
    before = files_of(tmp_path)
    rc = export_main(["--model", str(model), "--output", str(output)])
    err = one_line_exit_2(rc, capsys.readouterr().err)
    expected = {"model": "holds the model folder", "parent": "holds the model folder", "notes": "did not write"}
    assert expected[where] in err
    assert files_of(tmp_path) == before
