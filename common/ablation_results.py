"""ablation_results.json: its schema and the text of its cells, in one place, so the table `recipe.experiments`
writes and the model card's "Techniques & impact" section (which reads the file without importing the recipe)
check and print the same file the same way. The file's layout is described in recipe.components.ablation."""

from __future__ import annotations

from typing import Any

from common.cli import UserError

METRICS: tuple[str, ...] = ("accuracy", "uar", "macro_f1")
VARIANT_KEYS = frozenset({"name", "overrides", "runs", "test", "delta_vs_baseline"})
RUN_KEYS = frozenset({"seed", "test", "validation", "train_seconds"})
OPTIONAL_RUN_KEYS = frozenset({"fold"})
NO_OVERRIDES = "(the config as is)"


class AblationSchemaError(UserError, ValueError):
    """An ablation results mapping that does not have the ablation_results.json shape; the message says where."""


def check_schema(results: Any) -> None:
    """Raise AblationSchemaError unless ``results`` is ``{"variants": [...]}`` with every variant, run and summary
    holding exactly the keys recipe.experiments writes (a run may also name its ``fold``, a variant its seed
    ``ensemble``; the file may name the ``executor`` its runs ran on)."""
    if (
        not isinstance(results, dict)
        or not {"variants"} <= set(results) <= {"variants", "executor"}
        or not isinstance(results["variants"], list)
    ):
        raise AblationSchemaError("ablation results: expected {'variants': [...]} and optionally {'executor': {...}}")
    if "executor" in results and not {"name", "runs_by_executor"} <= set(results["executor"]):
        raise AblationSchemaError(f"ablation results: executor keys {sorted(results['executor'])}")
    if not results["variants"]:
        raise AblationSchemaError("ablation results: 'variants' is empty")
    for v in results["variants"]:
        if not isinstance(v, dict) or set(v) - {"ensemble"} != VARIANT_KEYS:
            raise AblationSchemaError(
                f"ablation results: variant {str(v)[:80]} lacks or adds keys to {sorted(VARIANT_KEYS)}"
            )
        for run in v["runs"]:
            if not isinstance(run, dict) or not RUN_KEYS <= set(run) <= RUN_KEYS | OPTIONAL_RUN_KEYS:
                raise AblationSchemaError(f"ablation results: run keys {sorted(run)} of variant {v['name']}")
            for split in ("test", "validation"):
                if set(run[split]) != set(METRICS):
                    raise AblationSchemaError(f"ablation results: {split} metrics {sorted(run[split])} of {v['name']}")
        if set(v["test"]) != set(METRICS) or any(set(s) != {"mean", "std", "ci95"} for s in v["test"].values()):
            raise AblationSchemaError(f"ablation results: test summary of {v['name']}")


def mean_std(stats: dict[str, Any], unit: str = "") -> str:
    """{"mean": 0.9208, "std": 0.014} -> "92.08 ± 1.40" (percent; ``unit`` follows the mean, e.g. " %")."""
    text = f"{100 * stats['mean']:.2f}{unit}"
    return text if stats.get("std") is None else f"{text} ± {100 * stats['std']:.2f}"


def paired_delta(stats: dict[str, Any] | None, unit: str = "") -> str:
    """A paired difference in percentage points with its interval: "+3.47 [-2.82, +9.76]"; "—" without one
    (``unit`` follows each number, e.g. " pp")."""
    if not stats:
        return "—"
    text = f"{100 * stats['mean']:+.2f}{unit}"
    ci = stats.get("ci95")
    return text if ci is None else f"{text} [{100 * ci[0]:+.2f}{unit}, {100 * ci[1]:+.2f}{unit}]"


def config_value(value: Any) -> str:
    """A config value as YAML prints a scalar; a small flat mapping in full (``{default: 0.5, fear: 1.0}``: per-class
    probabilities), a larger or nested one (an architecture) abbreviated to its size."""
    if isinstance(value, dict):
        if len(value) <= 4 and not any(isinstance(v, (dict, list)) for v in value.values()):
            return "{" + ", ".join(f"{k}: {config_value(v)}" for k, v in value.items()) + "}"
        return f"{{{len(value)} keys}}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(config_value(x) for x in value) + "]"
    return str(value)


def overrides_text(overrides: dict[str, Any]) -> str:
    """Short human form of a variant's overrides: "recipe.mixup_alpha=0.0, model.encoder_config={12 keys}"."""
    return ", ".join(f"{key}={config_value(value)}" for key, value in overrides.items()) or NO_OVERRIDES
