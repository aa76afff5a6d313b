"""Run the recipe once per variant x seed and summarise what each technique buys, with error bars.

    python -m recipe.experiments --config CONFIG --data DIR --output OUT [--seeds N] [--variants a,b,...]
        [--variant_file FILE] [--launcher "accelerate launch"] [--keep_checkpoints] [--section.key value ...]

Variants (``--variants``, default: every built-in variant that changes the config): baseline, no_mixup,
no_label_smoothing, mean_pooling, no_balancing, no_freeze, from_scratch, the names of ``--variant_file``
(``variants: {NAME: {section.key: value}}``), and two protocols: ``loco`` (one variant per corpus: train on all
other corpora, test on every clip of that one) and ``kfold`` (speaker-independent k-fold cross-validation on the
folds of DIR/folds.json, written by data_prep with ``folds: K``). Further ``--section.key value`` pairs apply to
every run.

Each run trains into OUT/runs/VARIANT/seed-S[/fold-K] (``recipe.train``: in this process, or with ``--launcher``
as a subprocess under that launcher, e.g. ``torchrun --nproc_per_node 2``), is evaluated there
(``recipe.evaluate``: eval_results.json), and ends by writing run_result.json. A run whose run_result.json exists
for the same overrides and data is not redone, so an interrupted experiment continues where it stopped.
OUT receives ablation_results.json (schema: recipe.components.ablation), ablation_results.md and
ablation_results.png.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from common.cli import UserError, run_cli
from common.config import CliParser
from recipe.components import ablation
from recipe.components.ablation import BASELINE, BUILTIN_VARIANTS, PROTOCOLS, UNBALANCED_SPLIT, VariantError
from recipe.components.config import ConfigError, load_config
from recipe.components.evaluation import evaluate_model
from recipe.components.training import train_from_argv
from recipe.components.uncertainty import METRICS

RESULT_FILE = "run_result.json"
RESULTS_JSON = "ablation_results.json"
RESULTS_MD = "ablation_results.md"
RESULTS_PNG = "ablation_results.png"
FOLDS_FILE = "folds.json"
DERIVED_MARK = "derived.json"


class RunInputError(UserError):
    """One run of the experiment met input it cannot use (the message names the run)."""


@dataclass
class Variant:
    """A named set of config overrides run on one or more datasets (k-fold: one per fold)."""

    name: str
    overrides: dict[str, Any]
    datasets: list[tuple[int | None, str]]  # (fold or None, prepared dataset folder)
    paired: bool = True  # same test set as the baseline: deltas paired by seed make sense
    note: str = ""


@dataclass
class Run:
    variant: Variant
    seed: int
    fold: int | None
    data_dir: str
    folder: Path
    extra: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.variant.name} seed {self.seed}" + (f" fold {self.fold}" if self.fold is not None else "")


# ------------------------------------------------------------------------------------------ variants


def _load_dsd(data_dir: str):
    from datasets import DatasetDict, load_from_disk

    dsd = load_from_disk(data_dir)
    if not isinstance(dsd, DatasetDict):
        raise VariantError(f"{data_dir}: expected a DatasetDict written by data_prep")
    return dsd


def _pool(dsd):
    """Every distinct clip of a prepared set once: the unbalanced train split (or train without duplicates),
    validation and test."""
    from datasets import concatenate_datasets

    train = dsd[UNBALANCED_SPLIT] if UNBALANCED_SPLIT in dsd else dsd["train"]
    pool = concatenate_datasets([train, dsd["validation"], dsd["test"]])
    seen: set[str] = set()
    keep = []
    for i, path in enumerate(pool["path"]):
        if path not in seen:
            seen.add(path)
            keep.append(i)
    return pool.select(keep)


def _save_derived(out_dir: Path, spec: dict[str, Any], build) -> str:
    """Write a derived DatasetDict once (reused while its spec is unchanged) and return its folder."""
    mark = out_dir / DERIVED_MARK
    if mark.is_file() and json.loads(mark.read_text()) == spec:
        return str(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    build().save_to_disk(str(tmp))
    (tmp / DERIVED_MARK).write_text(json.dumps(spec, indent=2) + "\n")
    tmp.rename(out_dir)
    return str(out_dir)


def loco_variants(data_dir: str, out: Path) -> list[Variant]:
    """Leave-one-corpus-out: per corpus C, train/validation = the prepared splits without C, test = all clips of C."""
    from datasets import DatasetDict

    dsd = _load_dsd(data_dir)
    corpora = sorted(set(dsd["train"]["corpus"]) | set(dsd["test"]["corpus"]))
    if len(corpora) < 2:
        raise VariantError(f"{data_dir}: leave-one-corpus-out needs at least two corpora, found {corpora}")
    pool = _pool(dsd)
    variants = []
    for corpus in corpora:

        def build(corpus: str = corpus) -> DatasetDict:
            return DatasetDict(
                {
                    "train": dsd["train"].filter(lambda c: c != corpus, input_columns="corpus"),
                    "validation": dsd["validation"].filter(lambda c: c != corpus, input_columns="corpus"),
                    "test": pool.filter(lambda c: c == corpus, input_columns="corpus"),
                }
            )

        spec = {"protocol": "loco", "held_out": corpus, "source": str(Path(data_dir).resolve())}
        folder = _save_derived(out / "data" / f"loco-{corpus}", spec, build)
        variants.append(
            Variant(
                f"loco-{corpus}",
                {},
                [(None, folder)],
                paired=False,
                note=f"trained without {corpus}, tested on all {corpus} clips",
            )
        )
    return variants


def kfold_variant(data_dir: str, out: Path) -> Variant:
    """Speaker-independent k-fold CV on DIR/folds.json: fold k is test, fold k+1 validation, the rest train
    (balanced to the prepared `per_class` as data_prep does)."""
    from datasets import DatasetDict

    from data_prep.splits import balance

    folds_path = Path(data_dir) / FOLDS_FILE
    if not folds_path.is_file():
        raise VariantError(f"{folds_path}: not found; prepare the data with `folds: K` (K >= 3) for kfold")
    folds = json.loads(folds_path.read_text())
    k, fold_of = int(folds["k"]), folds["speakers"]
    if k < 3:
        raise VariantError(
            f"{folds_path}: kfold needs k >= 3 (one fold tests, the next validates, the rest train), got {k}"
        )
    report_path = Path(data_dir) / "prepare_report.json"
    per_class = int(json.loads(report_path.read_text())["settings"]["per_class"]) if report_path.is_file() else 0
    dsd = _load_dsd(data_dir)
    pool = _pool(dsd)
    missing = sorted(set(pool["speaker"]) - set(fold_of))
    if missing:
        raise VariantError(f"{folds_path}: speakers {missing[:5]} of the dataset have no fold (stale folds.json?)")
    row_fold = [fold_of[s] for s in pool["speaker"]]
    labels = pool["label"]
    datasets = []
    for fold in range(k):

        def build(fold: int = fold) -> DatasetDict:
            val_fold = (fold + 1) % k
            train_rows = [i for i, f in enumerate(row_fold) if f not in (fold, val_fold)]
            return DatasetDict(
                {
                    "train": pool.select(balance(train_rows, labels, per_class, folds.get("seed", 0))),
                    "validation": pool.select([i for i, f in enumerate(row_fold) if f == val_fold]),
                    "test": pool.select([i for i, f in enumerate(row_fold) if f == fold]),
                }
            )

        spec = {
            "protocol": "kfold",
            "k": k,
            "fold": fold,
            "per_class": per_class,
            "source": str(Path(data_dir).resolve()),
            "folds": fold_of,
        }
        datasets.append((fold, _save_derived(out / "data" / f"fold-{fold}", spec, build)))
    return Variant("kfold", {}, datasets, paired=False, note=f"{k}-fold speaker-independent cross-validation")


def from_scratch_overrides(cfg) -> dict[str, Any]:
    """The from_scratch variant: the same encoder architecture, randomly initialised (its config.json is read from
    the local cache or folder; no weights are loaded)."""
    from transformers import AutoConfig

    from recipe.modeling.configuration_ser import clean_encoder_config

    try:
        arch = AutoConfig.from_pretrained(cfg.model.encoder, **{**cfg.model.encoder_config, "trust_remote_code": False})
    except OSError as err:
        raise VariantError(
            f"from_scratch: cannot read the architecture of model.encoder {cfg.model.encoder!r} ({err})"
        ) from None
    return {"model.from_scratch": True, "model.encoder_config": clean_encoder_config(arch)}


def resolve_variants(
    names: list[str],
    user: dict[str, dict[str, Any]],
    config: str,
    data_dir: str,
    out: Path,
    extra: list[str],
    explicit: bool,
) -> list[Variant]:
    """Turn variant names into runnable variants; without an explicit list, variants that leave this config
    unchanged are left out (and said so), e.g. no_freeze when nothing is frozen."""
    try:
        base_cfg = load_config(config, extra).to_dict()
    except ConfigError as err:
        raise VariantError(str(err)) from None
    splits = set(_load_dsd(data_dir))
    variants: list[Variant] = []
    for name in names:
        if name == "loco":
            variants += loco_variants(data_dir, out)
            continue
        if name == "kfold":
            variants.append(kfold_variant(data_dir, out))
            continue
        if name in user:
            overrides = user[name]
        elif name in BUILTIN_VARIANTS:
            overrides = dict(BUILTIN_VARIANTS[name])
        else:
            known = [*BUILTIN_VARIANTS, *user, *PROTOCOLS]
            raise VariantError(f"--variants: unknown variant {name!r} (known: {', '.join(known)})")
        cfg_obj = load_config(config, extra)
        if name == "from_scratch" and not cfg_obj.model.from_scratch:
            overrides = from_scratch_overrides(cfg_obj)
        if overrides.get("data.train_split") == UNBALANCED_SPLIT and UNBALANCED_SPLIT not in splits:
            raise VariantError(
                f"{data_dir}: no split {UNBALANCED_SPLIT!r} for {name}; prepare the data with "
                "`keep_unbalanced: true` (data_prep --keep_unbalanced)"
            )
        try:
            cfg = load_config(config, extra + ablation.as_cli_overrides(overrides)).to_dict()
        except ConfigError as err:
            raise VariantError(f"variant {name}: {err}") from None
        if name != BASELINE and cfg == base_cfg and not explicit:
            print(f"recipe.experiments: {name} leaves {config} unchanged here; left out")
            continue
        variants.append(Variant(name, overrides, [(None, data_dir)]))
    return variants


# -------------------------------------------------------------------------------------------- runs


def _headline(split_results: dict[str, Any]) -> dict[str, float]:
    return {m: float(split_results[m]) for m in METRICS}


def finished(run: Run) -> dict[str, Any] | None:
    """The run's run_result.json when it exists and belongs to the same variant definition and data."""
    path = run.folder / RESULT_FILE
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    if (
        result.get("overrides") != run.variant.overrides
        or result.get("extra") != run.extra
        or result.get("data_dir") != run.data_dir
    ):
        print(f"recipe.experiments: {path} is from a different definition of {run.label}; running it again")
        return None
    return result


