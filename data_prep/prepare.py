"""The prepare stage: corpora → utterances → decode → dedupe → splits → balanced train → DatasetDict."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from common.atomic import atomic_output, work_dir
from common.cli import UserError
from common.names import display_path, is_lossless_text, raw_name_b64
from data_prep.config import CorpusSpec, PrepareConfig
from data_prep.corpora import ScanResult, Skipped, Utterance, get_adapter
from data_prep.dataset import decode_to_dataset, split_datasets
from data_prep.decode import utterance_dicts
from data_prep.labels import EMOTIONS
from data_prep.report import summary, write_report
from data_prep.splits import (
    balance,
    class_counts,
    speaker_folds,
    speaker_overlap,
    split_by_speaker,
    split_by_utterance,
)

REASON_DUPLICATE_CONTENT = "duplicate content"
UNBALANCED_SPLIT = "train_unbalanced"  # with keep_unbalanced: the train split as split, before balancing
FOLDS_FILE = "folds.json"  # with folds >= 2: speaker -> fold for k-fold cross-validation


class NoCorpusError(UserError, RuntimeError):
    """None of the configured corpora is on disk; the message says what to download and where."""


class NothingUsableError(UserError, RuntimeError):
    """The corpora are on disk but no clip could be kept; the message gives the skip reasons and what to fix."""


def missing_corpora_message(specs: list[CorpusSpec]) -> str:
    """What to download and where to put it, for each configured corpus."""
    lines = ["No corpus found on disk. Download each corpus and unpack it at the path shown:"]
    for spec in specs:
        lines.append(f"  - {spec.name}: put it at {spec.path}\n      source: {get_adapter(spec.adapter).SOURCE}")
    if not specs:
        lines.append("  (no corpus configured: pass --corpus NAME=PATH, e.g. --corpus folder=outputs/demo/corpus)")
    lines.append(
        "Or try the synthetic demo: python -m demo.corpus --output outputs/demo/corpus && "
        "python -m data_prep --config configs/demo_data.yaml --corpus folder=outputs/demo/corpus"
    )
    return "\n".join(lines)


def scan_corpora(specs: list[CorpusSpec]) -> tuple[dict[str, ScanResult], list[CorpusSpec]]:
    """Run each present corpus's adapter; return the scans and the specs whose path does not exist."""
    scans: dict[str, ScanResult] = {}
    missing: list[CorpusSpec] = []
    for spec in specs:
        if not Path(spec.path).exists():
            missing.append(spec)
            continue
        scans[spec.name] = get_adapter(spec.adapter).scan(spec.path, corpus=spec.name, **spec.options)
    return scans, missing


def nothing_usable_message(scans: dict[str, ScanResult], skipped: list[Skipped]) -> str:
    """Why no clip was kept, corpus by corpus, and the usual fixes."""
    lines = ["No usable clip in the corpora, so no dataset was written:"]
    for name, scan in scans.items():
        reasons = Counter(s.reason for s in skipped if s.corpus == name)
        detail = ", ".join(f"{reason} {n}" for reason, n in reasons.most_common()) or "no files"
        lines.append(f"  - {name}: found {scan.found}, skipped: {detail}")
    lines.append(
        "Check that each path points at the corpus folder itself (e.g. the one holding <emotion>/ or "
        "Actor_XX/ folders) and that the adapter matches the layout (skip reasons above)."
    )
    return "\n".join(lines)


