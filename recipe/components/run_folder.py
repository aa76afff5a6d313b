"""The training output folder OUT: one run at a time, nothing of the user's deleted, no stale records, and a
resumed run continues only the run its checkpoints belong to.

- `claim_output_dir`: OUT must not be, contain or lie inside the dataset or a local encoder folder. A non-empty
  OUT is reused only with --resume (continue it) or --overwrite_output_dir, and then only when it holds a recipe
  training run (common.outputs marker, or the files of one written before markers existed); with
  --overwrite_output_dir every file the recipe writes there (`RECORDS`, checkpoints, the export) is removed first,
  so no card, eval_results.json, onnx/ or app.py of the earlier run sits beside the new weights. Other files stay.
- `check_resume_config`: the config saved with the run (OUT/train_config.yaml, and a copy in each checkpoint) is
  compared with the new one: any change outside `SAFE_TO_CHANGE` (model, pooling, head, labels, data, learning
  rate, mixup, precision, batch size, seed...) would mix two recipes in one model, and is refused with the keys.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from transformers import TrainerCallback

from common.atomic import output_lock
from common.config import ConfigError
from common.outputs import EXPORT, TRAINING_RUN, check_disjoint, check_replaceable, is_empty, kind_of, write_marker

CONFIG_FILE = "train_config.yaml"
# Every file recipe.train, recipe.evaluate, recipe.baseline, model_card, recipe.hub --with_app and the experiment
# runner write into OUT.
RECORDS = (
    "config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "preprocessor_config.json",
    "configuration_ser.py",
    "modeling_ser.py",
    "feature_extraction_ser.py",
    "training_args.bin",
    "trainer_state.json",
    "train_results.json",
    "validation_results.json",
    "all_results.json",
    "eval_results.json",
    CONFIG_FILE,
    "run_info.json",
    "run_result.json",
    "README.md",
    "confusion_matrix.png",
    "training_curves.png",
    "app.py",
    "requirements.txt",
)
SHARD = re.compile(r"^model-\d{5}-of-\d{5}\.safetensors$")  # sharded weights
# Config keys whose change does not alter what the checkpoints learnt: how long, how often to log, evaluate and
# save, when to stop, where to upload.
SAFE_TO_CHANGE = {
    *(f"training.{k}" for k in ("num_train_epochs", "max_steps", "logging_steps", "logging_strategy")),
    *(f"training.{k}" for k in ("logging_first_step", "logging_dir", "eval_strategy", "eval_steps", "eval_delay")),
    *(f"training.{k}" for k in ("save_strategy", "save_steps", "save_total_limit", "per_device_eval_batch_size")),
    *(f"training.{k}" for k in ("dataloader_num_workers", "dataloader_pin_memory", "disable_tqdm", "report_to")),
    *(f"training.{k}" for k in ("output_dir", "run_name", "hub_token", "use_cpu")),
    "recipe.early_stopping_patience",
    "recipe.early_stopping_threshold",
    "recipe.log_train_accuracy",
    "recipe.overwrite_output_dir",
    "recipe.demo",
}
SAFE_SECTIONS = ("hub.",)


@contextmanager
def hold_output_dir(cfg: Any, training_args: Any) -> Iterator[None]:
    """Hold OUT's lock (common.atomic.output_lock) for the whole run: a second run on OUT exits 2 naming the
    holder. Only the process of global rank 0 takes it; the other ranks of a distributed run are its workers.
    An OUT that is, contains or lies inside an input is refused first (the lock file is written beside OUT)."""
    check_disjoint(training_args.output_dir, _inputs(cfg), flag="--output_dir")
    if getattr(training_args, "process_index", 0) != 0:
        yield
        return
    with output_lock(training_args.output_dir):
        yield


def prepare_output_dir(out: Path, cfg: Any, training_args: Any, checkpoint: str | None, flag: str) -> None:
    """Before the model is built: check a resumed config (every rank), then on rank 0 claim OUT (`claim_output_dir`)
    and save the run's config there, while the other ranks wait."""
    if checkpoint:
        new = yaml.safe_load(cfg.to_yaml())
        safe = check_resume_config(checkpoint, new, flag)
        if safe and training_args.process_index == 0:
            print(f"recipe.train: {flag}: continuing with changed " + "; ".join(safe), flush=True)
    with training_args.main_process_first(desc="claiming the output folder"):
        if training_args.process_index == 0:
            removed = claim_output_dir(out, cfg, resuming=bool(checkpoint))
            if removed:
                print(f"recipe.train: overwrite_output_dir: removed {', '.join(removed)} of an earlier run in {out}")
            (out / CONFIG_FILE).write_text(cfg.to_yaml())


def _inputs(cfg: Any) -> list[tuple[str, str | None]]:
    """What a training run reads: the dataset and a local encoder folder."""
    encoder = None if cfg.model.from_scratch else cfg.model.encoder
    local = encoder if encoder and Path(encoder).exists() else None
    return [("--data", cfg.data.dataset_dir), ("model.encoder", local)]


