"""The built-in defaults are the shipped config files' values: `python -m data_prep --corpus ...` without
`--config` prepares what configs/data.yaml prepares (train_unbalanced, folds.json), and `python -m recipe.train`
without `--config` trains what configs/recipe.yaml says."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from data_prep.config import PrepareOptions
from recipe.components.config import RecipeConfig

REPO = Path(__file__).resolve().parents[1]


def _read(name: str) -> dict:
    return yaml.safe_load((REPO / "configs" / name).read_text(encoding="utf-8"))


def test_data_prep_defaults_are_data_yaml():
    shipped = _read("data.yaml")
    defaults = dataclasses.asdict(PrepareOptions())
    shipped.pop("corpora")  # the corpus list is the file's, the built-in default has none
    defaults.pop("corpora")
    assert defaults == shipped


def test_recipe_defaults_are_recipe_yaml():
    shipped = _read("recipe.yaml")
    defaults = RecipeConfig().to_dict()
    assert sorted(defaults) == sorted(shipped)
    for section, values in defaults.items():
        assert values == shipped[section], section


def test_recipe_large_leaves_precision_to_auto():
    """recipe_large.yaml sets no fp16/bf16 of its own: `precision: auto` picks bf16 on GPUs that have it."""
    from recipe.components.config import AUTO, load_config

    shipped = _read("recipe_large.yaml")
    assert not {"fp16", "bf16"} & set(shipped["training"])
    cfg = load_config(REPO / "configs" / "recipe_large.yaml")
    assert cfg.recipe.precision == AUTO
    assert cfg.training["fp16"] == cfg.training["bf16"] == AUTO
