"""Where the runs of an experiment execute: in this process one after another (``local``), as Ray tasks on a Ray
cluster (``ray``), or as Slurm jobs submitted with submitit (``slurm``).

One interface, ``submit(label, fn, *args) -> concurrent.futures.Future``, and one loop, `run_all`, that keeps at most
``max_parallel`` runs in flight and hands each result or error back as it arrives. Scheduling, resources and retries
are the engine's (Ray's scheduler, Slurm's queue); nothing here is a scheduler of its own. Ray workers and Slurm jobs
run ``fn`` in a fresh process, so every run reads its config, seed and data from the same files whichever executor
runs it. The run folders are written by the workers: with a remote Ray cluster or Slurm, OUT and the data must be on
a file system every node sees.

Options come from flags (``--executor ray --gpus_per_run 1``) or a YAML file (``--executor_config FILE`` with the
same names as keys); a flag given on the command line wins over the file.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from common.cli import UserError

EXECUTORS = ("local", "ray", "slurm")
REPO = Path(__file__).resolve().parents[2]
# Environment a run needs to see the same files and caches on a worker as here (Hub cache and offline switches).
FORWARDED_ENV = ("HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


class ExecutorError(UserError, ValueError):
    """Executor options that cannot be used; the message names the flag or the file and key."""


@dataclass
class ExecutorOptions:
    """How and where the runs execute (flags of `python -m recipe.experiments`, or keys of --executor_config)."""

    executor: str = field(default="local", metadata={"help": "local (one after another here), ray or slurm"})
    max_parallel: int | None = field(
        default=None, metadata={"help": "runs in flight at once (ray, slurm; default: as many as the engine takes)"}
    )
    cpus_per_run: int = field(default=1, metadata={"help": "CPU cores of each run (ray task, slurm cpus_per_task)"})
    gpus_per_run: float = field(default=0, metadata={"help": "GPUs of each run (ray num_gpus, slurm gpus_per_node)"})
    ray_address: str | None = field(
        default=None, metadata={"help": "address of a running Ray cluster (default: start a local one for the job)"}
    )
    ray_num_cpus: int | None = field(
        default=None, metadata={"help": "CPU cores of the local Ray cluster (default: all the host's cores)"}
    )
    slurm_partition: str | None = field(default=None, metadata={"help": "Slurm partition (default: the cluster's)"})
    slurm_time: int = field(default=360, metadata={"help": "time limit of each Slurm job in minutes"})
    slurm_mem_gb: int | None = field(default=None, metadata={"help": "memory of each Slurm job in GB"})
    slurm_cluster: str = field(
        default="slurm", metadata={"help": "submitit cluster: slurm, or local (jobs as local processes, for testing)"}
    )
    slurm_folder: str | None = field(
        default=None, metadata={"help": "where submitit keeps job scripts and logs (default OUT/slurm)"}
    )
    slurm_setup: list[str] = field(
        default_factory=list, metadata={"help": "shell lines each Slurm job runs first, e.g. 'module load cuda'"}
    )


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The executor flags; absent flags stay out of the namespace, so --executor_config values are not overridden."""
    group = ap.add_argument_group("executor")
    group.add_argument("--executor_config", default=None, help="YAML file of executor options (the flags below)")
    for f in dataclasses.fields(ExecutorOptions):
        kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "help": f.metadata["help"]}
        if f.name == "executor":
            kwargs["choices"] = EXECUTORS
        elif f.name == "slurm_setup":
            kwargs["nargs"] = "*"
        elif f.name in ("max_parallel", "cpus_per_run", "ray_num_cpus", "slurm_time", "slurm_mem_gb"):
            kwargs["type"] = int
        elif f.name == "gpus_per_run":
            kwargs["type"] = float
        group.add_argument(f"--{f.name}", **kwargs)


def options_from(args: argparse.Namespace) -> ExecutorOptions:
    """ExecutorOptions from the defaults, then --executor_config, then the flags given; checked."""
    values: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(ExecutorOptions)}
    path = getattr(args, "executor_config", None)
    if path:
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise ExecutorError(f"{path}: cannot read executor options ({err})") from None
        if not isinstance(raw, dict):
            raise ExecutorError(f"{path}: expected a mapping of executor options")
        for key, value in raw.items():
            if key not in names:
                raise ExecutorError(f"{path}: unknown executor option {key!r} (known: {', '.join(sorted(names))})")
            values[key] = value
    values.update({k: v for k, v in vars(args).items() if k in names})
    opts = ExecutorOptions(**values)
    check(opts, path)
    return opts


