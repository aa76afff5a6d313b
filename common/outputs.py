"""What an output folder may replace: only a folder the recipe wrote itself, never an input.

Every output the recipe creates carries a small marker file, `.ser-recipe-output.json` (`{"kind": KIND}`), with
one kind per command: a prepared dataset (`python -m data_prep`), a training run (`recipe.train`), an ONNX export
(`recipe.export`), an experiment (`recipe.experiments`) and an ensemble (`recipe.ensemble`). A command refuses,
even when told to overwrite, a non-empty folder that does not hold the marker of its own kind, and refuses before
any work an output folder that is, contains or lies inside one of its inputs (deleting or rewriting it would
destroy what the run reads).

Folders written before the marker existed are recognised by the files only the recipe writes there together
(`LEGACY`): a prepared dataset by prepare_report.json + dataset_dict.json, a training run by run_info.json +
train_config.yaml or by a checkpoint-*/trainer_state.json, an export by export_info.json, an experiment by
ablation_results.json or a runs/*/seed-*/run_result.json, an ensemble by ensemble_info.json. The marker is
written into such a folder when it is next reused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from common.atomic import OutputError

MARKER = ".ser-recipe-output.json"
DATASET, TRAINING_RUN, EXPORT, EXPERIMENT = "prepared dataset", "training run", "export", "experiment"
ENSEMBLE, SEARCH = "ensemble", "hyperparameter search"
KINDS = (DATASET, TRAINING_RUN, EXPORT, EXPERIMENT, ENSEMBLE, SEARCH)
# Glob patterns, all present together, that identify a folder of that kind written before markers existed.
LEGACY: dict[str, tuple[tuple[str, ...], ...]] = {
    DATASET: (("prepare_report.json", "dataset_dict.json"),),
    TRAINING_RUN: (("run_info.json", "train_config.yaml"), ("checkpoint-*/trainer_state.json",)),
    EXPORT: (("export_info.json",),),
    ENSEMBLE: (("ensemble_info.json",),),
    SEARCH: (("search.db",), ("search_results.json",)),
    EXPERIMENT: (
        ("ablation_results.json",),
        ("runs/*/seed-*/run_result.json",),
        ("runs/*/seed-*/fold-*/run_result.json",),
    ),
}


def write_marker(folder: str | Path, kind: str) -> None:
    """Mark `folder` as an output of `kind` written by the recipe."""
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}")
    (Path(folder) / MARKER).write_text(json.dumps({"written_by": "ser-recipe", "kind": kind}) + "\n")


def kind_of(folder: str | Path) -> str | None:
    """The kind of recipe output `folder` holds (marker, else the legacy files), or None."""
    folder = Path(folder)
    try:
        kind = json.loads((folder / MARKER).read_text()).get("kind")
        if kind in KINDS:
            return kind
    except (OSError, ValueError, AttributeError):
        pass
    for kind, signatures in LEGACY.items():
        if any(all(next(folder.glob(pattern), None) is not None for pattern in sig) for sig in signatures):
            return kind
    return None


def is_empty(folder: str | Path) -> bool:
    folder = Path(folder)
    return not folder.exists() or (folder.is_dir() and not any(folder.iterdir()))


def check_replaceable(dest: str | Path, kind: str, *, overwrite: bool, flag: str = "--overwrite") -> None:
    """Raise OutputError unless `dest` is absent, empty, or (with `overwrite`) a recipe output of `kind`."""
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise OutputError(f"{dest} exists and is not a folder; choose another output folder")
    if is_empty(dest):
        return
    if not overwrite:
        raise OutputError(f"{dest} already exists: pass {flag} to replace it, or choose another output folder")
    found = kind_of(dest)
    if found != kind:
        what = f"a recipe {found}, not a {kind}" if found else f"files the recipe did not write (no {MARKER})"
        raise OutputError(
            f"{dest} holds {what}: refusing to replace it even with {flag}; choose another output folder "
            "(or move its files away yourself)"
        )


def _resolved(path: str | Path) -> Path:
    return Path(os.path.abspath(os.path.expanduser(str(path)))).resolve()


def check_disjoint(
    output: str | Path,
    inputs: Iterable[tuple[str, str | Path | None]],
    *,
    flag: str = "--output",
    may_lie_inside: Iterable[str] = (),
) -> None:
    """Raise OutputError when `output` is, contains or lies inside one of `inputs` (label, path); a file input
    stands for its folder. Labels in `may_lie_inside` may hold the output (export's default MODEL/onnx)."""
    out = _resolved(output)
    allowed = set(may_lie_inside)
    for label, path in inputs:
        if path is None or str(path) == "":
            continue
        src = _resolved(path)
        if src.is_file():
            src = src.parent
        if out == src:
            relation = "is"
        elif out in src.parents:
            relation = "contains"
        elif src in out.parents and label not in allowed:
            relation = "lies inside"
        else:
            continue
        raise OutputError(
            f"{flag} {output} {relation} the input {label} {path}: writing there could delete or change what the run "
            "reads; choose an output folder outside every input"
        )
