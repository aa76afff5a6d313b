"""Recipe configuration: section dataclasses + `TrainingArguments`, parsed by `common.config.ConfigParser`.

A config file has up to five sections (each optional; every key has the default shown by
``python -m recipe.train --help``, the seed recipe's values)::

    model:    encoder, from_scratch, encoder_config, head_sizes, head_dropout, max_duration, ...
    data:     dataset_dir, train_split, eval_split, naive_padding, pad_to_multiple_of
    recipe:   mixup_alpha, label_smoothing, freeze_encoder_epochs, early_stopping_patience, ...
    hub:      push_to_hub, hub_model_id, hub_private_repo, commit_message
    training: any `transformers.TrainingArguments` field

Unknown sections and keys, wrong types and values the recipe cannot use are errors naming the file or flag
and the key. Command-line overrides are ``--section.key value`` or ``--key value``; a bool flag alone means
true, ``--no_key`` false; ``null`` sets an optional key to None; dict keys take a YAML mapping.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from common.config import AUTO, ConfigError, ConfigParser, Parsed
from common.secrets import redact

__all__ = [
    "AUTO",
    "ConfigError",
    "DataOptions",
    "HubOptions",
    "ModelOptions",
    "RecipeConfig",
    "RecipeOptions",
    "TRAINING_DEFAULTS",
    "build_training_arguments",
    "config_parser",
    "load_config",
    "parse_args",
    "resolve_precision",
    "validate",
]


@dataclass
class ModelOptions:
    """How the model is built."""

    _argument_group_name = "model"

    encoder: str = field(
        default="speechbrain/emotion-recognition-wav2vec2-IEMOCAP",
        metadata={
            "help": "Hub id or local path of the pretrained encoder: a plain encoder, a *ForSequenceClassification "
            "or a SpeechBrain wav2vec2 repo"
        },
    )
    from_scratch: bool = field(
        default=False, metadata={"help": "build a randomly initialised encoder from encoder_config instead"}
    )
    encoder_config: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "with from_scratch: the whole Wav2Vec2Config-style dict; otherwise overrides of the pretrained one"
        },
    )
    head_sizes: list[int] = field(
        default_factory=lambda: [512, 256, 128], metadata={"help": "hidden sizes of the classification head's layers"}
    )
    head_dropout: float = field(default=0.3, metadata={"help": "dropout before each head layer"})
    pooling: Literal["attentive", "mean"] = field(
        default="attentive", metadata={"help": "attentive (learned frame weights) or mean (masked average of frames)"}
    )
    attention_hidden_size: int = field(
        default=384, metadata={"help": "width of the attentive pooling's tanh scoring layer (384: 95.2M / 856K)"}
    )
    use_weighted_layer_sum: bool = field(
        default=False, metadata={"help": "pool a learned softmax-weighted sum of all encoder hidden states"}
    )
    encoder_output_norm: bool | None = field(
        default=None,
        metadata={"help": "normalise each utterance's encoder output; null follows the encoder (SpeechBrain's)"},
    )
    max_duration: float = field(
        default=8.0, metadata={"help": "seconds; the feature extractor centre-crops longer clips"}
    )
    freeze_feature_encoder: bool = field(
        default=True, metadata={"help": "keep the CNN feature encoder frozen for the whole run"}
    )
    attn_implementation: str | None = field(
        default="sdpa", metadata={"help": "attention kernel: sdpa, eager, or null for the transformers default"}
    )
    gradient_checkpointing: bool = field(
        default=False, metadata={"help": "recompute activations in the backward pass (less memory, slower)"}
    )
    speaker_norm: bool = field(
        default=False,
        metadata={
            "help": "standardise pooled embeddings by speaker statistics (speaker-grouped training batches; "
            "recipe.components.speaker_norm)"
        },
    )
    speaker_norm_clips: int = field(
        default=4, metadata={"help": "with speaker_norm: clips of one speaker per group in a training batch (>= 2)"}
    )


@dataclass
class DataOptions:
    """Where the prepared DatasetDict is and how batches are built."""

    _argument_group_name = "data"

    dataset_dir: str | None = field(
        default=None,
        metadata={"help": "folder written by `python -m data_prep` (DatasetDict.save_to_disk)", "aliases": ["--data"]},
    )
    train_split: str = field(default="train", metadata={"help": "split to train on"})
    eval_split: str = field(
        default="validation", metadata={"help": "split evaluated each epoch (picks the best checkpoint)"}
    )
    naive_padding: bool = field(
        default=False,
        metadata={
            "help": "pad every clip to model.max_duration and draw batches at random (the seed recipe's batching)"
        },
    )
    pad_to_multiple_of: int | None = field(
        default=None, metadata={"help": "round each batch's padded length up to a multiple of this many samples"}
    )


@dataclass
class RecipeOptions:
    """The parts of the recipe that `TrainingArguments` has no field for."""

    _argument_group_name = "recipe"

    mixup_alpha: float = field(
        default=0.3, metadata={"help": "mixup: lambda ~ Beta(alpha, alpha) per batch; 0 disables mixup"}
    )
    label_smoothing: float = field(
        default=0.1, metadata={"help": "label smoothing of the cross-entropy loss, in [0, 1)"}
    )
    freeze_encoder_epochs: int = field(
        default=2,
        metadata={"help": "train only the pooling and the head for this many epochs, then the transformer encoder too"},
    )
    early_stopping_patience: int | None = field(
        default=10,
        metadata={
            "help": "evaluations without improvement of training.metric_for_best_model before stopping; null disables"
        },
    )
    early_stopping_threshold: float = field(
        default=0.0, metadata={"help": "smallest improvement that counts for early stopping"}
    )
    log_train_accuracy: bool = field(
        default=True, metadata={"help": "log train accuracy and loss per epoch from the training batches"}
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "start a new run in an output folder holding an earlier run's checkpoints (they are deleted)"
        },
    )
    demo: bool = field(
        default=False, metadata={"help": "marks the embedded demo run (recorded in run_info.json for the model card)"}
    )
    precision: Literal["auto", "fp32", "fp16", "bf16"] = field(
        default=AUTO,
        metadata={"help": "auto: bf16 where the GPU or CPU has it natively, fp16 on older GPUs, else fp32"},
    )
    loss: Literal["cross_entropy", "focal"] = field(
        default="cross_entropy",
        metadata={"help": "training loss: cross_entropy, or focal (down-weights confidently predicted classes)"},
    )
    focal_gamma: float = field(default=2.0, metadata={"help": "focusing exponent of the focal loss (0: cross-entropy)"})
    class_weights: Literal["none", "inverse_frequency"] = field(
        default="none",
        metadata={"help": "loss weight per class: none, or inverse_frequency of the train split (N / (C * n_c))"},
    )
    speed_perturb: dict[str, float] = field(
        default_factory=dict,
        metadata={"help": "speed perturbation probability per training clip: {default: p, CLASS: q}; {} is off"},
    )
    speed_factors: list[float] = field(
        default_factory=lambda: [0.9, 1.0, 1.1], metadata={"help": "speed factors drawn from, uniformly"}
    )
    noise_augment: dict[str, float] = field(
        default_factory=dict,
        metadata={"help": "additive Gaussian noise probability per training clip: {default: p, CLASS: q}; {} is off"},
    )
    noise_snr_db: list[float] = field(
        default_factory=lambda: [5.0, 20.0], metadata={"help": "[low, high]: SNR in dB drawn uniformly"}
    )
    checkpoint_average: int = field(
        default=0,
        metadata={"help": "end with the mean weights of the last K evaluated checkpoints (0: off, 1: the last)"},
    )


@dataclass
class HubOptions:
    """Upload of the final output folder (done by the recipe after training, not by Trainer checkpoints)."""

    _argument_group_name = "hub"

    push_to_hub: bool = field(default=False, metadata={"help": "upload the output folder to the Hub after training"})
    hub_model_id: str | None = field(
        default=None, metadata={"help": "USER/NAME of the Hub repository (needed with push_to_hub)"}
    )
    hub_private_repo: bool | None = field(
        default=None, metadata={"help": "create the repository as private; null: the Hub's default"}
    )
    commit_message: str = field(
        default="Upload speech emotion recognition model", metadata={"help": "commit message of the upload"}
    )
    license: str | None = field(
        default=None,
        metadata={
            "help": "licence id in the model card's metadata (a Hub licence identifier, e.g. apache-2.0); "
            "null: derived from the training corpora's licences"
        },
    )


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

# The `training:` defaults: the seed recipe (configs/recipe.yaml restates exactly these). Every other
# TrainingArguments field keeps transformers' default.
TRAINING_DEFAULTS: dict[str, Any] = {
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 8,
    "gradient_accumulation_steps": 4,
    "learning_rate": 5e-5,
    "lr_scheduler_type": "linear",
    "warmup_steps": 0.1,
    "num_train_epochs": 15.0,
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
    "fp16": AUTO,  # auto: follow recipe.precision; true forces, false excludes (see components.precision)
    "bf16": AUTO,
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "logging_strategy": "steps",
    "logging_steps": 10.0,
    "load_best_model_at_end": True,
    "metric_for_best_model": "uar",
    "greater_is_better": True,
    "save_total_limit": 2,
    "train_sampling_strategy": "group_by_length",
    "length_column_name": "length",
    "dataloader_num_workers": 2,
    "dataloader_pin_memory": AUTO,
    "ddp_find_unused_parameters": True,
    "torch_compile": False,
    "remove_unused_columns": False,
    "restore_callback_states_from_checkpoint": True,
    "report_to": "none",
    "seed": 42,
}

# Keys that take `auto` (resolved per machine by resolve_precision), with the one-line meaning --help shows.
_AUTO_KEYS: dict[str, str] = {
    "fp16": "fp16 mixed precision; auto: follow recipe.precision, true forces it, false excludes it",
    "bf16": "bf16 mixed precision; auto: follow recipe.precision, true forces it, false excludes it",
    "dataloader_pin_memory": "pin DataLoader memory; auto: on with CUDA",
}

# Metrics the recipe computes at each evaluation (recipe.components.metrics.METRICS) plus the loss.
BEST_MODEL_METRICS = ("accuracy", "uar", "macro_f1", "loss")

# Field name -> section, for messages about a RecipeConfig built in code (no parse to say where a value came from).
_SECTION_OF = {
    f.name: cls._argument_group_name
    for cls in (ModelOptions, DataOptions, RecipeOptions, HubOptions)
    for f in dataclasses.fields(cls)
}


def _training_options() -> type:
    """The `training:` section: every TrainingArguments field but the reserved ones, with the seed's defaults.

    Built from TrainingArguments itself (not copied), so a transformers upgrade brings its new fields along; the
    help is the first sentence of transformers' own.
    """
    from transformers import TrainingArguments

    hints = typing.get_type_hints(TrainingArguments)
    specs = []
    for f in dataclasses.fields(TrainingArguments):
        if not f.init or f.name in _RESERVED_TRAINING_KEYS:
            continue
        text = _AUTO_KEYS.get(f.name) or str(f.metadata.get("help") or f.name).split(". ")[0].strip()
        metadata = {**f.metadata, "help": " ".join(text.split())}
        if f.name in TRAINING_DEFAULTS:
            spec = field(default=TRAINING_DEFAULTS[f.name], metadata=metadata)
        elif f.default_factory is not dataclasses.MISSING:
            spec = field(default_factory=f.default_factory, metadata=metadata)
        else:
            spec = field(default=f.default, metadata=metadata)
        specs.append((f.name, hints[f.name], spec))
    cls = dataclasses.make_dataclass("TrainingOptions", specs)
    cls._argument_group_name = "training"
    return cls


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
        """train_config.yaml: `to_dict` with every credential redacted (common.secrets)."""
        return yaml.safe_dump(redact(self.to_dict()), sort_keys=False)


USAGE = "%(prog)s [--config FILE] [--data DIR] [--output_dir OUT] [--section.key VALUE | --key VALUE ...]"


def config_parser(prog: str = "python -m recipe.train", description: str | None = None, **kwargs: Any) -> ConfigParser:
    """The parser of every recipe key (``--help`` lists them with their defaults), with ``--config FILE``."""
    kwargs.setdefault("usage", USAGE)
    return ConfigParser(
        [ModelOptions, DataOptions, RecipeOptions, HubOptions, _training_options()],
        prog=prog,
        description=description,
        auto_keys=tuple(_AUTO_KEYS),
        reserved={f"training.{k}": v for k, v in _RESERVED_TRAINING_KEYS.items()},
        unknown_hint={"training": " (not a transformers.TrainingArguments field)"},
        **kwargs,
    )


def _to_config(parsed: Parsed) -> RecipeConfig:
    """RecipeConfig from a parse; `training` holds the seed's keys plus every key a file or flag set."""
    inst = {cls._argument_group_name: obj for cls, obj in parsed.instances.items()}
    training_values = dataclasses.asdict(inst["training"])
    keys = list(TRAINING_DEFAULTS) + [k for k in training_values if k in parsed.sources and k not in TRAINING_DEFAULTS]
    cfg = RecipeConfig(
        model=inst["model"],
        data=inst["data"],
        recipe=inst["recipe"],
        hub=inst["hub"],
        training={k: training_values[k] for k in keys},
    )
    validate(cfg, parsed)
    return cfg


