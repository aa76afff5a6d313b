"""The hyperparameter search space of `python -m recipe.search`, declared in YAML, and the records of a search.

A space file maps recipe config keys (``section.key``, as in variant files) to distributions::

    space:
      training.learning_rate: {type: float, low: 1.0e-5, high: 1.0e-4, log: true}
      recipe.mixup_alpha: {type: float, low: 0.0, high: 0.5}
      recipe.freeze_encoder_epochs: {type: int, low: 0, high: 3}
      model.head_dropout: {type: float, low: 0.1, high: 0.5}
      model.pooling: {type: categorical, choices: [attentive, mean]}

Types: ``float`` (low, high, optional log or step), ``int`` (low, high, optional log or step), ``categorical``
(choices). Every sampled value goes through the recipe's config parser, so a trial's configuration is checked like
any other run's. Keys that change the data or the feature extractor (``data.*``, ``model.max_duration``,
``model.encoder``, ``model.from_scratch``, ``model.encoder_config``) cannot be searched: every trial shares one
prepared dataset and one collator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from common.cli import UserError

TYPES = ("float", "int", "categorical")
# recipe.* keys a trial can change (SERTrainer and the freezing callback take them per trial)
RECIPE_KEYS = ("mixup_alpha", "label_smoothing", "freeze_encoder_epochs")
FIXED_MODEL_KEYS = ("encoder", "from_scratch", "encoder_config", "max_duration")


class SearchSpaceError(UserError, ValueError):
    """A search-space file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Param:
    """One searched config key and its distribution."""

    name: str  # section.key
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    @property
    def section(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def key(self) -> str:
        return self.name.split(".", 1)[1]

    def example(self) -> Any:
        """A value of the distribution (its lower end or first choice), used to check the key up front."""
        if self.type == "categorical":
            return self.choices[0]
        return int(self.low) if self.type == "int" else float(self.low)


def _param(path: Path, name: Any, spec: Any) -> Param:
    where = f"{path}: {name}"
    if not isinstance(name, str) or name.count(".") != 1:
        raise SearchSpaceError(f"{where}: keys must be section.key (e.g. training.learning_rate)")
    section, key = name.split(".")
    if section not in ("training", "recipe", "model") or (
        (section == "recipe" and key not in RECIPE_KEYS) or (section == "model" and key in FIXED_MODEL_KEYS)
    ):
        raise SearchSpaceError(
            f"{where}: cannot be searched (searchable: training.*, recipe.{{{','.join(RECIPE_KEYS)}}}, "
            f"model.* but {', '.join(FIXED_MODEL_KEYS)})"
        )
    if not isinstance(spec, dict) or spec.get("type") not in TYPES:
        raise SearchSpaceError(f"{where}: expected {{type: {'|'.join(TYPES)}, ...}}")
    unknown = set(spec) - {"type", "low", "high", "log", "step", "choices"}
    if unknown:
        raise SearchSpaceError(f"{where}: unknown field(s) {sorted(unknown)}")
    if spec["type"] == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise SearchSpaceError(f"{where}: categorical needs a non-empty list `choices`")
        return Param(name, "categorical", choices=tuple(choices))
    low, high = spec.get("low"), spec.get("high")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) or low >= high:
        raise SearchSpaceError(f"{where}: needs numbers low < high, got low={low!r} high={high!r}")
    log, step = bool(spec.get("log", False)), spec.get("step")
    if log and (low <= 0 or step is not None):
        raise SearchSpaceError(f"{where}: log needs low > 0 and no step")
    return Param(name, spec["type"], low=low, high=high, log=log, step=step)


def load_space(path: str | Path) -> list[Param]:
    """The parameters of a space file (``space:`` mapping, or the mapping at the top level)."""
    path = Path(path)
    if not path.is_file():
        raise SearchSpaceError(f"{path}: search space file not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise SearchSpaceError(f"{path}: not valid YAML ({err})") from None
    raw = raw.get("space", raw) if isinstance(raw, dict) else raw
    if not isinstance(raw, dict) or not raw:
        raise SearchSpaceError(f"{path}: expected `space:` mapping section.key names to distributions")
    return [_param(path, name, spec) for name, spec in raw.items()]


def suggest(trial: Any, params: list[Param]) -> dict[str, Any]:
    """Sample (or, asked again within one trial, recall) every parameter from an optuna trial."""
    values: dict[str, Any] = {}
    for p in params:
        if p.type == "categorical":
            values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
        elif p.type == "int":
            values[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
        else:
            values[p.name] = trial.suggest_float(p.name, p.low, p.high, step=p.step, log=p.log)
    return values


def ray_space(params: list[Param]) -> dict[str, Any]:
    """The same space as Ray Tune distributions (for ``--backend ray``)."""
    from ray import tune

    space: dict[str, Any] = {}
    for p in params:
        if p.type == "categorical":
            space[p.name] = tune.choice(list(p.choices))
        elif p.type == "int":
            space[p.name] = (tune.lograndint if p.log else tune.randint)(int(p.low), int(p.high) + 1)
        elif p.step is not None:
            space[p.name] = tune.quniform(p.low, p.high, p.step)
        else:
            space[p.name] = (tune.loguniform if p.log else tune.uniform)(p.low, p.high)
    return space


def training_values(values: dict[str, Any]) -> dict[str, Any]:
    """The `training.*` values under their TrainingArguments names (what Trainer sets on its args per trial)."""
    return {name.split(".", 1)[1]: v for name, v in values.items() if name.startswith("training.")}
