"""recipe.search: the search-space file (checked keys and distributions), a real 2-trial optuna search on a tiny
model whose trials really train with their sampled values, its results and best config, and resuming the study."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import torch
import yaml

from recipe import search
from recipe.components.config import load_config
from recipe.components.search_space import SearchSpaceError, load_space, suggest, training_values
from tests.support.train_helpers import make_dataset, tiny_config, write_config

SPACE = {
    "space": {
        "training.learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "recipe.mixup_alpha": {"type": "float", "low": 0.0, "high": 0.5},
        "recipe.freeze_encoder_epochs": {"type": "int", "low": 0, "high": 1},
        "model.head_dropout": {"type": "float", "low": 0.1, "high": 0.5},
        "model.pooling": {"type": "categorical", "choices": ["attentive", "mean"]},
    }
}


def test_space_file_is_parsed_and_sampled(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(SPACE, sort_keys=False))
    params = load_space(path)
    assert [p.name for p in params] == list(SPACE["space"])
    trial = optuna.trial.FixedTrial(
        {
            "training.learning_rate": 3e-3,
            "recipe.mixup_alpha": 0.2,
            "recipe.freeze_encoder_epochs": 1,
            "model.head_dropout": 0.25,
            "model.pooling": "mean",
        }
    )
    values = suggest(trial, params)
    assert values["model.pooling"] == "mean" and values["recipe.freeze_encoder_epochs"] == 1
    assert training_values(values) == {"learning_rate": 3e-3}
    assert load_space(Path(search.DEFAULT_SPACE))  # the shipped space parses


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"learning_rate": {"type": "float", "low": 1, "high": 2}}, "must be section.key"),
        ({"data.train_split": {"type": "categorical", "choices": ["a"]}}, "cannot be searched"),
        ({"model.max_duration": {"type": "float", "low": 1, "high": 2}}, "cannot be searched"),
        ({"recipe.mixup_alpha": {"type": "float", "low": 0.5, "high": 0.1}}, "low < high"),
        ({"recipe.mixup_alpha": {"type": "float", "low": 0, "high": 1, "log": True}}, "log needs low > 0"),
        ({"recipe.mixup_alpha": {"type": "beta", "low": 0, "high": 1}}, "expected {type:"),
        ({"recipe.mixup_alpha": {"type": "float", "low": 0, "high": 1, "lo": 0}}, "unknown field"),
    ],
)
def test_bad_space_names_file_and_key(tmp_path, spec, message):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({"space": spec}))
    with pytest.raises(SearchSpaceError, match=message) as err:
        load_space(path)
    assert str(err.value).startswith(f"{path}: ")


def test_unknown_config_key_in_space_is_exit_2(tmp_path, capsys):
    data = make_dataset(tmp_path / "data", n_train=1, n_eval=1)
    config = write_config(tmp_path / "cfg.yaml", tiny_config())
    space = tmp_path / "space.yaml"
    space.write_text("space:\n  training.learnig_rate: {type: float, low: 0.001, high: 0.01}\n")
    argv = ["--config", config, "--data", data, "--output", str(tmp_path / "o"), "--space", str(space)]
    assert search.main(argv) == 2
    err = capsys.readouterr().err
    assert "space.yaml: training.learnig_rate:" in err and "learnig_rate" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_two_trial_search_writes_results_best_config_and_resumes(tmp_path):
    data = make_dataset(tmp_path / "data", n_train=2, n_eval=1)
    cfg = tiny_config(training={"num_train_epochs": 2, "per_device_train_batch_size": 6, "logging_steps": 1})
    config = write_config(tmp_path / "cfg.yaml", cfg)
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE, sort_keys=False))
    out = tmp_path / "search"
    argv = ["--config", config, "--data", data, "--output", str(out), "--space", str(space), "--keep_checkpoints"]
    assert search.main([*argv, "--n_trials", "2"]) == 0

    results = json.loads((out / search.RESULTS_JSON).read_text())
    assert (results["backend"], results["metric"], results["direction"]) == ("optuna", "eval_uar", "maximize")
    assert [t["number"] for t in results["trials"]] == [0, 1]
    for trial in results["trials"]:
        assert trial["state"] == "COMPLETE" and set(trial["params"]) == set(SPACE["space"])
        assert 1e-4 <= trial["params"]["training.learning_rate"] <= 1e-2
        # the trial trained with its own values: the head dropout of its saved model, the learning rate of its
        # arguments, and its objective is the best validation UAR it logged
        ckpt = sorted((out / "trials" / f"trial-{trial['number']}").glob("checkpoint-*"))[-1]
        saved = json.loads((ckpt / "config.json").read_text())
        assert saved["head_dropout"] == pytest.approx(trial["params"]["model.head_dropout"])
        assert saved["pooling"] == trial["params"]["model.pooling"]
        args = torch.load(ckpt / "training_args.bin", weights_only=False)
        assert args.learning_rate == pytest.approx(trial["params"]["training.learning_rate"])
        history = json.loads((ckpt / "trainer_state.json").read_text())["log_history"]
        assert trial["objective"] == max(e["eval_uar"] for e in history if "eval_uar" in e)
    best = max(results["trials"], key=lambda t: t["objective"])
    assert results["best"]["number"] == best["number"] and results["best"]["params"] == best["params"]

    best_cfg = load_config(out / search.BEST_CONFIG)  # what `recipe.train --config` reads
    assert best_cfg.training["learning_rate"] == pytest.approx(best["params"]["training.learning_rate"])
    assert best_cfg.recipe.mixup_alpha == pytest.approx(best["params"]["recipe.mixup_alpha"])
    assert best_cfg.recipe.freeze_encoder_epochs == best["params"]["recipe.freeze_encoder_epochs"]
    assert best_cfg.model.head_dropout == pytest.approx(best["params"]["model.head_dropout"])
    assert best_cfg.model.head_sizes == [16] and best_cfg.data.dataset_dir == data  # the rest as configured

    # a second call continues the study: the two finished trials stay, one more runs
    assert search.main([*argv, "--n_trials", "3"]) == 0
    again = json.loads((out / search.RESULTS_JSON).read_text())
    assert again["trials"][:2] == results["trials"]
    assert [t["number"] for t in again["trials"]] == [0, 1, 2] and again["trials"][2]["state"] == "COMPLETE"