def check(opts: ExecutorOptions, source: str | None = None) -> None:
    """Reject values no executor can use, naming the option (and the file it may come from)."""
    where = f"{source}: " if source else ""
    if opts.executor not in EXECUTORS:
        raise ExecutorError(f"{where}executor must be one of {', '.join(EXECUTORS)}, got {opts.executor!r}")
    if opts.max_parallel is not None and opts.max_parallel < 1:
        raise ExecutorError(f"{where}max_parallel must be >= 1, got {opts.max_parallel}")
    if opts.executor == "local" and (opts.max_parallel or 1) > 1:
        raise ExecutorError(f"{where}max_parallel {opts.max_parallel}: the local executor runs one run at a time")
    if opts.cpus_per_run < 1 or opts.gpus_per_run < 0:
        raise ExecutorError(f"{where}cpus_per_run must be >= 1 and gpus_per_run >= 0")
    if opts.slurm_cluster not in ("slurm", "local", "debug"):
        raise ExecutorError(f"{where}slurm_cluster must be slurm, local or debug, got {opts.slurm_cluster!r}")
    if opts.slurm_time < 1:
        raise ExecutorError(f"{where}slurm_time must be >= 1 minute, got {opts.slurm_time}")


def describe(opts: ExecutorOptions) -> dict[str, Any]:
    """What ablation_results.json records about the executor: its name and the options that apply to it."""
    record: dict[str, Any] = {"name": opts.executor}
    if opts.executor == "local":
        return record
    record.update(max_parallel=opts.max_parallel, cpus_per_run=opts.cpus_per_run, gpus_per_run=opts.gpus_per_run)
    if opts.executor == "ray":
        record["ray_address"] = opts.ray_address or "local cluster"
    else:
        record.update(cluster=opts.slurm_cluster, partition=opts.slurm_partition, time_min=opts.slurm_time)
    return record


