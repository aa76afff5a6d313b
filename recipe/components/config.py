"""Recipe configuration: YAML sections mapped onto dataclasses and `TrainingArguments`, with CLI overrides.

A config file has up to five sections::

    model:    encoder, from_scratch, encoder_config, head_sizes, head_dropout, max_duration, ...
    data:     dataset_dir, train_split, eval_split, naive_padding, pad_to_multiple_of
    recipe:   mixup_alpha, label_smoothing, freeze_encoder_epochs, early_stopping_patience, ...
    hub:      push_to_hub, hub_model_id, hub_private_repo, commit_message
    training: any `transformers.TrainingArguments` field (validated against its signature)

Unknown sections and unknown keys are errors. Command-line overrides take the form ``--section.key value``
or ``--key value`` when ``key`` exists in exactly one section; a flag with no value means ``true``.
Values given as strings (from YAML or the command line) are coerced to the field's declared type, so
``learning_rate: 5e-5`` (a string to YAML 1.1) becomes the float 5e-5.
"""
from __future__ import annotations

import dataclasses
import enum
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

AUTO = "auto"


class ConfigError(ValueError):
    """A config file or command-line override that cannot be used; the message names the source and key."""


@dataclass
class ModelOptions:
    """How the model is built."""

    encoder: str = "superb/wav2vec2-base-superb-er"
    """Hub id or local path of the pretrained encoder (a plain encoder or a *ForSequenceClassification)."""
    from_scratch: bool = False
    """Build a randomly initialised encoder from `encoder_config` instead of loading `encoder` weights."""
    encoder_config: dict[str, Any] = field(default_factory=dict)
    """With `from_scratch`: the full Wav2Vec2Config-style dict. Otherwise: overrides for the pretrained config."""
    head_sizes: list[int] = field(default_factory=lambda: [512, 256, 128])
    head_dropout: float = 0.3
    pooling: str = field(
        default="attentive", metadata={"help": "attentive (learned frame weights) or mean (masked average of frames)"}
    )
    max_duration: float = 8.0
    """Seconds; the feature extractor centre-crops longer clips."""
    freeze_feature_encoder: bool = True
    """Freeze the CNN feature encoder for the whole run (separate from `recipe.freeze_encoder_epochs`)."""
    attn_implementation: str | None = "sdpa"
    """"sdpa", "eager" or null for the transformers default."""
    gradient_checkpointing: bool = False


@dataclass
class DataOptions:
    """Where the prepared DatasetDict is and how batches are built."""

    dataset_dir: str | None = None
    """Directory written by `python -m data_prep` (`DatasetDict.save_to_disk`); `--data DIR` sets it."""
    train_split: str = "train"
    eval_split: str = "validation"
    naive_padding: bool = False
    """Pad every clip to `model.max_duration` and sample batches at random (the seed recipe's behaviour)."""
    pad_to_multiple_of: int | None = None
    """Round each batch's padded length up to a multiple of this many samples (per-batch padding only)."""


@dataclass
class RecipeOptions:
    """The parts of the recipe that `TrainingArguments` has no field for."""

    mixup_alpha: float = 0.3
    """Mixup: lambda ~ Beta(alpha, alpha) per batch; 0 disables mixup."""
    label_smoothing: float = 0.1
    freeze_encoder_epochs: int = 2
    """Train only the pooling + head for this many epochs, then unfreeze the transformer encoder."""
    early_stopping_patience: int | None = 10
    """Evaluations without improvement of `training.metric_for_best_model` before stopping; null disables."""
    early_stopping_threshold: float = 0.0
    log_train_accuracy: bool = True
    """Log train accuracy/loss per epoch from the training batches (see callbacks.TrainAccuracyCallback)."""
    overwrite_output_dir: bool = False
    """Start a new run in an output folder that holds checkpoints of an earlier one (they are deleted)."""
    demo: bool = False
    """Marks the embedded demo run (recorded in run_info.json for the model card)."""


@dataclass
class HubOptions:
    """Upload of the final output folder (done by the recipe after training, not by Trainer checkpoints)."""

    push_to_hub: bool = False
    hub_model_id: str | None = None
    hub_private_repo: bool | None = None
    commit_message: str = "Upload speech emotion recognition model"


# TrainingArguments fields the recipe owns itself: setting them under `training:` is an error that says where.
_RESERVED_TRAINING_KEYS: dict[str, str] = {
    "push_to_hub": "hub.push_to_hub",
    "hub_model_id": "hub.hub_model_id",
    "hub_private_repo": "hub.hub_private_repo",
    "hub_strategy": "hub.push_to_hub (the recipe uploads the final folder once)",
    "hub_always_push": "hub.push_to_hub (the recipe uploads the final folder once)",
    "label_smoothing_factor": "recipe.label_smoothing (applied in SERTrainer.compute_loss)",
    "resume_from_checkpoint": "the --resume / --resume_from_checkpoint command-line options",
    "gradient_checkpointing": "model.gradient_checkpointing",
    "activation_checkpointing": "model.gradient_checkpointing",
}