def parse_args(parser: ConfigParser, argv: list[str]) -> tuple[RecipeConfig, Any]:
    """Parse a CLI's arguments: the RecipeConfig and a namespace of the options outside the config."""
    parsed = parser.parse(argv)
    return _to_config(parsed), parsed.extra


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RecipeConfig:
    """Read a YAML config (the seed recipe's defaults when None) and apply command-line style overrides
    (``['--learning_rate', '1e-4', '--recipe.mixup_alpha=0']``); checked and validated."""
    argv = (["--config", str(path)] if path is not None else []) + list(overrides or [])
    return parse_args(config_parser(), argv)[0]


def _check(ok: bool, parsed: Parsed | None, key: str, message: str) -> None:
    if not ok:
        raise (
            parsed.error(key, message) if parsed else ConfigError(f"{_SECTION_OF.get(key, 'training')}.{key} {message}")
        )


def validate(cfg: RecipeConfig, parsed: Parsed | None = None) -> None:
    """Check every value the run will use, before a model is built: ranges, choices and cross-field rules."""
    m, d, r, t = cfg.model, cfg.data, cfg.recipe, cfg.training
    _check(m.max_duration > 0, parsed, "max_duration", f"must be > 0, got {m.max_duration}")
    _check(0 <= m.head_dropout < 1, parsed, "head_dropout", f"must be in [0, 1), got {m.head_dropout}")
    _check(all(s >= 1 for s in m.head_sizes), parsed, "head_sizes", f"must all be >= 1, got {m.head_sizes}")
    _check(
        not m.from_scratch or bool(m.encoder_config),
        parsed,
        "from_scratch",
        "needs model.encoder_config (the encoder architecture)",
    )
    _check(
        d.pad_to_multiple_of is None or d.pad_to_multiple_of >= 1,
        parsed,
        "pad_to_multiple_of",
        f"must be >= 1 or null, got {d.pad_to_multiple_of}",
    )
    _check(r.mixup_alpha >= 0, parsed, "mixup_alpha", f"must be >= 0, got {r.mixup_alpha}")
    _check(0 <= r.label_smoothing < 1, parsed, "label_smoothing", f"must be in [0, 1), got {r.label_smoothing}")
    _check(
        r.freeze_encoder_epochs >= 0, parsed, "freeze_encoder_epochs", f"must be >= 0, got {r.freeze_encoder_epochs}"
    )
    _check(
        r.early_stopping_patience is None or r.early_stopping_patience >= 1,
        parsed,
        "early_stopping_patience",
        f"must be >= 1 or null, got {r.early_stopping_patience}",
    )
    _check(
        r.early_stopping_threshold >= 0,
        parsed,
        "early_stopping_threshold",
        f"must be >= 0, got {r.early_stopping_threshold}",
    )
    _check(
        not cfg.hub.push_to_hub or bool(cfg.hub.hub_model_id),
        parsed,
        "push_to_hub",
        "needs hub.hub_model_id (USER/NAME)",
    )
    _validate_techniques(r, t, parsed)
    _validate_training(t, r, parsed)