def train_run(run: Run, config: str, launcher: str | None) -> None:
    """recipe.train for one run, in this process or under `launcher` (raises on failure)."""
    argv = [
        "--config",
        config,
        "--data",
        run.data_dir,
        "--output_dir",
        str(run.folder),
        "--training.seed",
        str(run.seed),
        "--recipe.overwrite_output_dir",
        "true",
        *run.extra,
        *ablation.as_cli_overrides(run.variant.overrides),
    ]
    if launcher:
        # `accelerate launch`, `torchrun ...` and `python` all take `-m MODULE ARGS`
        cmd = [*shlex.split(launcher), "-m", "recipe.train", *argv]
        rc = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": os.getcwd()}, check=False).returncode
    else:
        rc = train_from_argv(argv)
    if rc != 0:
        raise RuntimeError(f"{run.label}: recipe.train exited with status {rc} (output folder {run.folder})")


def execute(run: Run, config: str, launcher: str | None, keep_checkpoints: bool) -> dict[str, Any]:
    """Train, evaluate, tidy up and record one run; returns its run_result.json content."""
    run.folder.mkdir(parents=True, exist_ok=True)
    (run.folder / RESULT_FILE).unlink(missing_ok=True)
    train_run(run, config, launcher)
    results = evaluate_model(run.folder, run.data_dir, "test", also=("validation",))
    if not keep_checkpoints:
        for ckpt in run.folder.glob("checkpoint-*"):
            shutil.rmtree(ckpt)
    info = json.loads((run.folder / "run_info.json").read_text())
    result = {
        "variant": run.variant.name,
        "seed": run.seed,
        "fold": run.fold,
        "overrides": run.variant.overrides,
        "extra": run.extra,
        "data_dir": run.data_dir,
        "test": _headline(results["splits"]["test"]),
        "validation": _headline(results["splits"]["validation"]),
        "test_ci95": results["splits"]["test"]["ci95"],
        "train_seconds": float(info["train_runtime_s"]),
    }
    tmp = run.folder / (RESULT_FILE + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(run.folder / RESULT_FILE)  # atomic: a run counts as finished only with a complete file
    return result


def plan(variants: list[Variant], seeds: list[int], out: Path, extra: list[str]) -> list[Run]:
    """Every run of the experiment, seed-major so that a partial experiment already has paired seeds."""
    runs = []
    for seed in seeds:
        for v in variants:
            for fold, data_dir in v.datasets:
                folder = ablation.run_folder(out, v.name, seed, fold)
                runs.append(Run(v, seed, fold, data_dir, folder, extra))
    return runs


def summarise(variants: list[Variant], results: dict[tuple[str, int, int | None], dict[str, Any]]) -> dict:
    """ablation_results.json from the run results."""

    def runs_of(v: Variant) -> list[dict[str, Any]]:
        out = []
        for (name, seed, fold), r in results.items():
            if name == v.name:
                entry = {
                    "seed": seed,
                    **({"fold": fold} if fold is not None else {}),
                    "test": r["test"],
                    "validation": r["validation"],
                    "train_seconds": r["train_seconds"],
                }
                out.append(entry)
        return out

    base = next((v for v in variants if v.name == BASELINE), None)
    base_runs = runs_of(base) if base else None
    return {
        "variants": [
            ablation.summarise_variant(v.name, v.overrides, runs_of(v), base_runs if v.paired and base_runs else None)
            for v in variants
            if runs_of(v)
        ]
    }


def write_outputs(summary: dict[str, Any], out: Path, command: str, n_labels: int) -> None:
    """ablation_results.json, .md (with the command) and .png."""
    (out / RESULTS_JSON).write_text(json.dumps(summary, indent=2) + "\n")
    md = (
        f"# Ablation results\n\nCommand: `{command}`\n\nTest metrics in percent, mean ± standard deviation over "
        "runs; Δ = variant − baseline paired by seed, mean with the 95 % t interval of the mean "
        "(percentage points).\n\n" + ablation.markdown_table(summary) + f"\n![bar chart]({RESULTS_PNG})\n"
    )
    (out / RESULTS_MD).write_text(md)
    ablation.plot_results(summary, out / RESULTS_PNG, chance=1.0 / n_labels if n_labels else None)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    ap = CliParser(prog="python -m recipe.experiments", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="recipe YAML config every variant starts from")
    ap.add_argument("--data", required=True, help="prepared DatasetDict folder (data_prep --output)")
    ap.add_argument("--output", required=True, help="experiment folder OUT")
    ap.add_argument("--seeds", type=int, default=3, help="runs per variant: seeds training.seed, +1, ... (default 3)")
    ap.add_argument("--variants", default=None, help="comma-separated variant names (default: all built-in)")
    ap.add_argument("--variant_file", default=None, help="YAML file of user variants: variants: {NAME: {k: v}}")
    ap.add_argument(
        "--launcher",
        default=None,
        help='run recipe.train as a subprocess under this launcher, e.g. "accelerate launch" or '
        '"torchrun --nproc_per_node 2" (default: in this process)',
    )
    ap.add_argument("--keep_checkpoints", action="store_true", help="keep each run's checkpoint-* folders")
    return ap.parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: exit 2 with one line for bad input (before or during a run), 1 when a run fails otherwise."""
    args, extra = parse_args(argv)
    command = "python -m recipe.experiments " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    return run_cli("recipe.experiments", lambda: _experiment(args, extra, command))


def _setup(args: argparse.Namespace, extra: list[str], out: Path) -> tuple[list[Variant], list[int]]:
    """The variants and seeds of the experiment; every input is checked before the first run."""
    if args.seeds < 1:
        raise VariantError(f"--seeds must be >= 1, got {args.seeds}")
    if not (Path(args.data) / "dataset_dict.json").is_file():
        raise VariantError(f"{args.data}: not a prepared dataset (no dataset_dict.json)")
    user = ablation.load_variant_file(args.variant_file) if args.variant_file else {}
    names = [n.strip() for n in args.variants.split(",") if n.strip()] if args.variants else list(BUILTIN_VARIANTS)
    if BASELINE not in names and any(n not in PROTOCOLS for n in names):
        names.insert(0, BASELINE)  # deltas need it
    out.mkdir(parents=True, exist_ok=True)
    variants = resolve_variants(names, user, args.config, args.data, out, extra, explicit=bool(args.variants))
    base_seed = int(load_config(args.config, extra).training.get("seed", 42))
    return variants, [base_seed + i for i in range(args.seeds)]


def _experiment(args: argparse.Namespace, extra: list[str], command: str) -> int:
    """Run every unfinished run, rewriting the summary after each, then print the table."""
    out = Path(args.output)
    variants, seeds = _setup(args, extra, out)
    runs = plan(variants, seeds, out, extra)
    results: dict[tuple[str, int, int | None], dict[str, Any]] = {}
    todo = []
    for run in runs:
        done = finished(run)
        if done is not None:
            results[(run.variant.name, run.seed, run.fold)] = done
        else:
            todo.append(run)
    print(
        f"recipe.experiments: {len(variants)} variant(s) x {len(seeds)} seed(s): {len(runs)} runs, "
        f"{len(runs) - len(todo)} already finished, {len(todo)} to run"
    )
    n_labels = len(_load_dsd(args.data)["test"].features["label"].names)
    t0 = time.time()
    bar = tqdm(todo, desc="experiment", unit="run", file=sys.stdout, dynamic_ncols=True)
    for run in bar:
        bar.set_postfix_str(run.label)
        tqdm.write(f"recipe.experiments: [{len(results) + 1}/{len(runs)}] {run.label} -> {run.folder}")
        try:
            result = execute(run, args.config, args.launcher, args.keep_checkpoints)
        except (UserError, ValueError, FileNotFoundError) as err:
            raise RunInputError(f"{run.label}: {err}") from err
        results[(run.variant.name, run.seed, run.fold)] = result
        tqdm.write(
            f"recipe.experiments: {run.label}: test "
            + ", ".join(f"{m} {100 * result['test'][m]:.2f} %" for m in METRICS)
            + f" ({result['train_seconds']:.0f} s training)"
        )
        write_outputs(summarise(variants, results), out, command, n_labels)  # partial results stay readable
    bar.close()
    summary = summarise(variants, results)
    write_outputs(summary, out, command, n_labels)
    print(ablation.markdown_table(summary))
    print(
        f"recipe.experiments: {len(todo)} run(s) in {time.time() - t0:.0f} s; wrote {out / RESULTS_JSON}, "
        f"{out / RESULTS_MD}, {out / RESULTS_PNG}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