def claim_output_dir(out: Path, cfg: Any, *, resuming: bool) -> list[str]:
    """Check OUT can hold this run, remove an earlier run's records with --overwrite_output_dir and mark OUT as a
    training run; returns the names removed. Raises ConfigError / OutputError (exit 2) otherwise."""
    check_disjoint(out, _inputs(cfg), flag="--output_dir")
    removed: list[str] = []
    if not is_empty(out) and not resuming:
        if not cfg.recipe.overwrite_output_dir:
            held = "checkpoints of an earlier run" if any(out.glob("checkpoint-*")) else "files of an earlier run"
            raise ConfigError(
                f"{out} already holds {held}: pass --resume to continue it, --overwrite_output_dir to start over, "
                "or choose another --output_dir"
            )
        check_replaceable(out, TRAINING_RUN, overwrite=True, flag="--overwrite_output_dir")
        removed = remove_records(out)
    elif resuming and kind_of(out) not in (TRAINING_RUN, None):
        check_replaceable(out, TRAINING_RUN, overwrite=True, flag="--resume")
    out.mkdir(parents=True, exist_ok=True)
    write_marker(out, TRAINING_RUN)
    return removed


def remove_records(out: Path) -> list[str]:
    """Delete what an earlier run of the recipe wrote into `out` (RECORDS, checkpoint-*, an onnx/ export)."""
    removed = []
    for path in sorted(out.iterdir()):
        recipe_file = path.is_file() and (path.name in RECORDS or SHARD.match(path.name) is not None)
        recipe_dir = path.is_dir() and (
            (path.name.startswith("checkpoint-") and path.name[11:].isdigit()) or kind_of(path) == EXPORT
        )
        if recipe_file:
            path.unlink()
        elif recipe_dir:
            shutil.rmtree(path)
        else:
            continue
        removed.append(path.name)
    return removed


def _flatten(cfg: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in cfg.items():
        if isinstance(value, dict) and not prefix.startswith("model.encoder_config") and key != "encoder_config":
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _training_default(key: str) -> Any:
    from transformers import TrainingArguments

    for f in dataclasses.fields(TrainingArguments):
        if f.name == key:
            return f.default if f.default is not dataclasses.MISSING else None
    return None


def _comparable(key: str, value: Any) -> Any:
    if key == "data.dataset_dir" and value:
        return str(Path(value).resolve())
    return value


def config_changes(saved: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(structural, safe): the keys whose value differs between two train_config.yaml dicts."""
    old_flat, new_flat = _flatten(saved), _flatten(new)
    structural, safe = [], []
    for key in sorted(set(old_flat) | set(new_flat)):
        missing = _training_default(key.split(".", 1)[1]) if key.startswith("training.") else None
        old = _comparable(key, old_flat.get(key, missing))
        value = _comparable(key, new_flat.get(key, missing))
        if old == value:
            continue
        change = f"{key} {old!r} -> {value!r}"
        (safe if key in SAFE_TO_CHANGE or key.startswith(SAFE_SECTIONS) else structural).append(change)
    return structural, safe


def saved_config(checkpoint: Path) -> tuple[Path, dict[str, Any]] | None:
    """The config a checkpoint was trained with: its own copy, else its run folder's; None if neither exists."""
    for path in (checkpoint / CONFIG_FILE, checkpoint.parent / CONFIG_FILE):
        if path.is_file():
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as err:
                raise ConfigError(f"{path}: not valid YAML ({err})") from err
            if isinstance(data, dict):
                return path, data
    return None


def check_resume_config(checkpoint: str | Path, new: dict[str, Any], flag: str = "--resume") -> list[str]:
    """Refuse (ConfigError, exit 2) to resume `checkpoint` with a structurally different config; returns the safe
    changes (printed by the caller). A checkpoint saved without any config is resumed as before, with a note."""
    found = saved_config(Path(checkpoint))
    if found is None:
        print(f"recipe.train: {flag}: no {CONFIG_FILE} saved with {checkpoint}; the config cannot be compared")
        return []
    path, saved = found
    structural, safe = config_changes(saved, new)
    if structural:
        raise ConfigError(
            f"{flag}: the config differs from the one {checkpoint} was trained with ({path}) in "
            + "; ".join(structural)
            + ": resuming would mix two recipes in one model; rerun with the saved values, or start a new run "
            "(--overwrite_output_dir or another --output_dir)"
        )
    return safe


def check_resume_labels(checkpoint: str | Path, label_names: list[str]) -> None:
    """Refuse to resume a checkpoint trained on other labels (the dataset at --data was prepared again)."""
    import json

    path = Path(checkpoint) / "config.json"
    if not path.is_file():
        return
    id2label = json.loads(path.read_text()).get("id2label") or {}
    saved = [id2label[k] for k in sorted(id2label, key=int)]
    if saved and saved != list(label_names):
        raise ConfigError(f"--resume: {checkpoint} was trained on labels {saved}, the dataset has {list(label_names)}")


class SaveConfigCallback(TrainerCallback):
    """Copy OUT/train_config.yaml into each checkpoint, so that resuming compares with the config that checkpoint
    was trained with."""

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            src = Path(args.output_dir) / CONFIG_FILE
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if src.is_file() and folder.is_dir():
                shutil.copyfile(src, folder / CONFIG_FILE)
        return control