def _validate_techniques(r: RecipeOptions, t: dict[str, Any], parsed: Parsed | None) -> None:
    """Loss, augmentation and checkpoint-averaging keys (class names are checked against the data at train time)."""
    _check(r.focal_gamma >= 0, parsed, "focal_gamma", f"must be >= 0, got {r.focal_gamma}")
    for key in ("speed_perturb", "noise_augment"):
        probs = getattr(r, key)
        ok = all(isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p <= 1 for p in probs.values())
        _check(ok, parsed, key, f"must map class names (or default) to probabilities in [0, 1], got {probs}")
    _check(
        bool(r.speed_factors) and all(f > 0 for f in r.speed_factors),
        parsed,
        "speed_factors",
        f"must be a non-empty list of factors > 0, got {r.speed_factors}",
    )
    _check(
        len(r.noise_snr_db) == 2 and r.noise_snr_db[0] <= r.noise_snr_db[1],
        parsed,
        "noise_snr_db",
        f"must be [low, high] with low <= high, got {r.noise_snr_db}",
    )
    k = r.checkpoint_average
    _check(k >= 0, parsed, "checkpoint_average", f"must be >= 0, got {k}")
    if k > 0:
        # Trainer keeps the best checkpoint besides the newest ones: one more slot with load_best_model_at_end.
        need = k + (1 if t.get("load_best_model_at_end") else 0)
        limit = t.get("save_total_limit")
        _check(
            limit is None or limit >= need,
            parsed,
            "checkpoint_average",
            f"{k} needs training.save_total_limit >= {need} (or null) to keep the last {k} checkpoints, got {limit}",
        )
        _check(
            t.get("save_strategy") not in ("no", None),
            parsed,
            "checkpoint_average",
            "needs checkpoints: training.save_strategy must not be no",
        )


