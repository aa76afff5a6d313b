"""The clip-length distribution the benchmark uses (what emotional-speech corpora look like).

Durations are log-normal with a median of 2.5 s and sigma 0.367 (so 10 % of clips are longer than 4 s),
clipped to [1, 8] s: mean about 2.7 s, 0.6 % at the 1 s floor, under 0.1 % at the 8 s ceiling. RAVDESS clips
are 3-5 s, most IESC/Hindi/Urdu clips 1-4 s, with a tail of longer utterances up to the 8 s crop.

Samples are drawn deterministically at the distribution's quantiles ((i + 0.5) / n, then shuffled with a fixed
seed) rather than at random, so that a small benchmark sample has the distribution's shape and mean exactly,
and two runs measure the same clips.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

MEDIAN_S = 2.5
SIGMA = 0.367  # ln(4 / 2.5) / z(0.90): 10 % of clips longer than 4 s
MIN_S = 1.0
MAX_S = 8.0
SAMPLING_RATE = 16000


def quantile_durations(n: int, seed: int = 0) -> np.ndarray:
    """`n` durations in seconds at the quantiles (i + 0.5) / n of the clipped log-normal, shuffled with `seed`."""
    if n < 1:
        raise ValueError(f"need at least one clip, got n={n}")
    normal = NormalDist()
    z = np.array([normal.inv_cdf((i + 0.5) / n) for i in range(n)])
    durations = np.clip(MEDIAN_S * np.exp(SIGMA * z), MIN_S, MAX_S)
    return np.random.default_rng(seed).permutation(durations)


def quantile_lengths(n: int, seed: int = 0, sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
    """The same durations as numbers of samples at `sampling_rate` (int64)."""
    return np.round(quantile_durations(n, seed) * sampling_rate).astype(np.int64)


def describe() -> dict[str, float]:
    """Parameters and summary figures of the distribution (written into results.json)."""
    sample = quantile_durations(10000)
    return {
        "median_s": MEDIAN_S,
        "sigma": SIGMA,
        "min_s": MIN_S,
        "max_s": MAX_S,
        "mean_s": round(float(sample.mean()), 3),
        "share_over_4s": round(float((sample > 4.0).mean()), 3),
        "share_1_to_4s": round(float(((sample >= 1.0) & (sample <= 4.0)).mean()), 3),
        "p90_s": round(float(np.quantile(sample, 0.9)), 2),
        "max_padding_factor": round(MAX_S / float(sample.mean()), 2),
    }


def synthetic_wave(n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """A speech-like stand-in (noise under a slow syllable envelope, float32 in [-1, 1]); content does not change
    speed, but an all-zero clip would be rejected as silent by the decoder."""
    t = np.arange(n_samples, dtype=np.float32) / SAMPLING_RATE
    envelope = 0.5 * (1.0 + np.sin(2 * math.pi * 4.0 * t + rng.uniform(0, 2 * math.pi)))
    wave = 0.2 * envelope * rng.standard_normal(n_samples).astype(np.float32)
    return np.clip(wave, -1.0, 1.0).astype(np.float32)
