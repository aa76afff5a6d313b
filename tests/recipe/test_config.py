"""Config files and command-line overrides: seed defaults, types, unknown keys are errors, precision autos, and
`python -m recipe.train` refusing bad values (exit 2, one line) before a model is built."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch
import yaml

import recipe.train as train
from recipe.components import assembly, training
from recipe.components.config import (
    ConfigError,
    build_training_arguments,
    config_parser,
    load_config,
    resolve_precision,
)
from recipe.components.metrics import compute_metrics
from tests.support.train_helpers import REPO


def test_recipe_yaml_is_the_seed_recipe(tmp_path):
    cfg = load_config(REPO / "configs" / "recipe.yaml")
    assert cfg.model.encoder == "speechbrain/emotion-recognition-wav2vec2-IEMOCAP" and not cfg.model.from_scratch
    assert cfg.model.attention_hidden_size == 384 and cfg.model.encoder_output_norm is None
    assert cfg.model.head_dropout == 0.3
    assert (cfg.recipe.mixup_alpha, cfg.recipe.label_smoothing) == (0.3, 0.1)
    assert (cfg.recipe.freeze_encoder_epochs, cfg.recipe.early_stopping_patience) == (2, 10)
    args = build_training_arguments(cfg, str(tmp_path))
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (8, 4)
    assert args.learning_rate == 5e-5 and isinstance(args.learning_rate, float)
    assert (args.num_train_epochs, args.weight_decay, args.warmup_steps) == (15, 0.01, 0.1)
    assert args.dataloader_num_workers == 2
    assert args.metric_for_best_model == "uar" and args.load_best_model_at_end
    assert args.train_sampling_strategy == "group_by_length"
    if not torch.cuda.is_available():
        assert not args.fp16 and args.use_cpu  # bf16 where the CPU has it (tests/recipe/test_precision.py)


def test_no_config_is_the_seed_recipe():
    """The seed recipe's values are the defaults: configs/recipe.yaml only restates them."""
    assert load_config(None) == load_config(REPO / "configs" / "recipe.yaml")
    assert load_config(None).training["warmup_steps"] == 0.1


def test_demo_yaml_loads(tmp_path):
    cfg = load_config(REPO / "configs" / "demo.yaml")
    assert cfg.model.from_scratch and cfg.model.encoder_config and cfg.recipe.demo
    assert cfg.training["disable_tqdm"] is True  # a key outside the seed's set, kept because the file sets it
    build_training_arguments(cfg, str(tmp_path))
    assert cfg.model.pooling == "attentive"
    assert load_config(None, ["--model.pooling", "mean"]).model.pooling == "mean"
    with pytest.raises(ConfigError, match="model.pooling"):
        load_config(None, ["--model.pooling", "max"])


def test_overrides_dotted_bare_and_bool_forms():
    cfg = load_config(
        None,
        [
            "--training.learning_rate",
            "1e-4",
            "--num_train_epochs",
            "3",
            "--recipe.mixup_alpha=0",
            "--push_to_hub",
            "--hub_model_id",
            "me/ser",
            "--head_sizes",
            "64",
            "32",
            "--pad_to_multiple_of",
            "null",
            "--encoder_config",
            "{layerdrop: 0.1}",
            "--no_log_train_accuracy",
            "--data",
            "DIR",
        ],
    )
    assert cfg.training["learning_rate"] == 1e-4 and isinstance(cfg.training["learning_rate"], float)
    assert cfg.training["num_train_epochs"] == 3.0
    assert cfg.recipe.mixup_alpha == 0.0 and cfg.recipe.log_train_accuracy is False
    assert cfg.hub.push_to_hub is True and cfg.hub.hub_model_id == "me/ser"
    assert cfg.model.head_sizes == [64, 32] and cfg.model.encoder_config == {"layerdrop": 0.1}
    assert cfg.data.pad_to_multiple_of is None and cfg.data.dataset_dir == "DIR"
    assert load_config(None, ["--naive_padding"]).data.naive_padding is True
    assert load_config(None, ["--fp16", "auto", "--bf16", "false"]).training["fp16"] == "auto"


