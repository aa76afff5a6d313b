"""Render a run's README.md (model card) from the run's own files, never from typed-in numbers.

Inputs (all read, nothing recomputed except simple sums/shares of what the files hold):
OUT/eval_results.json (recipe.evaluate), OUT/trainer_state.json, OUT/run_info.json, OUT/train_config.yaml,
OUT/config.json, OUT/preprocessor_config.json (recipe.train) and DATA/prepare_report.json (data_prep).
The metadata is a ``huggingface_hub.ModelCardData`` (model-index from ``EvalResult``s); the body is the
Jinja2 template ``model_card/template.md`` rendered by ``ModelCard.from_template``.
This package reads files only and imports nothing from ``recipe`` (import direction data_prep → recipe → card).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers import AutoConfig

from common import log_history
from common.cli import UserError
from common.tables import markdown_table
from model_card import formatting as fmt

TEMPLATE_PATH = Path(__file__).with_name("template.md")
CARD_FILE = "README.md"
TASK = "audio-classification"

# Licences of the corpora the recipe knows, keyed by lower-case corpus name. Only what the corpus authors
# state is recorded here; anything else is reported as unknown rather than guessed.
CORPUS_LICENCES: dict[str, str] = {
    "ravdess": "CC BY-NC-SA 4.0 (non-commercial, share-alike)",
}
BEFORE_BALANCING = "train before balancing"
UNKNOWN_LICENCE = "not recorded by this recipe: check the corpus' own terms before use"
# Encoder (config.json → encoder_config) and training-config keys shown under "Regularisation".
ENCODER_REGULARISERS = (
    "hidden_dropout",
    "attention_dropout",
    "activation_dropout",
    "feat_proj_dropout",
    "layerdrop",
    "mask_time_prob",
    "mask_time_length",
    "mask_feature_prob",
    "mask_feature_length",
    "apply_spec_augment",
)
REGULARISER_PATTERN = re.compile(
    r"dropout|weight_decay|label_smoothing|mask_|augment|freeze|early_stopping"
    r"|patience|max_grad_norm|layerdrop|class_weight|mixup"
)


class CardInputError(UserError, ValueError):
    """A run file the card needs is missing or malformed; names the file and the reason."""

    def __init__(self, path: str | Path, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


@dataclass
class RunFiles:
    """Everything the card is made from, as parsed from the run's files."""

    model_dir: Path
    data_dir: Path
    eval_results: dict[str, Any]
    trainer_state: dict[str, Any]
    run_info: dict[str, Any]
    train_config: dict[str, Any]
    model_config: dict[str, Any]
    preprocessor: dict[str, Any]
    prepare_report: dict[str, Any]
    ablation: dict[str, Any] | None = None
    ablation_path: Path | None = None