def record(opts: ExecutorOptions, results: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """ablation_results.json's `executor`: this call's executor (`describe`) and how many of the finished runs each
    executor ran (from their run_result.json; runs recorded before executors existed ran locally)."""
    counts: dict[str, int] = {}
    for result in results:
        name = result.get("executor", "local")
        counts[name] = counts.get(name, 0) + 1
    return {**describe(opts), "runs_by_executor": dict(sorted(counts.items()))}


@contextlib.contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore the previous values."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# ------------------------------------------------------------------------------------------ executors


class LocalExecutor:
    """Today's behaviour: each run in this process, one after another (submit returns a finished future)."""

    name = "local"

    def submit(self, label: str, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as err:  # handed back to run_all, which reports it like any executor's failure
            future.set_exception(err)
        return future

    def shutdown(self, cancel: bool = False) -> None:
        pass


def worker_env() -> dict[str, str]:
    """Environment for Ray workers and Slurm jobs: this checkout importable, and the Hub cache and offline switches."""
    path = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {"PYTHONPATH": path, **{k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}}


def _call(cwd: str, fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` on a worker, from the submitting process's folder (relative paths mean the same there)."""
    os.chdir(cwd)
    return fn(*args)


class RayExecutor:
    """Each run a Ray task with `cpus_per_run` CPUs and `gpus_per_run` GPUs, on the cluster at `ray_address` or on
    a local cluster started here (and stopped by `shutdown`). No automatic retry: a failed run is reported and runs
    again on the next call of the experiment."""

    name = "ray"

    def __init__(self, opts: ExecutorOptions, **init_kwargs: Any) -> None:
        import ray

        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            init_kwargs.setdefault("include_dashboard", False)
            init_kwargs.setdefault("runtime_env", {"env_vars": worker_env()})
            try:
                if opts.ray_address:
                    ray.init(address=opts.ray_address, **init_kwargs)
                else:
                    ray.init(num_cpus=opts.ray_num_cpus, **init_kwargs)
            except (ConnectionError, ValueError) as err:
                raise ExecutorError(f"--ray_address {opts.ray_address}: cannot connect to Ray ({err})") from None
            self._started = True
        self._task = ray.remote(num_cpus=opts.cpus_per_run, num_gpus=opts.gpus_per_run, max_retries=0)(_call)
        self._refs: list[Any] = []

    def submit(self, label: str, fn: Callable[..., Any], *args: Any) -> Future:
        ref = self._task.options(name=label).remote(os.getcwd(), fn, *args)
        self._refs.append(ref)
        return ref.future()

    def shutdown(self, cancel: bool = False) -> None:
        if cancel:
            for ref in self._refs:
                self._ray.cancel(ref, force=True)
        if self._started:
            self._ray.shutdown()


class SlurmExecutor:
    """Each run a Slurm job submitted with submitit's AutoExecutor (``slurm_cluster: local`` runs the same jobs as
    local processes). Jobs still queued or running when the experiment is interrupted are cancelled, so a later call
    never has two jobs writing one run folder."""

    name = "slurm"

    def __init__(self, opts: ExecutorOptions, out: Path) -> None:
        import submitit

        folder = Path(opts.slurm_folder) if opts.slurm_folder else out / "slurm"
        self._executor = submitit.AutoExecutor(folder=str(folder / "%j"), cluster=opts.slurm_cluster)
        params: dict[str, Any] = {
            "name": "ser-recipe",
            "timeout_min": opts.slurm_time,
            "cpus_per_task": opts.cpus_per_run,
            "gpus_per_node": int(opts.gpus_per_run),
            "slurm_partition": opts.slurm_partition,
            "mem_gb": opts.slurm_mem_gb,
            "slurm_setup": opts.slurm_setup or None,
        }
        self._executor.update_parameters(**{k: v for k, v in params.items() if v is not None})
        self._waiters = ThreadPoolExecutor(max_workers=64, thread_name_prefix="slurm-wait")
        self._jobs: list[Any] = []
        self._env = worker_env()

    def submit(self, label: str, fn: Callable[..., Any], *args: Any) -> Future:
        # the job's Python inherits this environment (sbatch --export=ALL, or the local cluster's subprocess)
        with environ(self._env):
            job = self._executor.submit(_call, os.getcwd(), fn, *args)
        self._jobs.append(job)
        print(f"recipe.experiments: {label}: job {job.job_id}, log {job.paths.stdout}", flush=True)
        return self._waiters.submit(job.result)

    def shutdown(self, cancel: bool = False) -> None:
        if cancel:
            for job in self._jobs:
                if not job.done():
                    job.cancel(check=False)
        self._waiters.shutdown(wait=not cancel, cancel_futures=cancel)


def create(opts: ExecutorOptions, out: Path) -> LocalExecutor | RayExecutor | SlurmExecutor:
    """The executor `opts` names (Ray and submitit are imported only when chosen)."""
    if opts.executor == "ray":
        return RayExecutor(opts)
    if opts.executor == "slurm":
        return SlurmExecutor(opts, out)
    return LocalExecutor()


# ------------------------------------------------------------------------------------------ the loop


@dataclass
class Task:
    """One run for an executor: a label for messages and the picklable call that performs it."""

    label: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]


def run_all(
    executor: LocalExecutor | RayExecutor | SlurmExecutor,
    tasks: Sequence[Task],
    max_parallel: int | None,
    on_submit: Callable[[int], None],
    on_done: Callable[[int, Any], None],
    on_failed: Callable[[int, BaseException], bool],
) -> None:
    """Submit `tasks` keeping at most `max_parallel` in flight (None: all at once); call `on_done(i, result)` or
    `on_failed(i, error)` as each finishes. `on_failed` returning True stops submitting (the runs in flight still
    finish). Interrupted (Ctrl-C), the runs in flight are cancelled before the interruption goes on."""
    limit = 1 if isinstance(executor, LocalExecutor) else max_parallel or len(tasks) or 1
    pending: dict[Future, int] = {}
    queue = list(range(len(tasks)))[::-1]
    stop = False
    try:
        while queue or pending:
            while queue and not stop and len(pending) < limit:
                i = queue.pop()
                on_submit(i)
                pending[executor.submit(tasks[i].label, tasks[i].fn, *tasks[i].args)] = i
            if not pending:
                break
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=pending.__getitem__):
                i = pending.pop(future)
                error = future.exception()
                if error is None:
                    on_done(i, future.result())
                else:
                    stop = on_failed(i, error) or stop
    except KeyboardInterrupt:
        print(f"recipe.experiments: interrupted; cancelling {len(pending)} run(s) in flight", file=sys.stderr)
        executor.shutdown(cancel=True)
        raise
