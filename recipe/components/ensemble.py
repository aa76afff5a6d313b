"""Build one model folder from several trained ones (`python -m recipe.ensemble`) and score seed ensembles.

The folder holds `SEREnsembleForAudioClassification` (recipe/modeling/modeling_ensemble.py): config.json with every
member's config, one weights file with every member's weights under `members.<i>.`, the shared
preprocessor_config.json, the remote code, and `members/<i>-<name>/` with each member's other files (config,
extractor, eval_results.json, run_info.json, ...: what the member was and how it scored). `recipe.predict`,
`recipe.evaluate`, the app and `pipeline("audio-classification")` load it like any model folder.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

from common.atomic import atomic_output
from common.cli import UserError
from common.outputs import ENSEMBLE, check_disjoint, check_replaceable, write_marker

from ..modeling import SEREnsembleConfig, SEREnsembleForAudioClassification, SERFeatureExtractor
from .inference import check_model_folder, model_load_errors

INFO_FILE = "ensemble_info.json"
MEMBERS_DIR = "members"
# A member's files that the ensemble's own weights file already holds (not copied into members/<i>/).
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".h5", ".msgpack")
# Feature-extractor settings every member must share: the ensemble feeds all members the same input.
SHARED_EXTRACTOR_KEYS = ("sampling_rate", "do_normalize", "max_duration", "feature_size", "padding_value")


class EnsembleError(UserError, ValueError):
    """Members that cannot form one ensemble (one line naming the folder and the key, exit 2)."""


def _member(folder: Path) -> tuple[Any, Any]:
    """A member's model (on CPU, eval mode) and its feature extractor."""
    check_model_folder(folder)
    with model_load_errors(folder):
        model = AutoModelForAudioClassification.from_pretrained(str(folder)).eval()
        if (folder / "preprocessor_config.json").is_file():
            extractor = AutoFeatureExtractor.from_pretrained(str(folder))
        else:
            extractor = SERFeatureExtractor.for_encoder(model.config)
    return model, extractor


def check_compatible(folders: Sequence[Path], models: Sequence[Any], extractors: Sequence[Any]) -> None:
    """EnsembleError unless every member has the first member's labels (same names, same order) and extractor
    settings (sampling rate, normalisation, crop)."""
    first_labels = [models[0].config.id2label[i] for i in range(models[0].config.num_labels)]
    for folder, model, extractor in zip(folders[1:], models[1:], extractors[1:]):
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        if labels != first_labels:
            raise EnsembleError(f"{folder}: labels {labels} differ from {folders[0]}'s {first_labels}")
        for key in SHARED_EXTRACTOR_KEYS:
            mine, theirs = getattr(extractor, key, None), getattr(extractors[0], key, None)
            if mine != theirs:
                raise EnsembleError(
                    f"{folder}: preprocessor_config.json {key} {mine!r} differs from {folders[0]}'s {theirs!r}"
                )