def _validate_training(t: dict[str, Any], r: RecipeOptions, parsed: Parsed | None) -> None:
    for key in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps"):
        if key in t:
            _check(t[key] >= 1, parsed, key, f"must be >= 1, got {t[key]}")
    for key in ("learning_rate", "num_train_epochs", "logging_steps"):
        if key in t and not (key == "num_train_epochs" and t.get("max_steps", -1) > 0):
            _check(t[key] > 0, parsed, key, f"must be > 0, got {t[key]}")
    for key in ("weight_decay", "warmup_steps", "max_grad_norm", "dataloader_num_workers"):
        if key in t:
            _check(t[key] >= 0, parsed, key, f"must be >= 0, got {t[key]}")
    limit = t.get("save_total_limit")
    _check(limit is None or limit >= 1, parsed, "save_total_limit", f"must be >= 1 or null, got {limit}")
    metric = t.get("metric_for_best_model")
    _check(
        metric is None or metric.removeprefix("eval_") in BEST_MODEL_METRICS,
        parsed,
        "metric_for_best_model",
        f"{metric!r} is not a metric the recipe computes (one of {', '.join(BEST_MODEL_METRICS)}, "
        "with or without the eval_ prefix)",
    )
    if r.early_stopping_patience is not None:
        _check(
            bool(t.get("load_best_model_at_end")),
            parsed,
            "load_best_model_at_end",
            "must be true while recipe.early_stopping_patience is set (or set that to null)",
        )
        _check(
            t.get("eval_strategy") not in ("no", None),
            parsed,
            "eval_strategy",
            "must evaluate (epoch or steps) while recipe.early_stopping_patience is set (or set that to null)",
        )


def resolve_precision(training: dict[str, Any], precision: str = AUTO) -> dict[str, Any]:
    """Resolve the precision (`recipe.precision`, `training.fp16/bf16`) and `dataloader_pin_memory: auto` for this
    machine; the decision lives in `components.precision.training_precision`."""
    from .precision import training_precision

    return training_precision(training, precision)[0]


def build_training_arguments(cfg: RecipeConfig, output_dir: str | None = None):
    """`TrainingArguments` from the `training:` section (autos resolved); errors name the offending key."""
    from transformers import TrainingArguments

    kwargs = resolve_precision(cfg.training, cfg.recipe.precision)
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
        raise ConfigError(f"training: invalid TrainingArguments ({' '.join(str(err).split())})") from err
