"""Search the recipe's hyperparameters with `Trainer.hyperparameter_search` (optuna by default, Ray Tune as an option).

    python -m recipe.search --config CONFIG --data DIR --output OUT [--space configs/search.yaml] [--n_trials 20]
        [--backend optuna|ray] [--keep_checkpoints] [--section.key value ...]

The space (recipe.components.search_space) maps config keys to distributions: learning rate, mixup alpha, frozen
epochs, head dropout, pooling, ... Each trial is the recipe's own training run (the config with the trial's values,
checked by the config parser) in OUT/trials/trial-N; its objective is the best validation
``training.metric_for_best_model`` of the run (the checkpoint it keeps), maximised or minimised per
``training.greater_is_better``. OUT receives search_results.json (every trial: parameters, state, objective; and
``best``) and best_config.yaml, the config with the best trial's values, ready for
``python -m recipe.train --config OUT/best_config.yaml --output_dir MODEL``.

With optuna the study lives in OUT/search.db (SQLite): a second call with the same OUT continues it up to
``--n_trials`` finished trials; a trial interrupted by a crash is marked failed and not counted. Ray Tune trials run
as Ray tasks on a local Ray cluster (or the one at RAY_ADDRESS); that backend does not resume.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from common.atomic import output_lock
from common.cli import run_cli
from common.config import CliParser
from common.outputs import SEARCH, check_disjoint, check_replaceable, write_marker
from data_prep.dataset import load_prepared

from .components import search_space
from .components.ablation import as_cli_overrides
from .components.assembly import build_callbacks, freeze_callback
from .components.callbacks import FreezeEncoderCallback, TrainAccuracyCallback
from .components.collator import AudioClassificationCollator
from .components.config import ConfigError, RecipeConfig, build_training_arguments, load_config
from .components.metrics import compute_metrics
from .components.model_io import build_model, model_view
from .components.search_space import Param, SearchSpaceError
from .components.trainer import SERTrainer

DEFAULT_SPACE = Path(__file__).resolve().parents[1] / "configs" / "search.yaml"
RESULTS_JSON = "search_results.json"
BEST_CONFIG = "best_config.yaml"
STUDY_DB = "search.db"
STUDY_NAME = "recipe-search"
TRIALS_DIR = "trials"


class SearchTrainer(SERTrainer):
    """SERTrainer whose `model_init` step first turns the trial into a full recipe config: training values onto the
    Trainer's arguments, mixup / label smoothing / frozen epochs onto the trainer and its callback, model values into
    the model built for the trial."""

    def __init__(self, *args: Any, base: tuple[str, list[str]], params: list[Param], **kwargs: Any) -> None:
        self.base, self.params = base, params
        self.freeze_cb: FreezeEncoderCallback | None = None
        super().__init__(*args, **kwargs)

    def trial_values(self, trial: Any) -> dict[str, Any]:
        """The trial's value of every searched key (none outside a search)."""
        if trial is None:
            return {}
        if isinstance(trial, dict):  # Ray Tune hands the sampled config itself
            return {p.name: trial[p.name] for p in self.params}
        return search_space.suggest(trial, self.params)

    def call_model_init(self, trial: Any = None):
        values = self.trial_values(trial)
        cfg = load_config(self.base[0], self.base[1] + as_cli_overrides(values))
        for key, value in search_space.training_values(values).items():
            old = getattr(self.args, key, None)
            setattr(self.args, key, type(old)(value) if old is not None else value)
        self.mixup_alpha, self.label_smoothing = cfg.recipe.mixup_alpha, cfg.recipe.label_smoothing
        if self.freeze_cb is not None:
            self.freeze_cb.freeze_epochs, self.freeze_cb.unfreeze_epoch = cfg.recipe.freeze_encoder_epochs, None
        return self.model_init(cfg)


class TrialEndCallback(TrainerCallback):
    """At the end of each trial: its objective is the best evaluation of the run (the model it keeps, not merely
    the last evaluation), and its checkpoints are removed unless kept."""

    def __init__(self, trainer: SearchTrainer, keep_checkpoints: bool) -> None:
        self.trainer, self.keep_checkpoints = trainer, keep_checkpoints

    def on_train_end(self, args, state, control, **kwargs):
        if state.best_metric is not None:
            self.trainer.objective = float(state.best_metric)
        if not self.keep_checkpoints:
            for ckpt in Path(args.output_dir).glob("*/checkpoint-*"):
                shutil.rmtree(ckpt, ignore_errors=True)


