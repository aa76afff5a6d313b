"""Batch collation: feature extraction per clip, then zero padding per batch (or to max_duration, as the seed did)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import BatchFeature

from ..modeling.feature_extraction_ser import SERFeatureExtractor
from .speaker_norm import speaker_codes


@dataclass
class AudioClassificationCollator:
    """Turn dataset rows ``{"audio": float32 array, "label": int}`` into model inputs.

    Each clip is centre-cropped and normalised on its own by `SERFeatureExtractor` (so its statistics do
    not depend on what else is in the batch, exactly as at inference time), then the batch is padded with
    zeros to its longest clip (``naive_padding=False``) or to ``max_duration`` (``naive_padding=True``,
    the seed recipe's behaviour). ``attention_mask`` is returned only when the feature extractor says the
    encoder wants one (layer-norm encoders); group-norm encoders get zero padding and no mask.
    """

    feature_extractor: SERFeatureExtractor
    naive_padding: bool = False
    pad_to_multiple_of: int | None = None
    audio_column: str = "audio"
    label_column: str = "label"
    return_lengths: bool = False  # add "lengths" (samples per clip after cropping): training-time augmentation
    speaker_column: str | None = None  # set for speaker normalisation: the batch's speaker ids go to the model

    def __call__(self, rows: list[dict[str, Any]]) -> BatchFeature:
        if not rows:
            raise ValueError("AudioClassificationCollator: empty batch")
        waves = []
        for row in rows:
            wave = np.asarray(row[self.audio_column], dtype=np.float32)
            if wave.ndim != 1 or wave.size == 0:
                raise ValueError(
                    f"AudioClassificationCollator: '{self.audio_column}' must be a non-empty 1-D array, "
                    f"got shape {wave.shape} (row path: {row.get('path', '?')})"
                )
            waves.append(wave)
        batch = self.pad_waves(waves)
        if self.label_column in rows[0]:
            batch["labels"] = torch.tensor([int(row[self.label_column]) for row in rows], dtype=torch.long)
        if self.speaker_column is not None:
            batch["speaker_ids"] = speaker_codes([row[self.speaker_column] for row in rows])
        return batch

    def pad_waves(self, waves: list[np.ndarray]) -> BatchFeature:
        """Crop, normalise and pad 1-D float32 clips into ``input_values`` [+ ``attention_mask``, ``lengths``]."""
        fe = self.feature_extractor
        max_length = None
        padding: str = "longest"
        if self.naive_padding:
            if fe.max_samples is None:
                raise ValueError("naive_padding needs a feature extractor with max_duration set")
            padding, max_length = "max_length", fe.max_samples
        # SERFeatureExtractor crops and normalises every clip on its own before padding with zeros.
        batch = fe(
            waves,
            sampling_rate=fe.sampling_rate,
            padding=padding,
            max_length=max_length,
            pad_to_multiple_of=None if self.naive_padding else self.pad_to_multiple_of,
            return_attention_mask=bool(fe.return_attention_mask),
            return_tensors="pt",
        )
        batch["input_values"] = batch["input_values"].to(torch.float32)
        if "attention_mask" in batch:
            batch["attention_mask"] = batch["attention_mask"].to(torch.long)
        if self.return_lengths:
            cap = fe.max_samples
            batch["lengths"] = torch.tensor([len(w) if cap is None else min(len(w), cap) for w in waves])
        return batch