def test_command_line_overrides_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  learning_rate: 2.0e-4\n  seed: 7\n")
    cfg = load_config(path, ["--learning_rate", "3e-4"])
    assert cfg.training["learning_rate"] == 3e-4 and cfg.training["seed"] == 7


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
        ("training:\n  push_to_hub: true\n", "training.push_to_hub is not set here; use hub.push_to_hub"),
        ("training:\n  label_smoothing_factor: 0.1\n", "recipe.label_smoothing"),
        ("recipe:\n  freeze_encoder_epochs: two\n", "recipe.freeze_encoder_epochs: expected an integer"),
        ("training:\n  dataloader_num_workers: true\n", "training.dataloader_num_workers: expected an integer"),
        ("model:\n  encoder: 7\n", "model.encoder: expected a string"),
        ("training:\n  learning_rate: auto\n", "training.learning_rate: expected a number"),
        ("recipe:\n  mixup_alpha: -1\n", "recipe.mixup_alpha must be >= 0"),
        ("hub:\n  push_to_hub: true\n", "hub.push_to_hub needs hub.hub_model_id"),
        ("training:\n  metric_for_best_model: uarr\n", "training.metric_for_best_model 'uarr' is not a metric"),
        ("training:\n  per_device_train_batch_size: 0\n", "training.per_device_train_batch_size must be >= 1"),
        ("training:\n  learning_rate: -1.0e-4\n", "training.learning_rate must be > 0"),
        ("training:\n  eval_strategy: sometimes\n", "training.eval_strategy: expected one of no, steps, epoch"),
        ("- a\n- b\n", "top level must be a mapping"),
    ],
)
def test_bad_config_files_are_errors_naming_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value)
    assert str(err.value).startswith(f"{path}: ")


@pytest.mark.parametrize("metric", ["accuracy", "uar", "macro_f1", "loss", "eval_uar", "eval_macro_f1"])
def test_metrics_the_recipe_computes_are_accepted(metric):
    assert load_config(None, ["--metric_for_best_model", metric]).training["metric_for_best_model"] == metric


def test_best_model_metrics_are_the_computed_ones():
    """The accepted names are what compute_metrics returns (the Trainer adds eval_loss itself)."""
    from transformers import EvalPrediction

    from recipe.components.config import BEST_MODEL_METRICS

    metrics = compute_metrics(EvalPrediction(predictions=torch.eye(3).numpy(), label_ids=torch.arange(3).numpy()))
    assert set(metrics) | {"loss"} == set(BEST_MODEL_METRICS)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--learning_rat", "1"], "command line --learning_rat: unknown option"),
        (["--learning", "1e-4"], "command line --learning: unknown option"),  # no abbreviations
        (["--learning-rate", "1e-4"], "command line --learning-rate: unknown option"),  # one spelling
        (["--trainin.learning_rate", "1"], "unknown option"),
        (["--training.push_to_hub"], "use hub.push_to_hub"),
        (["learning_rate"], "unexpected argument 'learning_rate'"),
        (["--seed", "x"], "--seed: invalid int value: 'x'"),
        (["--metric_for_best_model", "uarr"], "command line --metric_for_best_model: training.metric_for_best_model"),
        (["--per_device_eval_batch_size", "0"], "training.per_device_eval_batch_size must be >= 1"),
        (["--no_load_best_model_at_end"], "load_best_model_at_end must be true while recipe.early_stopping_patience"),
    ],
)
def test_bad_overrides_are_errors(argv, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, argv)


def test_missing_config_file():
    with pytest.raises(ConfigError, match="missing.yaml: config file not found"):
        load_config("missing.yaml")


def test_training_arguments_errors_are_config_errors(tmp_path):
    cfg = load_config(None, ["--eval_steps", "0.5", "--eval_strategy", "steps", "--save_strategy", "epoch"])
    with pytest.raises(ConfigError, match="invalid TrainingArguments"):
        build_training_arguments(cfg, str(tmp_path))


def test_naive_padding_disables_length_grouping(tmp_path):
    cfg = load_config(None, ["--naive_padding"])
    assert build_training_arguments(cfg, str(tmp_path)).train_sampling_strategy == "random"


