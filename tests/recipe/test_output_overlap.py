"""A command's output folder never is, holds or lies inside one of its inputs: recipe.evaluate (--model is where it
writes) vs --data, recipe.export --output vs --data, recipe.ensemble --output vs each --model, recipe.search --output
vs --data, recipe.baseline --output (a file) vs --data. Each is refused before any work, exit 2, one line, and
nothing on disk changes. An ensemble's --overwrite replaces only an earlier ensemble."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.outputs import ENSEMBLE, TRAINING_RUN, kind_of, write_marker
from recipe.baseline import main as baseline_main
from recipe.ensemble import main as ensemble_main
from recipe.evaluate import main as evaluate_main
from recipe.export import main as export_main
from recipe.search import main as search_main
from tests.support.tiny_models import save_tiny_ser_model
from tests.support.train_helpers import make_dataset, tiny_config, write_config

RELATION = {"same": "is", "inside": "lies inside", "contains": "contains"}


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def one_line_exit_2(rc: int, err: str) -> str:
    assert rc == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def dataset_under(tmp_path: Path) -> Path:
    """A prepared dataset at tmp_path/outer/data."""
    return Path(make_dataset(tmp_path / "outer" / "data", n_train=1, n_eval=1))


@pytest.mark.parametrize("where", ["same", "inside", "contains"])
def test_evaluate_refuses_a_model_folder_overlapping_the_data(tmp_path, capsys, where) -> None:
    data = dataset_under(tmp_path)
    # A loadable model at every place, so that nothing but the overlap can stop the evaluation.
    model = {"same": data, "inside": data / "run", "contains": data.parent}[where]
    if where != "same":
        save_tiny_ser_model(model, id2label=dict(enumerate(["anger", "fear", "happy", "neutral", "sad", "surprise"])))
    before = files_of(tmp_path)
    capsys.readouterr()
    rc = evaluate_main(["--model", str(model), "--data", str(data), "--calibrate_on", "none"])
    err = one_line_exit_2(rc, capsys.readouterr().err)
    assert f"--model {model} {RELATION[where]} the input --data {data}" in err
    assert files_of(tmp_path) == before  # no eval_results.json, figure or temperature written anywhere


@pytest.mark.parametrize("where", ["same", "inside", "contains"])
def test_export_refuses_an_output_overlapping_the_data(tmp_path, capsys, where) -> None:
    data = dataset_under(tmp_path)
    model = save_tiny_ser_model(tmp_path / "model")
    output = {"same": data, "inside": data / "onnx", "contains": data.parent}[where]
    before = files_of(tmp_path)
    capsys.readouterr()
    rc = export_main(["--model", model, "--output", str(output), "--quantize", "int8", "--data", str(data)])
    err = one_line_exit_2(rc, capsys.readouterr().err)
    assert f"--output {output} {RELATION[where]} the input --data" in err
    assert files_of(tmp_path) == before and not any(tmp_path.rglob(".*.partial-*"))


@pytest.fixture
def members(tmp_path: Path) -> list[Path]:
    return [Path(save_tiny_ser_model(tmp_path / "runs" / f"m{seed}", seed=seed)) for seed in (1, 2)]


@pytest.mark.parametrize("where", ["same", "inside", "contains"])
def test_ensemble_never_replaces_or_nests_in_a_member(tmp_path, capsys, members, where) -> None:
    output = {"same": members[1], "inside": members[0] / "ensemble", "contains": members[0].parent}[where]
    before = files_of(tmp_path)
    argv = ["--model", str(members[0]), "--model", str(members[1]), "--output", str(output), "--overwrite"]
    err = one_line_exit_2(ensemble_main(argv), capsys.readouterr().err)
    assert f"--output {output} {RELATION[where]} the input --model" in err
    assert files_of(tmp_path) == before


def test_ensemble_beside_its_members_is_written_and_replaced_with_overwrite(tmp_path, capsys, members) -> None:
    output = tmp_path / "runs" / "ensemble"  # a sibling of the members: no overlap
    argv = ["--model", str(members[0]), "--model", str(members[1]), "--output", str(output)]
    assert ensemble_main(argv) == 0, capsys.readouterr().err
    assert (output / "config.json").is_file() and (output / "members").is_dir()
    assert kind_of(output) == ENSEMBLE
    (output / "stale.txt").write_text("left by hand")
    assert ensemble_main([*argv, "--overwrite"]) == 0, capsys.readouterr().err  # an earlier ensemble: replaced whole
    assert (output / "config.json").is_file() and not (output / "stale.txt").exists()


@pytest.mark.parametrize("folder", ["notes", "training run"])
def test_ensemble_overwrite_never_replaces_a_folder_that_is_not_an_ensemble(tmp_path, capsys, members, folder) -> None:
    output = tmp_path / "elsewhere"
    output.mkdir()
    (output / "ideas.md").write_text("mine")
    if folder == "training run":
        write_marker(output, TRAINING_RUN)
    before = files_of(output)
    argv = ["--model", str(members[0]), "--model", str(members[1]), "--output", str(output), "--overwrite"]
    err = one_line_exit_2(ensemble_main(argv), capsys.readouterr().err)
    assert "refusing to replace it even with --overwrite" in err
    assert files_of(output) == before


@pytest.mark.parametrize("where", ["same", "inside", "contains"])
def test_search_refuses_an_output_overlapping_the_data(tmp_path, capsys, where) -> None:
    data = dataset_under(tmp_path)
    output = {"same": data, "inside": data / "search", "contains": data.parent}[where]
    config = write_config(tmp_path / "c.yaml", tiny_config())
    before = files_of(tmp_path)
    capsys.readouterr()
    # A space file that does not exist: the overlap must be refused before the space (or anything else) is read.
    argv = ["--config", config, "--data", str(data), "--output", str(output), "--space", str(tmp_path / "none.yaml")]
    err = one_line_exit_2(search_main(argv), capsys.readouterr().err)
    assert f"--output {output} {RELATION[where]} the input --data" in err
    assert files_of(tmp_path) == before and not (data / "search").exists()


@pytest.mark.parametrize("name", ["dataset_dict.json", "baseline.json"])
def test_baseline_never_writes_its_scores_into_the_data(tmp_path, capsys, name) -> None:
    data = dataset_under(tmp_path)
    output = data / name  # the first would replace the file that makes the folder a dataset
    before = files_of(tmp_path)
    capsys.readouterr()
    err = one_line_exit_2(baseline_main(["--data", str(data), "--output", str(output)]), capsys.readouterr().err)
    assert f"--output {output} lies inside the input --data" in err
    assert files_of(tmp_path) == before


def test_search_never_continues_in_a_folder_the_recipe_did_not_write(tmp_path, capsys) -> None:
    data = dataset_under(tmp_path)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine\n")
    config = write_config(tmp_path / "c.yaml", tiny_config())
    before = files_of(tmp_path)
    capsys.readouterr()
    err = one_line_exit_2(
        search_main(["--config", config, "--data", str(data), "--output", str(notes), "--n_trials", "1"]),
        capsys.readouterr().err,
    )
    assert f"{notes} holds files the recipe did not write" in err
    assert files_of(tmp_path) == before
