"""Speaker normalisation: the same statistics in training and at inference.

The model (`config.speaker_norm`, recipe/modeling/modeling_ser.py `speaker_standardise`) standardises each clip's
pooled embedding by the mean and variance of the pooled embeddings of its speaker's clips that are given together:

* training: `SpeakerGroupedSampler` fills every batch with `clips_per_speaker` clips of each of a few speakers and
  the collator gives the model the batch's speaker ids, so each clip is normalised by its speaker's clips in the
  batch (and the running statistics of the training set are updated: the fallback below);
* evaluation (`recipe.evaluate`): every clip of a speaker of the split is embedded first, then normalised by that
  speaker's statistics over all of them (`grouped_probabilities`): the same estimator over more clips;
* `recipe.predict`: the files of one folder are one speaker (or `--speaker_regex` names the speaker in the path);
* one clip alone (`pipeline`, the app, a speaker with one file): the training set's running mean and variance
  (no speaker statistics exist for one clip: its own mean would erase it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from .inference import autocast, classify_waves, plan_batches


def speaker_codes(speakers: Sequence[str]) -> torch.Tensor:
    """Integer ids (first appearance order) for a batch's speaker names."""
    index: dict[str, int] = {}
    return torch.tensor([index.setdefault(str(s), len(index)) for s in speakers], dtype=torch.long)


class SpeakerGroupedSampler(Sampler[int]):
    """Training order whose consecutive `batch_size` indices hold `clips_per_speaker` clips of each of
    `batch_size // clips_per_speaker` speakers: each speaker's clips shuffled and cut into groups, the groups
    shuffled, seeded by (seed, epoch) so every process and a resumed run see the same order. A speaker's last
    group may be smaller (it then shares a batch with one more speaker)."""

    def __init__(self, speakers: Sequence[str], clips_per_speaker: int, seed: int) -> None:
        if clips_per_speaker < 2:
            raise ValueError(f"clips_per_speaker must be >= 2, got {clips_per_speaker}")
        self.rows: dict[str, list[int]] = {}
        for i, speaker in enumerate(speakers):
            self.rows.setdefault(str(speaker), []).append(i)
        self.clips_per_speaker = int(clips_per_speaker)
        self.seed = int(seed)
        self.epoch = 0
        self.n = len(speakers)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def order(self) -> list[int]:
        rng = np.random.default_rng([self.seed, self.epoch, 3])
        groups: list[list[int]] = []
        for speaker in sorted(self.rows):
            rows = [self.rows[speaker][j] for j in rng.permutation(len(self.rows[speaker]))]
            groups += [rows[k : k + self.clips_per_speaker] for k in range(0, len(rows), self.clips_per_speaker)]
        return [i for j in rng.permutation(len(groups)) for i in groups[j]]

    def __iter__(self):
        return iter(self.order())


def speaker_sorted_order(speakers: Sequence[str], lengths: Sequence[int]) -> list[int]:
    """Evaluation order during training: speaker by speaker (longest clip first within one), so each evaluation
    batch holds as few speakers as possible and their clips normalise each other."""
    return sorted(range(len(speakers)), key=lambda i: (str(speakers[i]), -int(lengths[i])))


def groups_from_paths(paths: Sequence[str | Path], speaker_regex: str | None = None) -> list[str]:
    """The speaker of each file: the `speaker` group (or the first group) of `speaker_regex` searched in the path,
    else the parent folder. A path the regex does not match is its own speaker (the single-clip fallback)."""
    pattern = re.compile(speaker_regex) if speaker_regex else None
    out = []
    for path in paths:
        text = Path(path).as_posix()
        if pattern is None:
            out.append(str(Path(path).resolve().parent))
            continue
        match = pattern.search(text)
        if match is None:
            out.append(f"\0{text}")
        else:
            out.append(
                match.group("speaker") if "speaker" in pattern.groupindex else match.group(1 if match.re.groups else 0)
            )
    return out


@torch.inference_mode()
def grouped_probabilities(
    model: Any,
    extractor: Any,
    waves: Sequence[np.ndarray],
    speakers: Sequence[str],
    batch_size: int = 8,
    dtype: str = "fp32",
) -> np.ndarray:
    """Class probabilities (N, num_labels) with each clip normalised by the statistics of all clips of its
    speaker in `waves` (rows in the order of `waves`). Embeddings are computed in `plan_batches` batches, so a
    clip's embedding does not depend on its batch mates; then each speaker's clips go through the head together.
    An ensemble (`SEREnsembleForAudioClassification`) averages its members' probabilities, each member computed
    this way when it normalises by speaker, else clip by clip."""
    if hasattr(model, "members"):
        member_probs = [
            grouped_probabilities(member, extractor, waves, speakers, batch_size, dtype)
            if uses_speaker_norm(member)
            else classify_waves(member, extractor, waves, batch_size=batch_size, dtype=dtype)
            for member in model.members
        ]
        return np.mean(member_probs, axis=0).astype(np.float32)
    device = next(model.parameters()).device
    model.eval()
    pooled = torch.zeros(len(waves), model.config.hidden_size)
    for idx in plan_batches([len(w) for w in waves], batch_size, extractor):
        inputs = extractor([waves[i] for i in idx], sampling_rate=extractor.sampling_rate, return_tensors="pt")
        inputs = {key: value.to(device) for key, value in inputs.items()}
        with autocast(device, dtype):
            embedded, _ = model.pooled_embeddings(inputs["input_values"], inputs.get("attention_mask"))
        pooled[torch.as_tensor(idx)] = embedded.float().cpu()
    probs = np.zeros((len(waves), model.config.num_labels), dtype=np.float32)
    names = np.asarray([str(s) for s in speakers])
    for speaker in dict.fromkeys(names.tolist()):
        rows = np.flatnonzero(names == speaker)
        group = pooled[torch.as_tensor(rows)].to(device)
        logits = model.logits_from_pooled(group, torch.zeros(len(rows), dtype=torch.long, device=device))
        probs[rows] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    return probs


def uses_speaker_norm(model: Any) -> bool:
    """Whether `model` normalises by speaker (our SER model with `config.speaker_norm`, or an ensemble with such a
    member)."""
    if hasattr(model, "members"):
        return any(uses_speaker_norm(member) for member in model.members)
    return bool(getattr(getattr(model, "config", None), "speaker_norm", False)) and hasattr(model, "pooled_embeddings")


def standardise_features_by_speaker(
    features: np.ndarray,
    speakers: Sequence[str],
    keys: Sequence[str],
    fallback_mean: np.ndarray,
    fallback_std: np.ndarray,
    eps: float = 1e-8,
) -> np.ndarray:
    """Per-speaker z-normalisation of clip features (n, d), the classical baseline's speaker_norm: each speaker's
    mean and standard deviation over its distinct clips (`keys`, e.g. paths: balancing's copies count once);
    a speaker with a single distinct clip uses `fallback_mean` / `fallback_std` (the training set's)."""
    out = (features - fallback_mean) / (fallback_std + eps)
    names = np.asarray([str(s) for s in speakers])
    for speaker in dict.fromkeys(names.tolist()):
        rows = np.flatnonzero(names == speaker)
        distinct = list({str(keys[i]): i for i in rows}.values())
        if len(distinct) < 2:
            continue
        mean = features[distinct].mean(axis=0)
        std = features[distinct].std(axis=0)
        out[rows] = (features[rows] - mean) / (std + eps)
    return out
