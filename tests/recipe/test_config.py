"""Config files and command-line overrides: seed defaults, coercion, unknown keys are errors, precision autos."""
from __future__ import annotations

import pytest
import torch

from recipe.components.config import (
    ConfigError,
    build_training_arguments,
    load_config,
    parse_overrides,
    resolve_precision,
)
from tests.support.train_helpers import REPO


def test_recipe_yaml_is_the_seed_recipe(tmp_path):
    cfg = load_config(REPO / "configs" / "recipe.yaml")
    assert cfg.model.encoder == "superb/wav2vec2-base-superb-er" and not cfg.model.from_scratch
    assert cfg.model.head_dropout == 0.3
    assert (cfg.recipe.mixup_alpha, cfg.recipe.label_smoothing) == (0.3, 0.1)
    assert (cfg.recipe.freeze_encoder_epochs, cfg.recipe.early_stopping_patience) == (2, 10)
    args = build_training_arguments(cfg, str(tmp_path))
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (8, 4)
    assert args.learning_rate == 5e-5 and isinstance(args.learning_rate, float)
    assert (args.num_train_epochs, args.weight_decay) == (15, 0.01)
    assert args.metric_for_best_model == "uar" and args.load_best_model_at_end
    assert args.train_sampling_strategy == "group_by_length"
    if not torch.cuda.is_available():
        assert not args.fp16 and not args.bf16


def test_demo_yaml_loads(tmp_path):
    cfg = load_config(REPO / "configs" / "demo.yaml")
    assert cfg.model.from_scratch and cfg.model.encoder_config and cfg.recipe.demo
    build_training_arguments(cfg, str(tmp_path))
    assert cfg.model.pooling == "attentive"
    assert load_config(None, ["--model.pooling", "mean"]).model.pooling == "mean"
    with pytest.raises(ConfigError, match="model.pooling"):
        load_config(None, ["--model.pooling", "max"])


def test_overrides_dotted_bare_flag_and_coercion():
    cfg = load_config(
        None,
        ["--training.learning_rate", "1e-4", "--num_train_epochs", "3", "--recipe.mixup_alpha=0",
         "--push_to_hub", "--hub_model_id", "me/ser", "--head_sizes", "[64, 32]", "--pad_to_multiple_of", "null"],
    )
    assert cfg.training["learning_rate"] == 1e-4 and isinstance(cfg.training["learning_rate"], float)
    assert cfg.training["num_train_epochs"] == 3.0
    assert cfg.recipe.mixup_alpha == 0.0
    assert cfg.hub.push_to_hub is True and cfg.hub.hub_model_id == "me/ser"
    assert cfg.model.head_sizes == [64, 32]
    assert cfg.data.pad_to_multiple_of is None
    assert parse_overrides(["--naive_padding"]) == [("data", "naive_padding", "true")]


def test_yaml_strings_are_coerced(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  learning_rate: 5e-5\nrecipe:\n  freeze_encoder_epochs: '1'\n")
    cfg = load_config(path)
    assert cfg.training["learning_rate"] == 5e-5 and cfg.recipe.freeze_encoder_epochs == 1


@pytest.mark.parametrize(
    "text, message",
    [
        ("modle:\n  encoder: x\n", "unknown section 'modle'"),
        ("model:\n  encodr: x\n", "unknown key model.encodr"),
        ("training:\n  learning_rat: 0.1\n", "unknown key training.learning_rat (not a transformers.TrainingArguments"),
        ("training:\n  push_to_hub: true\n", "use hub.push_to_hub"),
        ("training:\n  label_smoothing_factor: 0.1\n", "recipe.label_smoothing"),
        ("recipe:\n  freeze_encoder_epochs: two\n", "expected an integer"),
        ("recipe:\n  mixup_alpha: -1\n", "mixup_alpha must be >= 0"),
        ("hub:\n  push_to_hub: true\n", "needs hub.hub_model_id"),
        ("- a\n- b\n", "top level must be a mapping"),
    ],
)
def test_bad_config_files_are_errors_naming_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value)
    if "top level" in message or "unknown" in message:
        assert str(path) in str(err.value)


def test_bad_overrides_are_errors():
    with pytest.raises(ConfigError, match="unknown option"):
        load_config(None, ["--learning_rat", "1"])
    with pytest.raises(ConfigError, match="unknown section"):
        load_config(None, ["--trainin.learning_rate", "1"])
    with pytest.raises(ConfigError, match="expected --key"):
        load_config(None, ["learning_rate"])
    with pytest.raises(ConfigError, match="missing.yaml: config file not found"):
        load_config("missing.yaml")


def test_training_arguments_errors_are_config_errors(tmp_path):
    cfg = load_config(None, ["--eval_strategy", "sometimes"])
    with pytest.raises(ConfigError, match="invalid TrainingArguments"):
        build_training_arguments(cfg, str(tmp_path))


def test_naive_padding_disables_length_grouping(tmp_path):
    cfg = load_config(None, ["--naive_padding"])
    assert build_training_arguments(cfg, str(tmp_path)).train_sampling_strategy == "random"


def test_precision_auto(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cpu = resolve_precision({"fp16": "auto", "bf16": "auto", "dataloader_pin_memory": "auto"})
    assert (cpu["fp16"], cpu["bf16"], cpu["dataloader_pin_memory"]) == (False, False, False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision({"fp16": "auto", "bf16": False})["fp16"] is True
    gpu_bf16 = resolve_precision({"fp16": "auto", "bf16": "auto", "dataloader_pin_memory": "auto"})
    assert (gpu_bf16["fp16"], gpu_bf16["bf16"], gpu_bf16["dataloader_pin_memory"]) == (False, True, True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision({"fp16": "auto", "bf16": "auto"})["fp16"] is True
    with pytest.raises(ConfigError, match="both on"):
        resolve_precision({"fp16": True, "bf16": True})


def test_yaml_no_is_the_string_no(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  save_strategy: no\n  eval_strategy: 'no'\n  load_best_model_at_end: false\n")
    args = build_training_arguments(load_config(path), str(tmp_path))
    assert args.save_strategy == "no" and args.eval_strategy == "no"


def test_report_to_none_stays_a_string(tmp_path):
    cfg = load_config(REPO / "configs" / "demo.yaml", ["--report_to", "none"])
    assert cfg.training["report_to"] == "none"
    build_training_arguments(cfg, str(tmp_path))