def prepare(cfg: PrepareConfig, *, verbose: bool = True, overwrite: bool = False) -> dict[str, Any]:
    """Run the whole stage and write the DatasetDict and prepare_report.json to `cfg.output`, atomically (built in
    a hidden sibling folder, renamed into place, under a lock); return the report.

    Raises OutputError when the output exists and `overwrite` is off or another run writes it, NoCorpusError when
    no configured corpus exists on disk, NothingUsableError when no clip can be kept.
    """
    with atomic_output(cfg.output, overwrite=overwrite) as staging:
        scans, missing = scan_corpora(cfg.corpora)
        if not scans:
            raise NoCorpusError(missing_corpora_message(cfg.corpora))
        for spec in missing:
            print(
                f"warning: corpus {spec.name} not found at {display_path(spec.path)}; continuing without it", flush=True
            )
        for name, scan in scans.items():
            for note in scan.notes:
                print(f"note: {name}: {display_path(note)}", flush=True)
        work = work_dir(cfg.output)
        try:
            report, sizes = _build(cfg, scans, missing, staging, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if verbose:
        print(summary(report))
        report_path = display_path(Path(cfg.output) / "prepare_report.json")
        print(f"\nwrote {display_path(cfg.output)} ({sizes}) and {report_path}")
    return report


def _build(
    cfg: PrepareConfig, scans: dict[str, ScanResult], missing: list[CorpusSpec], staging: Path, work: Path
) -> tuple[dict[str, Any], str]:
    """Decode, deduplicate, split and balance; save the DatasetDict and report into `staging`."""
    candidates: list[Utterance] = [u for scan in scans.values() for u in scan.utterances]
    skipped: list[Skipped] = [s for scan in scans.values() for s in scan.skipped]
    decoded = decode_to_dataset(
        utterance_dicts(candidates),
        work,
        sampling_rate=cfg.sampling_rate,
        max_duration=cfg.max_duration,
        min_duration=cfg.min_duration,
        workers=cfg.num_workers,
    )
    meta = decoded.select_columns(["sha1", "error", "detail"]).to_dict()
    kept: list[int] = []
    first_of: dict[str, str] = {}
    for i, utt in enumerate(candidates):
        if meta["error"][i]:
            skipped.append(Skipped(utt.path, utt.corpus, meta["error"][i], meta["detail"][i]))
        elif meta["sha1"][i] in first_of:
            skipped.append(
                Skipped(utt.path, utt.corpus, REASON_DUPLICATE_CONTENT, f"same bytes as {first_of[meta['sha1'][i]]}")
            )
        else:
            first_of[meta["sha1"][i]] = utt.path
            kept.append(i)
    if not kept:
        raise NothingUsableError(nothing_usable_message(scans, skipped))

    labels = [candidates[i].label for i in kept]
    corpora = [candidates[i].corpus for i in kept]
    speakers = [candidates[i].speaker for i in kept]
    if cfg.split_by == "speaker":
        local = split_by_speaker(labels, corpora, speakers, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    else:
        local = split_by_utterance(labels, corpora, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    before_balancing = class_counts(local["train"], labels, EMOTIONS)
    unbalanced = list(local["train"])
    local["train"] = balance(local["train"], labels, cfg.per_class, cfg.seed)

    saved = dict(local)
    if cfg.keep_unbalanced:
        saved[UNBALANCED_SPLIT] = unbalanced
    dataset = split_datasets(decoded, {name: [kept[j] for j in rows] for name, rows in saved.items()})
    # An empty split saved with the default sharding has no Arrow file and load_from_disk fails on it; one shard
    # gives a loadable 0-row split.
    dataset.save_to_disk(str(staging), num_shards={name: 1 for name, ds in dataset.items() if len(ds) == 0})
    folds = fold_assignment(cfg, labels, speakers) if cfg.folds else None
    if cfg.folds and folds is None:
        print(
            f"warning: folds: {cfg.folds} folds need at least {cfg.folds} speakers, the data has "
            f"{len(set(speakers))}; no {FOLDS_FILE} written",
            flush=True,
        )
    if folds is not None:
        (staging / FOLDS_FILE).write_text(json.dumps(folds, indent=2, ensure_ascii=False) + "\n")
    report = build_report(cfg, scans, missing, candidates, kept, skipped, local, before_balancing)
    write_report(report, staging)
    return report, ", ".join(f"{k} {len(v)}" for k, v in local.items())


def fold_assignment(cfg: PrepareConfig, labels: list[str], speakers: list[str]) -> dict[str, Any] | None:
    """folds.json: every kept clip's speaker assigned to one of `cfg.folds` folds (whole speakers per fold),
    with the clips per class of each fold so the balance can be checked; None with fewer speakers than folds."""
    if len(set(speakers)) < cfg.folds:
        return None
    fold_of = speaker_folds(labels, speakers, cfg.folds, cfg.seed)
    per_fold = [
        class_counts([i for i, s in enumerate(speakers) if fold_of[s] == f], labels, EMOTIONS) for f in range(cfg.folds)
    ]
    return {"k": cfg.folds, "by": "speaker", "seed": cfg.seed, "speakers": fold_of, "per_fold": per_fold}


def build_report(
    cfg: PrepareConfig,
    scans: dict[str, ScanResult],
    missing: list[CorpusSpec],
    candidates: list[Utterance],
    kept: list[int],
    skipped: list[Skipped],
    local: dict[str, list[int]],
    before_balancing: dict[str, int],
) -> dict[str, Any]:
    """The prepare_report.json content (docs/data.md); per corpus found == kept + sum(skipped)."""
    labels = [candidates[i].label for i in kept]
    speakers = [candidates[i].speaker for i in kept]
    kept_by_corpus = Counter((candidates[i].corpus, candidates[i].label) for i in kept)
    corpora: dict[str, Any] = {}
    for spec in cfg.corpora:
        per_class = {c: kept_by_corpus.get((spec.name, c), 0) for c in EMOTIONS}
        reasons = Counter(s.reason for s in skipped if s.corpus == spec.name)
        corpora[spec.name] = {
            "found": scans[spec.name].found if spec.name in scans else 0,
            "kept": sum(per_class.values()),
            "skipped": dict(sorted(reasons.items())),
            "language": spec.language,
            "per_class": per_class,
            "adapter": spec.adapter,
            "path": spec.path,
            **({"notes": scans[spec.name].notes} if spec.name in scans and scans[spec.name].notes else {}),
            **({"missing": True} if spec in missing else {}),
        }
    return {
        "corpora": corpora,
        "splits": {name: class_counts(rows, labels, EMOTIONS) for name, rows in local.items()},
        "train_before_balancing": before_balancing,
        "skipped_files": [
            {"path": s.path, "corpus": s.corpus, "reason": s.reason, "detail": s.detail} for s in skipped
        ],
        "non_utf8_names": non_utf8_names([*(candidates[i].path for i in kept), *(s.path for s in skipped)]),
        "speaker_overlap": speaker_overlap(local, speakers),
        "settings": cfg.settings(),
    }


def non_utf8_names(paths: list[str]) -> list[dict[str, str]]:
    """Each path whose name is not valid UTF-8: as stored (`\\xNN` escapes) and its exact bytes in base64."""
    return [{"path": display_path(p), "bytes_b64": raw_name_b64(p)} for p in paths if not is_lossless_text(p)]
