"""The prepare stage: corpora → utterances → decode → dedupe → splits → balanced train → DatasetDict."""
from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from data_prep.config import CorpusSpec, PrepareConfig
from data_prep.corpora import ScanResult, Skipped, Utterance, get_adapter
from data_prep.dataset import decode_to_dataset, split_datasets
from data_prep.decode import utterance_dicts
from data_prep.labels import EMOTIONS
from data_prep.report import summary, write_report
from data_prep.splits import (
    balance, class_counts, speaker_folds, speaker_overlap, split_by_speaker, split_by_utterance,
)

REASON_DUPLICATE_CONTENT = "duplicate content"
UNBALANCED_SPLIT = "train_unbalanced"   # with keep_unbalanced: the train split as split, before balancing
FOLDS_FILE = "folds.json"               # with folds >= 2: speaker -> fold for k-fold cross-validation


class NoCorpusError(RuntimeError):
    """None of the configured corpora is on disk; the message says what to download and where."""


def missing_corpora_message(specs: list[CorpusSpec]) -> str:
    """What to download and where to put it, for each configured corpus."""
    lines = ["No corpus found on disk. Download each corpus and unpack it at the path shown:"]
    for spec in specs:
        lines.append(f"  - {spec.name}: put it at {spec.path}\n      source: {get_adapter(spec.adapter).SOURCE}")
    if not specs:
        lines.append("  (no corpus configured: pass --corpus NAME=PATH, e.g. --corpus folder=outputs/demo/corpus)")
    lines.append("Or try the synthetic demo: python -m demo.corpus --output outputs/demo/corpus && "
                 "python -m data_prep --config configs/demo_data.yaml --corpus folder=outputs/demo/corpus")
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


def prepare(cfg: PrepareConfig, *, verbose: bool = True) -> dict[str, Any]:
    """Run the whole stage, write the DatasetDict and prepare_report.json to `cfg.output`, return the report.

    Raises NoCorpusError when no configured corpus exists on disk.
    """
    scans, missing = scan_corpora(cfg.corpora)
    if not scans:
        raise NoCorpusError(missing_corpora_message(cfg.corpora))
    for spec in missing:
        print(f"warning: corpus {spec.name} not found at {spec.path}; continuing without it", flush=True)
    candidates: list[Utterance] = [u for scan in scans.values() for u in scan.utterances]
    skipped: list[Skipped] = [s for scan in scans.values() for s in scan.skipped]

    output = Path(cfg.output)
    output.mkdir(parents=True, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".prepare-work-", dir=output)
    try:
        decoded = decode_to_dataset(utterance_dicts(candidates), work, sampling_rate=cfg.sampling_rate,
                                    max_duration=cfg.max_duration, min_duration=cfg.min_duration,
                                    workers=cfg.num_workers)
        meta = decoded.select_columns(["sha1", "error", "detail"]).to_dict()
        kept: list[int] = []
        first_of: dict[str, str] = {}
        for i, utt in enumerate(candidates):
            if meta["error"][i]:
                skipped.append(Skipped(utt.path, utt.corpus, meta["error"][i], meta["detail"][i]))
            elif meta["sha1"][i] in first_of:
                skipped.append(Skipped(utt.path, utt.corpus, REASON_DUPLICATE_CONTENT,
                                       f"same bytes as {first_of[meta['sha1'][i]]}"))
            else:
                first_of[meta["sha1"][i]] = utt.path
                kept.append(i)

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
        folds = fold_assignment(cfg, labels, speakers) if cfg.folds else None
        if cfg.folds and folds is None:
            print(f"warning: folds: {cfg.folds} folds need at least {cfg.folds} speakers, the data has "
                  f"{len(set(speakers))}; no {FOLDS_FILE} written", flush=True)
        dataset.save_to_disk(str(output))
        if folds is not None:
            (output / FOLDS_FILE).write_text(json.dumps(folds, indent=2, ensure_ascii=False) + "\n")
        elif (output / FOLDS_FILE).exists():
            (output / FOLDS_FILE).unlink()  # left by an earlier run with folds: it would not match this data
        report = build_report(cfg, scans, missing, candidates, kept, skipped, local, before_balancing)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_report(report, output)
    if verbose:
        print(summary(report))
        print(f"\nwrote {output} ({', '.join(f'{k} {len(v)}' for k, v in local.items())}) "
              f"and {output / 'prepare_report.json'}")
    return report


def fold_assignment(cfg: PrepareConfig, labels: list[str], speakers: list[str]) -> dict[str, Any] | None:
    """folds.json: every kept clip's speaker assigned to one of `cfg.folds` folds (whole speakers per fold),
    with the clips per class of each fold so the balance can be checked; None with fewer speakers than folds."""
    if len(set(speakers)) < cfg.folds:
        return None
    fold_of = speaker_folds(labels, speakers, cfg.folds, cfg.seed)
    per_fold = [class_counts([i for i, s in enumerate(speakers) if fold_of[s] == f], labels, EMOTIONS)
                for f in range(cfg.folds)]
    return {"k": cfg.folds, "by": "speaker", "seed": cfg.seed, "speakers": fold_of, "per_fold": per_fold}


def build_report(cfg: PrepareConfig, scans: dict[str, ScanResult], missing: list[CorpusSpec],
                 candidates: list[Utterance], kept: list[int], skipped: list[Skipped],
                 local: dict[str, list[int]], before_balancing: dict[str, int]) -> dict[str, Any]:
    """The prepare_report.json content (contract item 3); per corpus found == kept + sum(skipped)."""
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
            **({"missing": True} if spec in missing else {}),
        }
    return {
        "corpora": corpora,
        "splits": {name: class_counts(rows, labels, EMOTIONS) for name, rows in local.items()},
        "train_before_balancing": before_balancing,
        "skipped_files": [{"path": s.path, "corpus": s.corpus, "reason": s.reason, "detail": s.detail}
                          for s in skipped],
        "speaker_overlap": speaker_overlap(local, speakers),
        "settings": cfg.settings(),
    }