def test_precision_auto_resolves_through_the_precision_module(monkeypatch):
    """The choice itself is tested in test_precision.py; here: resolve_precision delegates and fills the autos."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Tesla T4")
    gpu = resolve_precision({"fp16": "auto", "bf16": "auto", "dataloader_pin_memory": "auto"})
    assert (gpu["fp16"], gpu["bf16"], gpu["dataloader_pin_memory"]) == (True, False, True)
    with pytest.raises(ConfigError, match="both true"):
        resolve_precision({"fp16": True, "bf16": True})


def test_yaml_no_is_the_string_no(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "training:\n  save_strategy: no\n  eval_strategy: 'no'\n  load_best_model_at_end: false\n"
        "recipe:\n  early_stopping_patience: null\n"
    )
    args = build_training_arguments(load_config(path), str(tmp_path))
    assert args.save_strategy == "no" and args.eval_strategy == "no"


def test_report_to_none_stays_a_string(tmp_path):
    cfg = load_config(REPO / "configs" / "demo.yaml", ["--report_to", "none"])
    assert cfg.training["report_to"] == "none"
    build_training_arguments(cfg, str(tmp_path))


def _help_entries(text: str) -> dict[str, str]:
    """Option string -> its help text (with the default) from argparse's --help output."""
    entries: dict[str, str] = {}
    current: list[str] = []
    for line in text.splitlines():
        match = re.match(r"^  (-\S.*?)(?:  +(.*))?$", line)
        if match:
            current = re.findall(r"--[\w.]+", match.group(1))
            for flag in current:
                entries[flag] = match.group(2) or ""
        elif current and line.startswith(" " * 10):
            for flag in current:
                entries[flag] += " " + line.strip()
    return entries


@pytest.fixture(scope="module")
def train_help() -> dict[str, str]:
    return _help_entries(config_parser().format_help())


@pytest.mark.parametrize("name", ["recipe.yaml", "demo.yaml"])
def test_help_lists_every_key_with_default_and_meaning(train_help, name):
    config = yaml.safe_load((REPO / "configs" / name).read_text())
    for section, block in config.items():
        for key in block:
            entry = train_help.get(f"--{section}.{key}")
            assert entry is not None, f"--{section}.{key} missing from --help"
            assert "(default: " in entry and len(entry.split("(default: ")[0].strip()) > 10, (section, key, entry)


def test_cli_help_runs():
    result = subprocess.run(
        [sys.executable, "-m", "recipe.train", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--training.warmup_steps" in result.stdout and "--resume_from_checkpoint" in result.stdout


@pytest.mark.parametrize(
    "yaml_text, argv, key",
    [
        ("model:\n  encodr: x\n", [], "model.encodr"),
        ("training:\n  dataloader_num_workers: true\n", [], "training.dataloader_num_workers"),
        ("training:\n  push_to_hub: true\n", [], "training.push_to_hub"),
        ("training:\n  metric_for_best_model: uarr\n", [], "training.metric_for_best_model"),
        ("", ["--metric_for_best_model", "uarr"], "--metric_for_best_model"),
        ("", ["--per_device_train_batch_size", "0"], "training.per_device_train_batch_size"),
        ("training:\n  learning_rate: -0.001\n", [], "training.learning_rate"),
        ("", ["--learning", "0.1"], "--learning"),
    ],
)
def test_train_cli_refuses_before_any_work(tmp_path, monkeypatch, capsys, yaml_text, argv, key):
    """Exit 2 with one line naming the key; no model built, no output folder made, the dataset not even read."""

    def must_not_run(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(assembly, "build_model", must_not_run)
    monkeypatch.setattr(training, "load_prepared", must_not_run)
    config = tmp_path / "c.yaml"
    config.write_text(yaml_text)
    out = tmp_path / "out"
    rc = train.main(["--config", str(config), "--data", str(tmp_path / "data"), "--output_dir", str(out), *argv])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and key in err and err.startswith("recipe.train: error: ")
    assert not out.exists()


def test_train_config_yaml_loads_back(tmp_path):
    """The train_config.yaml a run writes (RecipeConfig.to_yaml) is itself a valid config giving the same run."""
    cfg = load_config(REPO / "configs" / "demo.yaml", ["--data", "DIR", "--output_dir", str(tmp_path / "out")])
    path = tmp_path / "train_config.yaml"
    path.write_text(cfg.to_yaml())
    assert load_config(path) == cfg