def _read_json(path: Path, required_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    if not path.is_file():
        raise CardInputError(path, "file not found (did training/evaluation finish?)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise CardInputError(path, f"not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise CardInputError(path, f"expected a JSON object, got {type(data).__name__}")
    missing = [k for k in required_keys if k not in data]
    if missing:
        raise CardInputError(path, f"missing keys {missing}")
    return data


def load_ablation(path: str | Path) -> dict[str, Any]:
    """ablation_results.json of `python -m recipe.experiments`, checked for the keys the card reads."""
    path = Path(path)
    data = _read_json(path, ("variants",))
    if not isinstance(data["variants"], list) or not data["variants"]:
        raise CardInputError(path, "'variants' must be a non-empty list")
    for v in data["variants"]:
        if (
            not isinstance(v, dict)
            or not {"name", "overrides", "runs", "test", "delta_vs_baseline"} <= set(v)
            or not all(m in v["test"] for m in ("accuracy", "uar", "macro_f1"))
        ):
            raise CardInputError(path, f"variant entry {str(v)[:80]} lacks name/overrides/runs/test/delta_vs_baseline")
    return data


def load_run(
    model_dir: str | Path, data_dir: str | Path | None = None, ablation_path: str | Path | None = None
) -> RunFiles:
    """Read and check the run's files; ``data_dir`` defaults to run_info.json's ``data_dir``."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise CardInputError(model_dir, "model folder not found")
    run_info = _read_json(
        model_dir / "run_info.json", ("data_dir", "encoder", "parameters", "hardware", "train_runtime_s", "demo")
    )
    data_dir = Path(data_dir) if data_dir is not None else Path(run_info["data_dir"])
    eval_results = _read_json(model_dir / "eval_results.json", ("split", "labels", "splits"))
    if eval_results["split"] not in eval_results["splits"]:
        raise CardInputError(model_dir / "eval_results.json", f"primary split {eval_results['split']!r} has no results")
    trainer_state = _read_json(model_dir / "trainer_state.json", ("log_history",))
    config_path = model_dir / "train_config.yaml"
    if not config_path.is_file():
        raise CardInputError(config_path, "file not found")
    try:
        train_config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise CardInputError(config_path, f"not valid YAML ({err})") from err
    if not isinstance(train_config, dict):
        raise CardInputError(config_path, "expected a mapping at the top level")
    pre_path = model_dir / "preprocessor_config.json"
    run = RunFiles(
        model_dir=model_dir,
        data_dir=data_dir,
        eval_results=eval_results,
        trainer_state=trainer_state,
        run_info=run_info,
        train_config=train_config,
        model_config=_read_json(model_dir / "config.json", ("id2label",)),
        preprocessor=_read_json(pre_path) if pre_path.is_file() else {},
        prepare_report=_read_json(data_dir / "prepare_report.json", ("corpora", "splits", "settings")),
        ablation=load_ablation(ablation_path) if ablation_path else None,
        ablation_path=Path(ablation_path) if ablation_path else None,
    )
    check_consistent(run)
    return run


def check_consistent(run: RunFiles) -> None:
    """Refuse to combine files of different runs/datasets: each evaluated split must have the size that
    prepare_report.json gives it (otherwise the card's tables would contradict each other)."""
    for split, res in run.eval_results["splits"].items():
        expected = sum((run.prepare_report["splits"].get(split) or {}).values())
        if res.get("n") != expected:
            raise CardInputError(
                run.data_dir / "prepare_report.json",
                f"split {split!r} has {expected} clips here but eval_results.json evaluated {res.get('n')} "
                f"(from {run.eval_results.get('data_dir')}): pass the dataset the model was evaluated on, or "
                "rerun recipe.evaluate",
            )


# --------------------------------------------------------------------------------------------- facts


def hub_base_model(encoder: Any) -> str | None:
    """The encoder as a Hub model id ("org/name") when it is one; None for local paths or scratch models."""
    if not isinstance(encoder, str) or Path(encoder).exists() or Path(encoder).is_absolute():
        return None
    return encoder if re.fullmatch(r"[\w.-]+/[\w.-]+", encoder) else None


def contributing_corpora(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """prepare_report.json's corpora that contributed clips (kept > 0), in report order."""
    return {name: c for name, c in report["corpora"].items() if c.get("kept", 0) > 0}


def languages(report: dict[str, Any]) -> list[str]:
    """Languages of the corpora that contributed clips (prepare_report order, deduplicated)."""
    langs = [c.get("language") for c in contributing_corpora(report).values()]
    return list(dict.fromkeys(lang for lang in langs if lang))


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}."""
    flat: dict[str, Any] = {}
    for key, val in config.items():
        name = f"{prefix}{key}"
        if isinstance(val, dict) and val:
            flat.update(flatten(val, name + "."))
        else:
            flat[name] = val
    return flat


def epoch_rows(run: RunFiles) -> list[dict[str, Any]]:
    """One dict per epoch with the raw train/eval numbers of trainer_state.json's log_history."""
    return log_history.epoch_rows(run.trainer_state["log_history"])


def best_epoch(run: RunFiles, rows: list[dict[str, Any]]) -> float | None:
    """Epoch of the checkpoint that was kept (matched by its global step), if it can be told."""
    step = run.trainer_state.get("best_global_step")
    if step is None:
        match = re.search(r"checkpoint-(\d+)", str(run.run_info.get("best_model_checkpoint") or ""))
        step = int(match.group(1)) if match else None
    for row in rows:
        if step is not None and row.get("step") == step:
            return row["epoch"]
    return None


def encoder_settings(run: RunFiles) -> dict[str, Any]:
    """config.json's ``encoder_config`` completed with the encoder class's defaults (the file may hold only the
    values that differ from them), via transformers' own config class for that model_type."""
    enc = dict(run.model_config.get("encoder_config") or {})
    model_type = enc.pop("model_type", None)
    if model_type is None:
        raise CardInputError(run.model_dir / "config.json", "encoder_config has no model_type")
    try:
        return {"model_type": model_type, **AutoConfig.for_model(model_type, **enc).to_dict()}
    except ValueError as err:
        reason = f"unknown encoder model_type {model_type!r} ({err})"
        raise CardInputError(run.model_dir / "config.json", reason) from err


def architecture(run: RunFiles) -> dict[str, Any]:
    """Encoder and head facts from config.json and run_info.json, and the head as diagram lines."""
    cfg = run.model_config
    enc = encoder_settings(run)
    n_labels = len(cfg["id2label"])
    hidden = enc.get("hidden_size")
    dropout = cfg.get("head_dropout")
    widths = [hidden, *cfg.get("head_sizes", [])]
    head_lines = [f"[Linear({a}→{b}) + LayerNorm + ReLU + Dropout({dropout})]" for a, b in zip(widths[:-1], widths[1:])]
    head_lines.append(f"Linear({widths[-1]}→{n_labels})  (classifier)")
    return {
        "encoder_type": enc.get("model_type", "unknown"),
        "hidden_size": hidden,
        "num_layers": enc.get("num_hidden_layers"),
        "num_heads": enc.get("num_attention_heads"),
        "feat_extract_norm": enc.get("feat_extract_norm"),
        "attention_hidden_size": cfg.get("attention_hidden_size"),
        "use_weighted_layer_sum": bool(cfg.get("use_weighted_layer_sum")),
        "encoder_output_norm": bool(cfg.get("encoder_output_norm")),
        "head_sizes": cfg.get("head_sizes", []),
        "head_dropout": dropout,
        "num_labels": n_labels,
        "head_lines": head_lines,
        "params_total": fmt.count(run.run_info["parameters"].get("total")),
        "params_trainable": fmt.count(run.run_info["parameters"].get("trainable")),
        # Written by recipe.train since the count while frozen was recorded; older run folders lack it.
        "params_trainable_frozen": fmt.count(run.run_info["parameters"].get("trainable_encoder_frozen"))
        if "trainable_encoder_frozen" in run.run_info["parameters"]
        else None,
    }


def files_table(model_dir: Path) -> list[list[str]]:
    """Rows (name, bytes, human size) for everything in the output folder, measured now, plus this card."""
    rows = [[CARD_FILE, "—", "this model card"]]
    for path in sorted(model_dir.iterdir()):
        if path.name == CARD_FILE:
            continue
        if path.is_dir():
            files = [p for p in path.rglob("*") if p.is_file()]
            total = sum(p.stat().st_size for p in files)
            rows.append([f"{path.name}/", fmt.count(total), f"{fmt.human_size(total)} (folder, {len(files)} files)"])
        else:
            size = path.stat().st_size
            rows.append([path.name, fmt.count(size), fmt.human_size(size)])
    return rows


# ---------------------------------------------------------------------------------------- metadata


def dataset_title(run: RunFiles) -> str:
    """Pretty name of the evaluation data: the corpora that contributed clips and the number of classes."""
    names = ["synthetic demo corpus"] if run.run_info["demo"] else list(contributing_corpora(run.prepare_report))
    return f"{' + '.join(names)} ({len(run.eval_results['labels'])} emotions)"


def eval_results(run: RunFiles) -> list[EvalResult]:
    """model-index entries: accuracy, UAR and macro-F1 of every evaluated split (fractions, 4 decimals)."""
    out = []
    for split, res in run.eval_results["splits"].items():
        for metric_type, key, name, args in (
            ("accuracy", "accuracy", "Accuracy (WA)", None),
            ("recall", "uar", "UAR (macro recall)", {"average": "macro"}),
            ("f1", "macro_f1", "Macro-F1", {"average": "macro"}),
        ):
            out.append(
                EvalResult(
                    task_type=TASK,
                    task_name="Speech emotion recognition",
                    dataset_type="ser-recipe-prepared",
                    dataset_name=dataset_title(run),
                    dataset_split=split,
                    metric_type=metric_type,
                    metric_name=f"{split} {name}",
                    metric_args=args,
                    metric_value=fmt.frac4(res[key]),
                )
            )
    return out


def model_name(run: RunFiles) -> str:
    """A stable name for the model-index: ser-<encoder type>-<n>emotions[-demo]."""
    enc = (run.model_config.get("encoder_config") or {}).get("model_type", "encoder")
    return f"ser-{enc}-{len(run.eval_results['labels'])}emotions" + ("-demo" if run.run_info["demo"] else "")


def card_data(run: RunFiles) -> ModelCardData:
    """The YAML metadata of the card."""
    demo = bool(run.run_info["demo"])
    enc = (run.model_config.get("encoder_config") or {}).get("model_type")
    name = model_name(run)
    tags = ["audio-classification", "speech-emotion-recognition", "ser-recipe", *([enc] if enc else [])]
    if demo:
        tags += ["demo", "synthetic-data"]
    return ModelCardData(
        model_name=name,
        eval_results=eval_results(run),
        # Weights trained on the real corpora inherit their non-commercial terms (RAVDESS: CC BY-NC-SA 4.0);
        # the card's corpus table lists each corpus' licence. The demo model saw synthetic data only.
        license="apache-2.0" if demo else "cc-by-nc-sa-4.0",
        language=languages(run.prepare_report) or None,
        library_name="transformers",
        pipeline_tag=TASK,
        tags=tags,
        datasets=["ser-recipe-synthetic-demo"]
        if demo
        else [n.lower() for n in contributing_corpora(run.prepare_report)],
        base_model=hub_base_model(run.run_info["encoder"]),
        metrics=["accuracy", "recall", "f1"],
    )


# ------------------------------------------------------------------------------------------- body


def _split_block(res: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    return {
        "n": res["n"],
        "accuracy": fmt.pct(res["accuracy"]),
        "uar": fmt.pct(res["uar"]),
        "macro_f1": fmt.pct(res["macro_f1"]),
        "per_class": {c: fmt.pct(res["per_class"][c]["accuracy"]) for c in labels},
        "support": {c: res["per_class"][c]["support"] for c in labels},
        "per_corpus": [[g, fmt.pct(v["accuracy"]), v["correct"], v["n"]] for g, v in res.get("per_corpus", {}).items()],
        "per_language": [
            [g, fmt.pct(v["accuracy"]), v["correct"], v["n"]] for g, v in res.get("per_language", {}).items()
        ],
        "confusions": [[p["true"], p["pred"], fmt.pct(p["rate"]), p["count"]] for p in res["top_confusions"]],
        "absent": res.get("classes_absent", []),
    }


def _interval(ci: dict[str, Any] | None, key: str) -> str:
    return fmt.MISSING if not ci or key not in ci else f"[{fmt.pct(ci[key][0])}, {fmt.pct(ci[key][1])}]"


def _variant(run: RunFiles, name: str) -> dict[str, Any] | None:
    return next((v for v in (run.ablation or {}).get("variants", []) if v["name"] == name), None)


def results_summary(run: RunFiles, primary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows (one per metric) of the results summary: the model with its bootstrap interval next to
    the majority, random and (when evaluated) classical baselines and (with an ablation file) the from-scratch
    variant's mean."""
    base = primary["baselines"]
    classical = base.get("classical")
    scratch = _variant(run, "from_scratch")
    header = [
        "metric",
        "model",
        *(["model interval"] if primary.get("ci95") else []),
        "majority class",
        "random guess",
        *(["classical (eGeMAPS + LR)"] if classical else []),
        *(["from scratch (ablation mean)"] if scratch else []),
        "model − majority",
        "model − random",
    ]
    rows = []
    for name, key in (("Accuracy (WA)", "accuracy"), ("UAR (macro recall)", "uar"), ("Macro-F1", "macro_f1")):
        rows.append(
            [
                name,
                fmt.pct(primary[key]),
                *([_interval(primary["ci95"], key)] if primary.get("ci95") else []),
                fmt.pct(base["majority"][key]),
                fmt.pct(base["random"][key]),
                *([fmt.pct(classical[key])] if classical else []),
                *([fmt.pct(scratch["test"][key]["mean"])] if scratch else []),
                fmt.pp(primary[key] - base["majority"][key]),
                fmt.pp(primary[key] - base["random"][key]),
            ]
        )
    return header, rows


def classical_verdict(primary: dict[str, Any]) -> str | None:
    """One plain sentence comparing the model's UAR with the classical baseline's, or None without it."""
    classical = primary["baselines"].get("classical")
    if not classical:
        return None
    model, other = primary["uar"], classical["uar"]
    ci = primary.get("ci95") or {}
    inside = "uar" in ci and ci["uar"][0] <= other <= ci["uar"][1]
    if model < other:
        verdict = (
            f"**The model loses to the classical baseline**: UAR {fmt.pct(model)} against {fmt.pct(other)} "
            "for openSMILE eGeMAPS features with a logistic regression on the same clips"
        )
    else:
        verdict = (
            f"The model beats the classical baseline: UAR {fmt.pct(model)} against {fmt.pct(other)} "
            "for openSMILE eGeMAPS features with a logistic regression on the same clips"
        )
    return verdict + (
        " (the baseline's UAR lies inside the model's bootstrap interval: the difference is not established)."
        if inside
        else "."
    )


def techniques_rows(run: RunFiles) -> list[list[str]]:
    """The "Techniques & impact" table: one row per variant of the ablation file, numbers as the file has them."""
    rows = []
    for v in (run.ablation or {}).get("variants", []):
        test, delta = v["test"], v.get("delta_vs_baseline") or {}

        def spread(stats: dict[str, Any]) -> str:
            return fmt.pct(stats["mean"]) + ("" if stats.get("std") is None else f" ± {100 * stats['std']:.2f}")

        def change(key: str) -> str:
            d = delta.get(key)
            if not d:
                return "—"
            ci = d.get("ci95")
            return fmt.pp(d["mean"]) + ("" if not ci else f" [{fmt.pp(ci[0])}, {fmt.pp(ci[1])}]")

        what = (
            ", ".join(
                f"{k}={fmt.value(val) if not isinstance(val, dict) else '{…}'}" for k, val in v["overrides"].items()
            )
            or "the config as trained"
        )
        seeds = sorted({r["seed"] for r in v["runs"]})
        rows.append(
            [
                v["name"],
                what,
                len(v["runs"]),
                ", ".join(str(x) for x in seeds),
                spread(test["accuracy"]),
                spread(test["uar"]),
                spread(test["macro_f1"]),
                change("accuracy"),
                change("uar"),
            ]
        )
    return rows


def template_context(run: RunFiles) -> dict[str, Any]:
    """All template variables, numbers already formatted (see model_card.formatting)."""
    ev, info, report = run.eval_results, run.run_info, run.prepare_report
    labels = list(ev["labels"])
    split = ev["split"]
    primary = ev["splits"][split]
    base = primary["baselines"]
    results_header, results_rows = results_summary(run, primary)
    splits_rows = [
        [s, r["n"], fmt.pct(r["accuracy"]), fmt.pct(r["uar"]), fmt.pct(r["macro_f1"])] for s, r in ev["splits"].items()
    ]
    per_split = {s: _split_block(r, labels) for s, r in ev["splits"].items()}
    class_split_order = [s for s in ("validation", split) if s in per_split] + [
        s for s in per_split if s not in ("validation", split)
    ]
    per_class_rows = [
        [c, *[per_split[s]["per_class"][c] for s in class_split_order], per_split[split]["support"][c]] for c in labels
    ]

    corpora_rows, skipped_notes = [], []
    for name, c in report["corpora"].items():
        skipped = c.get("skipped") or {}
        corpora_rows.append(
            [
                name,
                c.get("language") or "—",
                c.get("found", 0),
                c.get("kept", 0),
                sum(skipped.values()),
                *[c.get("per_class", {}).get(e, 0) for e in labels],
                CORPUS_LICENCES.get(name.lower(), UNKNOWN_LICENCE)
                if not info["demo"]
                else "synthetic (generated by demo.corpus)",
            ]
        )
        skipped_notes += [f"{name}: {n} × {reason}" for reason, n in skipped.items() if n]
    split_names = [s for s in ("train", "validation", "test") if s in report["splits"]] + [
        s for s in report["splits"] if s not in ("train", "validation", "test")
    ]
    split_rows = [
        [s, *[report["splits"][s].get(e, 0) for e in labels], sum(report["splits"][s].values())] for s in split_names
    ]
    before = report.get("train_before_balancing")
    if before and before != report["splits"].get("train"):
        split_rows.insert(0, [BEFORE_BALANCING, *[before.get(e, 0) for e in labels], sum(before.values())])
    class_totals = {e: sum(report["splits"][s].get(e, 0) for s in split_names) for e in labels}
    grand_total = sum(class_totals.values())
    class_rows = [[e, class_totals[e], fmt.pct(class_totals[e] / grand_total if grand_total else None)] for e in labels]

    rows = epoch_rows(run)
    best = best_epoch(run, rows)
    unfreeze = info.get("unfreeze_epoch")
    progress_rows = []
    for r in rows:
        notes = []
        if unfreeze and float(r["epoch"]) == float(unfreeze):
            notes.append("encoder unfrozen after this epoch")
        if best is not None and r["epoch"] == best:
            notes.append("best (kept)")
        progress_rows.append(
            [
                fmt.epoch(r["epoch"]),
                fmt.loss(r.get("train_loss")),
                fmt.pct(r.get("train_accuracy")),
                fmt.loss(r.get("eval_loss")),
                fmt.pct(r.get("eval_accuracy")),
                fmt.pct(r.get("eval_uar")),
                fmt.pct(r.get("eval_macro_f1")),
                "; ".join(notes),
            ]
        )

    flat_cfg = flatten(run.train_config)
    hyper_rows = [[k, fmt.value(v)] for k, v in flat_cfg.items()]
    enc_cfg = encoder_settings(run)
    reg_rows = (
        [["model: head_dropout", fmt.value(run.model_config.get("head_dropout"))]]
        + [[f"encoder: {k}", fmt.value(enc_cfg[k])] for k in ENCODER_REGULARISERS if k in enc_cfg]
        + [[f"train_config: {k}", fmt.value(v)] for k, v in flat_cfg.items() if REGULARISER_PATTERN.search(k)]
    )

    overlap = report.get("speaker_overlap") or {}
    hardware = info.get("hardware") or {}
    metric_best = info.get("best_metric")
    metric_name = str(info.get("metric_for_best_model") or "")
    return {
        "demo": bool(info["demo"]),
        "title": model_name(run),
        "labels": labels,
        "labels_text": ", ".join(labels),
        "split": split,
        "n_primary": primary["n"],
        "acc": fmt.pct(primary["accuracy"]),
        "uar": fmt.pct(primary["uar"]),
        "f1": fmt.pct(primary["macro_f1"]),
        "majority_class": base["majority"]["class"],
        "majority_acc": fmt.pct(base["majority"]["accuracy"]),
        "random_acc": fmt.pct(base["random"]["accuracy"]),
        "above_majority": fmt.pp(primary["accuracy"] - base["majority"]["accuracy"]),
        "above_random": fmt.pp(primary["accuracy"] - base["random"]["accuracy"]),
        "results_header": results_header,
        "results_rows": results_rows,
        "ci": primary.get("ci95"),
        "ci_uar": _interval(primary.get("ci95"), "uar"),
        "classical": base.get("classical"),
        "classical_ci_uar": _interval((base.get("classical") or {}).get("ci95"), "uar"),
        "classical_verdict": classical_verdict(primary),
        "techniques_rows": techniques_rows(run),
        "ablation_file": str(run.ablation_path) if run.ablation_path else None,
        "ablation_has_scratch": _variant(run, "from_scratch") is not None,
        "splits_rows": splits_rows,
        "majority_method": base["majority"]["method"],
        "random_method": base["random"]["method"],
        "encoder": info["encoder"] if isinstance(info["encoder"], str) else json.dumps(info["encoder"]),
        "base_model_id": hub_base_model(info["encoder"]),
        "from_scratch": info["encoder"] == "from scratch",
        "arch": architecture(run),
        "corpora_header": ["corpus", "language", "found", "kept", "skipped", *labels, "licence"],
        "corpora_rows": corpora_rows,
        "skipped_notes": skipped_notes,
        "split_header": ["split", *labels, "total"],
        "split_rows": split_rows,
        "class_rows": class_rows,
        "grand_total": grand_total,
        "settings": [[k, fmt.value(v)] for k, v in report["settings"].items()],
        "preprocessor": [
            [k, fmt.value(run.preprocessor[k])]
            for k in (
                "sampling_rate",
                "max_duration",
                "do_normalize",
                "return_attention_mask",
                "padding_value",
                "feature_size",
            )
            if k in run.preprocessor
        ],
        "hyper_rows": hyper_rows,
        "reg_rows": reg_rows,
        "progress_rows": progress_rows,
        "epochs_run": fmt.epoch(info["epochs_run"]) if info.get("epochs_run") is not None else fmt.MISSING,
        "unfreeze_epoch": fmt.epoch(unfreeze) if unfreeze else None,
        "freeze_encoder_epochs": info.get("freeze_encoder_epochs"),
        "metric_for_best_model": info.get("metric_for_best_model"),
        "best_metric": fmt.MISSING
        if not isinstance(metric_best, (int, float))
        else fmt.loss(metric_best)
        if "loss" in metric_name
        else fmt.pct(metric_best),
        "best_epoch": fmt.epoch(best) if best is not None else fmt.MISSING,
        "per_class_header": ["class", *[f"{s} accuracy" for s in class_split_order], f"{split} clips"],
        "per_class_rows": per_class_rows,
        "per_split": per_split,
        "primary_block": per_split[split],
        "figures": ev.get("figures") or {},
        "files_rows": files_table(run.model_dir),
        "hardware": hardware,
        "train_runtime": fmt.duration(info["train_runtime_s"])
        if info.get("train_runtime_s") is not None
        else fmt.MISSING,
        "started_at": info.get("started_at"),
        "finished_at": info.get("finished_at"),
        "eval_device": (ev.get("inference") or {}).get("device", fmt.MISSING),
        "train_precision": info.get("precision", fmt.MISSING),
        "precision_requested": info.get("precision_requested"),
        "eval_precision": (ev.get("inference") or {}).get("precision", fmt.MISSING),
        "eval_batching": (ev.get("inference") or {}).get("batching"),
        "speaker_overlap": [[pair, n] for pair, n in overlap.items()],
        "overlap_total": sum(overlap.values()),
        "split_by": report["settings"].get("split_by"),
        "model_path": str(run.model_dir),
        "sampling_rate": run.preprocessor.get("sampling_rate", report["settings"].get("sampling_rate")),
    }


def card_table(header: list[str], rows: list[list[Any]]) -> str:
    """The template's ``table(header, rows)``: a Markdown table set off by blank lines wherever it is placed."""
    return "\n" + markdown_table(header, rows) + "\n"


def render_card(
    model_dir: str | Path,
    data_dir: str | Path | None = None,
    template_path: str | Path | None = None,
    ablation: str | Path | None = None,
) -> ModelCard:
    """Build the ModelCard of the run in ``model_dir`` (does not write it); ``ablation``: an
    ablation_results.json to render as "Techniques & impact"."""
    run = load_run(model_dir, data_dir, ablation)
    card = ModelCard.from_template(
        card_data(run), template_path=str(template_path or TEMPLATE_PATH), table=card_table, **template_context(run)
    )
    card.text = card.text.rstrip("\n") + "\n"  # Jinja drops the template's final newline
    return card


def write_card(
    model_dir: str | Path,
    data_dir: str | Path | None = None,
    template_path: str | Path | None = None,
    ablation: str | Path | None = None,
) -> Path:
    """Render the card and save it as ``model_dir/README.md``; returns the path."""
    card = render_card(model_dir, data_dir, template_path, ablation)
    path = Path(model_dir) / CARD_FILE
    card.save(path)
    return path
