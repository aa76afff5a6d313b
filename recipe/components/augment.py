"""On-the-fly waveform augmentation of training batches, with a probability per class.

Two augmentations, done by audiomentations (numpy, no torch of its own):

* speed perturbation: the clip resampled by a factor drawn from ``speed_factors`` (Kaldi's 0.9 / 1.0 / 1.1), so
  tempo and pitch change together (`Resample` to ``sampling_rate / factor``, read back at ``sampling_rate``);
* additive Gaussian noise at an SNR drawn uniformly in dB from ``noise_snr_db`` (`AddGaussianSNR`).

Each is applied to a training clip with the probability its class is given (``{default: p, fear: q, ...}``), so the
rare or hard classes can get more variety without copies. Validation and test batches are never touched.

Exact resume: every batch's draws come from one seed that `SERTrainer` takes from torch's global generator, which
the Trainer saves in each checkpoint (mixup draws the same way). audiomentations draws from Python's and numpy's
global generators, so they are seeded from that seed for the batch and restored afterwards.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

DEFAULT_KEY = "default"  # the probability of every class not named


def class_probabilities(spec: Mapping[str, float], label_names: Sequence[str], key: str) -> np.ndarray:
    """(C,) probabilities from ``{default: p, CLASS: q}`` (classes not named: ``default``, else 0). Names that are
    not classes of the data are an error naming `key`."""
    from .config import ConfigError

    unknown = sorted(str(k) for k in spec if k != DEFAULT_KEY and k not in label_names)
    if unknown:
        raise ConfigError(f"{key}: {unknown} are not classes of the data (classes: {', '.join(label_names)})")
    default = float(spec.get(DEFAULT_KEY, 0.0))
    return np.array([float(spec.get(name, default)) for name in label_names], dtype=np.float64)


@contextlib.contextmanager
def seeded_global_rngs(seed: int) -> Iterator[None]:
    """Seed Python's and numpy's global generators for the block, then put their previous states back."""
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


class WaveAugmenter:
    """Speed perturbation and additive noise of 1-D float32 clips, each with a probability per class."""

    def __init__(
        self,
        label_names: Sequence[str],
        sampling_rate: int = 16000,
        speed_perturb: Mapping[str, float] | None = None,
        speed_factors: Sequence[float] = (0.9, 1.0, 1.1),
        noise_augment: Mapping[str, float] | None = None,
        noise_snr_db: Sequence[float] = (5.0, 20.0),
    ) -> None:
        from audiomentations import AddGaussianSNR, Resample

        self.sampling_rate = int(sampling_rate)
        self.speed_p = class_probabilities(speed_perturb or {}, label_names, "recipe.speed_perturb")
        self.noise_p = class_probabilities(noise_augment or {}, label_names, "recipe.noise_augment")
        self.speed_factors = [float(f) for f in speed_factors]
        rates = {f: int(round(self.sampling_rate / f)) for f in self.speed_factors if f != 1.0}
        self._resample = {f: Resample(min_sample_rate=r, max_sample_rate=r, p=1.0) for f, r in rates.items()}
        low, high = (float(v) for v in noise_snr_db)
        self._noise = AddGaussianSNR(min_snr_db=low, max_snr_db=high, p=1.0)

    @property
    def active(self) -> bool:
        return bool(self.speed_p.any() or self.noise_p.any())

    def __call__(self, waves: Sequence[np.ndarray], labels: Sequence[int], seed: int) -> list[np.ndarray]:
        """The clips augmented; the same `seed`, clips and labels give the same result. Three draws per clip
        whatever is applied, so one clip's choice does not shift the next one's."""
        rng = np.random.default_rng(seed)
        out = []
        with seeded_global_rngs(seed):
            for wave, label in zip(waves, labels, strict=True):
                speed_draw, factor_index, noise_draw = rng.random(), rng.integers(len(self.speed_factors)), rng.random()
                wave = np.asarray(wave, dtype=np.float32)
                factor = self.speed_factors[int(factor_index)]
                if speed_draw < self.speed_p[label] and factor != 1.0:
                    wave = self._resample[factor](samples=wave, sample_rate=self.sampling_rate).astype(np.float32)
                if noise_draw < self.noise_p[label]:
                    wave = self._noise(samples=wave, sample_rate=self.sampling_rate).astype(np.float32)
                out.append(wave)
        return out


class BatchAugmenter:
    """Augment a collated training batch: unpad each clip (``lengths`` from the collator), augment it, and collate
    again with the same collator (crop to max_duration, per-clip normalisation, padding, mask)."""

    def __init__(self, augmenter: WaveAugmenter, collator: Any) -> None:
        self.augmenter = augmenter
        self.collator = collator

    def __call__(self, inputs: dict[str, torch.Tensor], labels: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
        values, lengths = inputs["input_values"], inputs["lengths"]
        device = values.device
        rows = values.detach().to("cpu", torch.float32).numpy()
        waves = [rows[i, : int(n)] for i, n in enumerate(lengths.tolist())]
        waves = self.augmenter(waves, [int(y) for y in labels.tolist()], seed)
        batch = self.collator.pad_waves(waves)
        out = dict(inputs)
        out["input_values"] = batch["input_values"].to(device)
        if "attention_mask" in batch:
            out["attention_mask"] = batch["attention_mask"].to(device)
        out["lengths"] = batch["lengths"].to(device)
        return out
