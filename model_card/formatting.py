"""How numbers are written in the model card (one place, so the card is consistent and tests can parse it).

Conventions: rates are percentages with two decimals ("73.37 %"); differences of rates are percentage
points ("+12.34 pp"); losses have four decimals; counts are plain integers, parameter counts and byte sizes
use thousands separators ("94,371,334"); the YAML model-index holds fractions rounded to four decimals.
"""

from __future__ import annotations

from typing import Any

from common.ablation_results import config_value

MISSING = "n/a"


def pct(rate: float | None) -> str:
    """0.73371 -> '73.37 %' (None -> 'n/a')."""
    return MISSING if rate is None else f"{100 * rate:.2f} %"


def pp(delta: float) -> str:
    """Difference of two rates in percentage points: 0.1234 -> '+12.34 pp'."""
    return f"{100 * delta:+.2f} pp"


def loss(value: float | None) -> str:
    """Loss with four decimals."""
    return MISSING if value is None else f"{value:.4f}"


def count(n: int | None) -> str:
    """Integer with thousands separators."""
    return MISSING if n is None else f"{int(n):,}"


def frac4(rate: float) -> float:
    """Fraction rounded to four decimals (model-index values)."""
    return round(float(rate), 4)


def human_size(n_bytes: int) -> str:
    """1536 -> '1.5 KiB'."""
    size = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def duration(seconds: float) -> str:
    """123.4 -> '123.4 s (0:02:03)'."""
    whole = int(round(seconds))
    return f"{seconds:.1f} s ({whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d})"


def epoch(value: float) -> str:
    """1.0 -> '1', 1.5 -> '1.5'."""
    return f"{float(value):g}"


def value(v: Any) -> str:
    """A config value as written in the hyperparameter tables (YAML scalars as YAML would print them): the same
    text as the ablation tables' (common.ablation_results.config_value)."""
    return config_value(v)