def build_search_trainer(
    cfg: RecipeConfig, base: tuple[str, list[str]], params: list[Param], out: Path, keep_checkpoints: bool
) -> SearchTrainer:
    """A SearchTrainer over the prepared splits of `cfg`, with the recipe's callbacks, writing trials into OUT."""
    metric = cfg.training.get("metric_for_best_model")
    if not metric:
        raise ConfigError("training.metric_for_best_model: the search needs the metric it optimises")
    training_args = build_training_arguments(cfg, output_dir=str(out / TRIALS_DIR))
    data = cfg.data
    dsd = load_prepared(data.dataset_dir, (data.train_split, data.eval_split))
    id2label = dict(enumerate(dsd[data.train_split].features["label"].names))
    need_length = training_args.train_sampling_strategy in ("group_by_length", "batch_rebalance")
    _, feature_extractor = build_model(cfg, id2label)  # the same extractor for every trial (max_duration fixed)
    trainer = SearchTrainer(
        model_init=lambda trial_cfg=None: build_model(trial_cfg or cfg, id2label)[0],
        args=training_args,
        train_dataset=model_view(dsd[data.train_split], need_length),
        eval_dataset=model_view(dsd[data.eval_split], need_length),
        data_collator=AudioClassificationCollator(
            feature_extractor, naive_padding=data.naive_padding, pad_to_multiple_of=data.pad_to_multiple_of
        ),
        processing_class=feature_extractor,
        compute_metrics=compute_metrics,
        callbacks=build_callbacks(cfg),
        mixup_alpha=cfg.recipe.mixup_alpha,
        label_smoothing=cfg.recipe.label_smoothing,
        base=base,
        params=params,
    )
    trainer.freeze_cb = freeze_callback(trainer)
    if cfg.recipe.log_train_accuracy:
        trainer.add_callback(TrainAccuracyCallback(trainer))
    trainer.add_callback(TrialEndCallback(trainer, keep_checkpoints))
    return trainer


def objective_of(cfg: RecipeConfig) -> tuple[str, str]:
    """The evaluation metric the search optimises and its direction, from the config's best-model selection."""
    metric = str(cfg.training["metric_for_best_model"])
    metric = metric if metric.startswith("eval_") else f"eval_{metric}"
    return metric, "maximize" if cfg.training.get("greater_is_better", True) else "minimize"


def search_optuna(trainer: SearchTrainer, out: Path, n_trials: int, direction: str, seed: int) -> list[dict]:
    """Run (or continue) the optuna study in OUT/search.db up to `n_trials` finished trials; every trial's record."""
    import optuna
    from optuna.trial import TrialState

    storage = f"sqlite:///{(out / STUDY_DB).resolve()}"
    study = optuna.create_study(study_name=STUDY_NAME, storage=storage, direction=direction, load_if_exists=True)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        print(f"recipe.search: trial {t.number} was interrupted; marked failed")
        study.tell(t.number, state=TrialState.FAIL)
    finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
    print(f"recipe.search: {finished} of {n_trials} trial(s) already finished in {out / STUDY_DB}")
    if finished < n_trials:
        trainer.hyperparameter_search(
            hp_space=lambda trial: {},  # call_model_init has sampled and applied the trial's values
            compute_objective=lambda metrics: metrics[trainer.objective_metric],
            n_trials=n_trials - finished,
            direction=direction,
            backend="optuna",
            hp_name=lambda trial: f"trial-{trial.number}",
            study_name=STUDY_NAME,
            storage=storage,
            load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=seed + finished),
            catch=(ConfigError,),
        )
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage)
    return [
        {
            "number": t.number,
            "state": t.state.name,
            "params": t.params,
            "objective": t.value,
            "output_dir": str(out / TRIALS_DIR / f"trial-{t.number}"),
        }
        for t in study.trials
    ]


def search_ray(trainer: SearchTrainer, params: list[Param], n_trials: int, direction: str) -> list[dict]:
    """One Ray Tune run of `n_trials` trials (each a Ray task); every trial's record."""
    import os

    import ray

    from .components.executors import worker_env

    os.environ.setdefault("RAY_SCOPE", "all")  # the best evaluation of each trial, as with optuna
    started = not ray.is_initialized()
    if started:
        ray.init(include_dashboard=False, runtime_env={"env_vars": worker_env()})
    # Ray pickles the trainer into each trial; Trainer drops `model` for that but not the other references to the
    # same module (`model_wrapped`, the callback handler's), whose weight-norm parametrization does not pickle.
    # Every trial builds its own model anyway.
    trainer.model_wrapped = trainer.callback_handler.model = None
    best = trainer.hyperparameter_search(
        hp_space=lambda _: search_space.ray_space(params),
        compute_objective=lambda metrics: metrics[trainer.objective_metric],
        n_trials=n_trials,
        direction=direction,
        backend="ray",
        storage_path=str(Path(trainer.args.output_dir).resolve()),
    )
    if started:
        ray.shutdown()
    mode = "max" if direction == "maximize" else "min"
    return [
        {
            "number": i,
            "state": "COMPLETE" if t.status == "TERMINATED" else t.status,
            "params": {p.name: t.config[p.name] for p in params},
            "objective": (t.metric_analysis.get("objective") or {}).get(mode),
            "output_dir": t.path,
        }
        for i, t in enumerate(best.run_summary.trials)
    ]