# Defaults for `training:` that differ from TrainingArguments' own; the seed recipe's values.
TRAINING_DEFAULTS: dict[str, Any] = {
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 8,
    "gradient_accumulation_steps": 4,
    "learning_rate": 5e-5,
    "num_train_epochs": 15,
    "weight_decay": 0.01,
    "fp16": AUTO,
    "bf16": False,
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "logging_strategy": "steps",
    "logging_steps": 10,
    "load_best_model_at_end": True,
    "metric_for_best_model": "uar",
    "greater_is_better": True,
    "save_total_limit": 2,
    "report_to": "none",
    "remove_unused_columns": False,
    "train_sampling_strategy": "group_by_length",
    "length_column_name": "length",
    "dataloader_num_workers": 0,
    "dataloader_pin_memory": AUTO,
    "ddp_find_unused_parameters": True,
    "restore_callback_states_from_checkpoint": True,
    "seed": 42,
}


@dataclass
class RecipeConfig:
    """The whole resolved configuration of one training run."""

    model: ModelOptions = field(default_factory=ModelOptions)
    data: DataOptions = field(default_factory=DataOptions)
    recipe: RecipeOptions = field(default_factory=RecipeOptions)
    hub: HubOptions = field(default_factory=HubOptions)
    training: dict[str, Any] = field(default_factory=lambda: dict(TRAINING_DEFAULTS))

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (what train_config.yaml holds)."""
        return {
            "model": dataclasses.asdict(self.model),
            "data": dataclasses.asdict(self.data),
            "recipe": dataclasses.asdict(self.recipe),
            "hub": dataclasses.asdict(self.hub),
            "training": dict(self.training),
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


_SECTIONS: dict[str, type] = {
    "model": ModelOptions,
    "data": DataOptions,
    "recipe": RecipeOptions,
    "hub": HubOptions,
}


def _training_fields() -> dict[str, Any]:
    """Name -> declared type of every TrainingArguments field (imported lazily: transformers is slow to import)."""
    from transformers import TrainingArguments

    hints = typing.get_type_hints(TrainingArguments)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(TrainingArguments) if f.init}


def _section_fields(section: str) -> dict[str, Any]:
    if section == "training":
        return {k: v for k, v in _training_fields().items() if k not in _RESERVED_TRAINING_KEYS}
    cls = _SECTIONS[section]
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Convert strings (YAML 1.1 leaves '5e-5' a string; the CLI gives only strings) to the declared type."""
    if value is None or value == AUTO:
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if isinstance(value, str) and value.lower() in ("null", "~") and len(non_none) < len(args):
            return None
        for candidate in non_none:
            try:
                return _coerce(value, candidate, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: cannot use {value!r} as {annotation}")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "no", "0", "off"):
            return False
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value))
        except ValueError:
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if annotation is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if annotation is str:
        if isinstance(value, bool):
            return "yes" if value else "no"  # YAML 1.1 reads unquoted no/yes as booleans
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    if origin in (list, tuple) or annotation in (list, tuple):
        if isinstance(value, str):
            parsed = yaml.safe_load(value)
            value = parsed if isinstance(parsed, list) else [v for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item_type = args[0] if args else Any
        return [_coerce(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or annotation is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return value
    # Enums and anything exotic in TrainingArguments: pass through; its __post_init__ validates.
    if isinstance(value, bool) and isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        # YAML 1.1 reads an unquoted `no` as false: `save_strategy: no` means the strategy "no".
        return "yes" if value else "no"
    return value


def _apply(cfg: RecipeConfig, section: str, key: str, value: Any, source: str) -> None:
    fields = _section_fields(section)
    if section == "training" and key in _RESERVED_TRAINING_KEYS:
        raise ConfigError(f"{source}: training.{key} is not set here; use {_RESERVED_TRAINING_KEYS[key]}")
    if key not in fields:
        raise ConfigError(
            f"{source}: unknown key {section}.{key}"
            + (" (not a transformers.TrainingArguments field)" if section == "training" else "")
        )
    annotation = fields[key]
    if section == "training":
        allow_auto = key in ("fp16", "bf16", "dataloader_pin_memory")
        if value == AUTO and not allow_auto:
            raise ConfigError(f"{source}: training.{key} does not accept 'auto'")
        cfg.training[key] = value if value == AUTO else _coerce(value, annotation, f"{source}: training.{key}")
    else:
        if value == AUTO:
            raise ConfigError(f"{source}: {section}.{key} does not accept 'auto'")
        setattr(getattr(cfg, section), key, _coerce(value, annotation, f"{source}: {section}.{key}"))


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RecipeConfig:
    """Read a YAML config (defaults when None) and apply ``--key value`` overrides; errors on unknown keys."""
    cfg = RecipeConfig()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: top level must be a mapping of sections")
        for section, values in raw.items():
            if section not in (*_SECTIONS, "training"):
                raise ConfigError(
                    f"{path}: unknown section {section!r} (expected one of: model, data, recipe, hub, training)"
                )
            if values is None:
                continue
            if not isinstance(values, dict):
                raise ConfigError(f"{path}: section {section!r} must be a mapping")
            for key, value in values.items():
                _apply(cfg, section, str(key), value, str(path))
    for section, key, value in parse_overrides(overrides or []):
        _apply(cfg, section, key, value, f"command line --{key}")
    validate(cfg)
    return cfg


def _resolve_key(key: str) -> tuple[str, str]:
    """'section.key' or a bare key found in exactly one section -> (section, key)."""
    if "." in key:
        section, _, name = key.partition(".")
        if section not in (*_SECTIONS, "training"):
            raise ConfigError(f"command line --{key}: unknown section {section!r}")
        return section, name
    owners = [s for s in (*_SECTIONS, "training") if key in _section_fields(s)]
    if key in _RESERVED_TRAINING_KEYS and not owners:
        raise ConfigError(f"command line --{key}: use {_RESERVED_TRAINING_KEYS[key]}")
    if not owners:
        raise ConfigError(f"command line --{key}: unknown option (no config section has this key)")
    if len(owners) > 1:
        raise ConfigError(f"command line --{key}: ambiguous, write one of " + ", ".join(f"--{s}.{key}" for s in owners))
    return owners[0], key


def parse_overrides(argv: list[str]) -> list[tuple[str, str, Any]]:
    """Turn ``['--a.b', '1', '--flag', '--c', 'x']`` into [(section, key, value), ...]; a bare flag is true."""
    result = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if not token.startswith("--") or len(token) == 2:
            raise ConfigError(f"command line: expected --key, got {token!r}")
        key = token[2:]
        value: Any
        if "=" in key:
            key, value = key.split("=", 1)
            i += 1
        elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            value = argv[i + 1]
            i += 2
        else:
            value = "true"
            i += 1
        section, name = _resolve_key(key)
        result.append((section, name, value))
    return result


def validate(cfg: RecipeConfig) -> None:
    """Cross-field checks that no single field can make."""
    if cfg.recipe.mixup_alpha < 0:
        raise ConfigError(f"recipe.mixup_alpha must be >= 0, got {cfg.recipe.mixup_alpha}")
    if not 0.0 <= cfg.recipe.label_smoothing < 1.0:
        raise ConfigError(f"recipe.label_smoothing must be in [0, 1), got {cfg.recipe.label_smoothing}")
    if cfg.recipe.freeze_encoder_epochs < 0:
        raise ConfigError(f"recipe.freeze_encoder_epochs must be >= 0, got {cfg.recipe.freeze_encoder_epochs}")
    if cfg.model.from_scratch and not cfg.model.encoder_config:
        raise ConfigError("model.from_scratch needs model.encoder_config (the encoder architecture)")
    if cfg.model.pooling not in ("attentive", "mean"):
        raise ConfigError(f"model.pooling must be attentive or mean, got {cfg.model.pooling!r}")
    if cfg.model.max_duration <= 0:
        raise ConfigError(f"model.max_duration must be > 0, got {cfg.model.max_duration}")
    if cfg.hub.push_to_hub and not cfg.hub.hub_model_id:
        raise ConfigError("hub.push_to_hub needs hub.hub_model_id (USER/NAME)")
    if cfg.recipe.early_stopping_patience is not None and cfg.recipe.early_stopping_patience < 1:
        raise ConfigError("recipe.early_stopping_patience must be >= 1 or null")


def resolve_precision(training: dict[str, Any]) -> dict[str, Any]:
    """Resolve `fp16`/`bf16`/`dataloader_pin_memory` 'auto' for this machine.

    fp16: auto -> fp16 on a CUDA GPU, unless bf16 is chosen; bf16: auto -> bf16 where the GPU supports it;
    both off on CPU. An explicit true is passed through (TrainingArguments errors if the device cannot do it).
    """
    import torch

    out = dict(training)
    cuda = torch.cuda.is_available() and not out.get("use_cpu", False)
    bf16 = out.get("bf16", False)
    if bf16 == AUTO:
        bf16 = bool(cuda and torch.cuda.is_bf16_supported())
    fp16 = out.get("fp16", False)
    if fp16 == AUTO:
        fp16 = bool(cuda and not bf16)
    if fp16 and bf16:
        raise ConfigError("training.fp16 and training.bf16 are both on; choose one")
    out["bf16"], out["fp16"] = bool(bf16), bool(fp16)
    if out.get("dataloader_pin_memory", True) == AUTO:
        out["dataloader_pin_memory"] = bool(cuda)
    return out


def build_training_arguments(cfg: RecipeConfig, output_dir: str | None = None):
    """`TrainingArguments` from the `training:` section (autos resolved); errors name the offending key."""
    from transformers import TrainingArguments

    kwargs = resolve_precision(cfg.training)
    if output_dir is not None:
        kwargs["output_dir"] = output_dir
    if not kwargs.get("output_dir"):
        raise ConfigError("no output directory: pass --output_dir OUT (or training.output_dir)")
    if cfg.data.naive_padding:
        # The seed recipe: every clip padded to max_duration, batches drawn at random.
        kwargs["train_sampling_strategy"] = "random"
    if cfg.model.gradient_checkpointing:
        kwargs["activation_checkpointing"] = True
    try:
        return TrainingArguments(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"training: invalid TrainingArguments ({err})") from err