def build_ensemble(model_dirs: Sequence[str | Path], output: str | Path, overwrite: bool = False) -> Path:
    """Write the ensemble folder of `model_dirs` to `output` (atomically) and return it."""
    folders = [Path(d) for d in model_dirs]
    if len(folders) < 2:
        raise EnsembleError(f"an ensemble needs at least two --model folders, got {len(folders)}")
    if len({f.resolve() for f in folders}) != len(folders):
        raise EnsembleError("the same --model folder is given twice")
    # --overwrite replaces OUTPUT whole and the members are copied into it: an OUTPUT that is or holds a member
    # would delete it, one inside a member would be copied into itself.
    check_disjoint(output, [("--model", folder) for folder in folders], flag="--output")
    # --overwrite replaces only an earlier ensemble (common.outputs marker, or ensemble_info.json), never other files.
    check_replaceable(output, ENSEMBLE, overwrite=overwrite)
    loaded = [_member(folder) for folder in folders]
    models, extractors = [m for m, _ in loaded], [e for _, e in loaded]
    check_compatible(folders, models, extractors)
    names = [f"{i}-{folder.resolve().name}" for i, folder in enumerate(folders)]
    config = SEREnsembleConfig(
        members=[model.config.to_dict() for model in models],
        member_names=names,
        member_wants_attention_mask=[bool(getattr(e, "return_attention_mask", False)) for e in extractors],
        id2label=dict(models[0].config.id2label),
    )
    with torch.device("meta"):
        ensemble = SEREnsembleForAudioClassification(config)
    ensemble = ensemble.to_empty(device="cpu")
    for target, model in zip(ensemble.members, models):
        target.load_state_dict(model.state_dict(), strict=True, assign=True)
    ensemble.eval()
    # The shared input: the first member's settings (checked equal above); an attention mask only when every member
    # takes one, so a member trained without one never sees padding (batches then hold equal-length clips only).
    extractor = SERFeatureExtractor(
        sampling_rate=extractors[0].sampling_rate,
        do_normalize=extractors[0].do_normalize,
        max_duration=getattr(extractors[0], "max_duration", None),
        return_attention_mask=all(config.member_wants_attention_mask),
    )
    replaceable = partial(check_replaceable, kind=ENSEMBLE, overwrite=overwrite)  # checked again under the lock
    with atomic_output(output, overwrite=overwrite, check=replaceable) as staging:
        ensemble.save_pretrained(str(staging))
        extractor.save_pretrained(str(staging))
        for name, folder in zip(names, folders):
            shutil.copytree(
                folder,
                staging / MEMBERS_DIR / name,
                ignore=lambda _dir, files: [
                    f for f in files if f.endswith(WEIGHT_SUFFIXES) or f.startswith("checkpoint-")
                ],
            )
        info = {
            "combine": "mean of the members' softmax probabilities; logits = log(mean)",
            "members": [{"name": n, "source": str(f.resolve())} for n, f in zip(names, folders)],
            "labels": [config.id2label[i] for i in range(config.num_labels)],
            "sampling_rate": int(extractor.sampling_rate),
        }
        (staging / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
        write_marker(staging, ENSEMBLE)
    return Path(output)


def seed_ensemble(run_folders: Sequence[Path], data_dir: str, output: Path) -> dict[str, Any]:
    """Combine one variant's seed runs into an ensemble folder at `output`, evaluate it on the test split of
    `data_dir` (the split the runs were scored on) and return its headline numbers with the bootstrap interval."""
    from .evaluation import evaluate_model

    build_ensemble(run_folders, output, overwrite=True)
    results = evaluate_model(output, data_dir, "test", also=())
    test = results["splits"]["test"]
    return {
        "members": [str(f) for f in run_folders],
        "model_dir": str(output),
        "test": {metric: float(test[metric]) for metric in ("accuracy", "uar", "macro_f1")},
        "test_ci95": test["ci95"],
    }


def add_seed_ensembles(summary: dict[str, Any], runs: dict[str, list[tuple[Path, str]]], out: Path) -> None:
    """Give each variant of `summary` (ablation_results.json) with two or more finished seeds on one dataset an
    `ensemble` entry: its seeds' models combined (OUT/ensembles/VARIANT) and scored on the same test split."""
    for variant in summary["variants"]:
        members = runs.get(variant["name"], [])
        data_dirs = {data_dir for _, data_dir in members}
        if len(members) >= 2 and len(data_dirs) == 1:
            variant["ensemble"] = seed_ensemble([f for f, _ in members], data_dirs.pop(), out / variant["name"])


def ensemble_markdown(summary: dict[str, Any]) -> str:
    """A table of the seed ensembles (empty text when there are none)."""
    rows = [v for v in summary["variants"] if v.get("ensemble")]
    if not rows:
        return ""
    lines = [
        "## Seed ensembles",
        "",
        "Each variant's seed models combined into one ensemble (`python -m recipe.ensemble`: mean of their class "
        "probabilities), scored on the same test split; 95 % bootstrap interval (speakers resampled).",
        "",
        "| variant | seeds | accuracy | UAR [95 % CI] | macro-F1 |",
        "|---|---:|---:|---:|---:|",
    ]
    for v in rows:
        e = v["ensemble"]
        low, high = e["test_ci95"]["uar"]
        lines.append(
            f"| {v['name']} | {len(e['members'])} | {100 * e['test']['accuracy']:.1f} | "
            f"{100 * e['test']['uar']:.1f} [{100 * low:.1f}, {100 * high:.1f}] | {100 * e['test']['macro_f1']:.1f} |"
        )
    return "\n".join(lines) + "\n"