def write_results(out: Path, trials: list[dict], cfg_argv: tuple[str, list[str]], meta: dict[str, Any]) -> dict:
    """search_results.json and best_config.yaml (the config with the best finished trial's values)."""
    done = [t for t in trials if t["state"] == "COMPLETE" and t["objective"] is not None]
    pick = max if meta["direction"] == "maximize" else min
    best = pick(done, key=lambda t: t["objective"]) if done else None
    results = {**meta, "trials": trials, "best": best}
    if best is not None:
        cfg = load_config(cfg_argv[0], cfg_argv[1] + as_cli_overrides(best["params"]))
        header = (
            f"# Best of {len(done)} finished trial(s) of `python -m recipe.search` in {out}: trial {best['number']}, "
            f"{meta['metric']} {best['objective']:.4f}.\n"
            f"# python -m recipe.train --config {out / BEST_CONFIG} --output_dir MODEL\n"
        )
        (out / BEST_CONFIG).write_text(header + cfg.to_yaml())
        results["best"] = {**best, "config": str(out / BEST_CONFIG)}
    (out / RESULTS_JSON).write_text(json.dumps(results, indent=2) + "\n")
    return results


def parse_args(argv: list[str]) -> tuple[Any, list[str]]:
    ap = CliParser(prog="python -m recipe.search", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="recipe YAML config the trials start from")
    ap.add_argument("--data", required=True, help="prepared DatasetDict folder (data_prep --output)")
    ap.add_argument("--output", required=True, help="search folder OUT (trials, study, results)")
    ap.add_argument("--space", default=str(DEFAULT_SPACE), help="search space YAML (default configs/search.yaml)")
    ap.add_argument("--n_trials", type=int, default=20, help="finished trials to reach (default 20)")
    ap.add_argument("--backend", choices=("optuna", "ray"), default="optuna", help="search backend (default optuna)")
    ap.add_argument("--keep_checkpoints", action="store_true", help="keep each trial's checkpoint-* folders")
    return ap.parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: one line and exit 2 for bad input."""
    argv = sys.argv[1:] if argv is None else list(argv)

    def search() -> int:
        args, extra = parse_args(argv)
        check_disjoint(args.output, [("--data", args.data)])  # trials and the study never go into the dataset
        if args.n_trials < 1:
            raise ConfigError(f"--n_trials must be >= 1, got {args.n_trials}")
        params = search_space.load_space(args.space)
        if args.backend == "ray":  # Ray Tune runs each trial in a folder of its own: relative paths would break
            paths = (args.config, args.data, args.output)
            args.config, args.data, args.output = (str(Path(f).resolve()) for f in paths)
        base = (args.config, [*extra, "--data", args.data])
        cfg = load_config(*base)
        for p in params:  # every key checked by the config parser before any trial starts
            try:
                load_config(base[0], base[1] + as_cli_overrides({p.name: p.example()}))
            except ConfigError as err:
                raise SearchSpaceError(f"{args.space}: {p.name}: {err}") from None
        out = Path(args.output)
        # OUT is reused to continue its study, so it may be only empty or a search of the recipe's
        check_replaceable(out, SEARCH, overwrite=True, flag="--output")
        with output_lock(out):  # one search per OUT: a second exits 2 naming the holder
            trainer = build_search_trainer(cfg, base, params, out, args.keep_checkpoints)  # checks the data first
            out.mkdir(parents=True, exist_ok=True)
            write_marker(out, SEARCH)
            return _run_search(args, argv, trainer, params, base, cfg, out)

    return run_cli("recipe.search", search)


def _run_search(args, argv: list[str], trainer, params, base, cfg, out: Path) -> int:
    """The study (optuna or ray) in OUT, then search_results.json and best_config.yaml."""
    metric, direction = objective_of(cfg)
    trainer.objective_metric = metric
    seed = int(cfg.training.get("seed", 42))
    if args.backend == "optuna":
        trials = search_optuna(trainer, out, args.n_trials, direction, seed)
    else:
        trials = search_ray(trainer, params, args.n_trials, direction)
    meta = {
        "backend": args.backend,
        "metric": metric,
        "direction": direction,
        "n_trials": args.n_trials,
        "space": {
            p.name: {k: v for k, v in vars(p).items() if k != "name" and v not in (None, (), False)} for p in params
        },
        "command": "python -m recipe.search " + " ".join(shlex.quote(a) for a in argv),
    }
    results = write_results(out, trials, base, meta)
    best = results["best"]
    print(
        f"recipe.search: {sum(t['state'] == 'COMPLETE' for t in trials)} finished trial(s); "
        + (f"best trial {best['number']}: {metric} {best['objective']:.4f} {best['params']}" if best else "none")
    )
    print(f"recipe.search: wrote {out / RESULTS_JSON}" + (f" and {out / BEST_CONFIG}" if best else ""))
    return 0 if best else 1


if __name__ == "__main__":
    sys.exit(main())
