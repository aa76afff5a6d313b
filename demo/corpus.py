"""Synthetic emotional-speech corpus for the offline demo (pure numpy/scipy, seeded, a few seconds).

Each clip is a source-filter "pseudo-speech" utterance: a glottal pulse train whose pitch contour,
tempo (syllable rate), loudness, jitter/tremolo and voice quality (spectral tilt, noise) depend on the
emotion, filtered by the speaker's formants (each speaker has its own base pitch and vocal-tract
scale, so the speaker is not the label). Layout, read by the `folder` adapter:

    DIR/<emotion>/<speaker>_<emotion>_<idx>.wav     e.g. DIR/sad/spk07_sad_03.wav

speaker regex for the `folder` adapter: ``^(?P<speaker>[^_]+)_``. Sample rates rotate over
16000/22050/44100/48000 Hz; most files are 16-bit PCM, every fifth one 32-bit float.

Classes are as imbalanced as in the six real corpora together (``REAL_MIX``, surprise at less than half of
the largest classes); ``--mix uniform`` gives every class the same count.

    python -m demo.corpus --output DIR [--seed 0] [--speakers 24] [--clips_per_speaker_per_emotion 5] [--mix real]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

from common.config import CliParser
from data_prep.labels import EMOTIONS

SAMPLE_RATES: tuple[int, ...] = (16000, 22050, 44100, 48000)
SPEAKER_REGEX = r"^(?P<speaker>[^_]+)_"

# Vowel formants (F1, F2, F3 in Hz) of an average adult voice; speakers scale them.
_VOWELS = np.array(
    [[730, 1090, 2440], [530, 1840, 2480], [270, 2290, 3010], [570, 840, 2410], [300, 870, 2240], [660, 1720, 2410]],
    dtype=float,
)


@dataclass(frozen=True)
class Prosody:
    """Emotion-specific prosody and voice quality (pitch factors relative to the speaker's base)."""

    pitch: float  # mean pitch factor
    slope: float  # pitch change over the clip (factor at end minus start)
    swing: float  # per-syllable rise-fall depth (fraction of pitch)
    jitter: float  # random cycle-to-cycle pitch perturbation (fraction)
    tremolo: float  # 7 Hz amplitude modulation depth
    rate: float  # syllables per second
    gain: float  # peak loudness
    tilt: float  # one-pole low-pass coefficient on the source (higher = darker, softer voice)
    noise: float  # aspiration / harshness noise level relative to the voice
    duty: float  # voiced fraction of each syllable
    formants: float  # articulation: formant shift (smiling raises, a lowered larynx and rounded lips lower)


# fmt: off
PROSODY: dict[str, Prosody] = {
    #           pitch  slope  swing  jitter trem  rate  gain  tilt  noise duty  formants
    "anger":    Prosody(1.25, -0.10, 0.10, 0.010, 0.00, 5.5, 0.90, 0.10, 0.55, 0.85, 1.08),  # loud, fast, harsh
    "fear":     Prosody(1.80, 0.00, 0.06, 0.050, 0.70, 6.5, 0.45, 0.50, 0.35, 0.55, 1.00),  # high, trembling, breathy
    "happy":    Prosody(1.50, 0.05, 0.45, 0.008, 0.00, 4.5, 0.70, 0.30, 0.00, 0.75, 1.12),  # high, wide swings, smiling
    "neutral":  Prosody(1.00, -0.03, 0.02, 0.004, 0.00, 3.8, 0.50, 0.70, 0.02, 0.75, 1.00),  # mid, flat, modal
    "sad":      Prosody(0.75, -0.25, 0.03, 0.006, 0.00, 2.2, 0.22, 0.92, 0.60, 0.85, 0.90),  # low, falls, slow, breathy
    "surprise": Prosody(1.20, 1.00, 0.05, 0.006, 0.00, 3.5, 0.75, 0.35, 0.05, 0.80, 1.05),  # sharp late rise, high peak
}
# fmt: on


# Kept clips per class of the six corpora of configs/data.yaml, from their documented contents: RAVDESS (neutral
# 96, the other five 192 each), IESC (600 clips: anger/fear/happy/neutral/sad, 120 each), Hindi (400 per class,
# all six), URDU-Dataset (anger/happy/neutral/sad, 100 each), UrduSER (anger/fear/happy/neutral/sad, 500 each);
# KAI-Indian's 16 clips are left out. 6956 clips: surprise (only in RAVDESS and Hindi) is 45 % of the largest
# classes, fear (absent from URDU-Dataset) and neutral (half of the other classes in RAVDESS) about 92 %.
REAL_MIX: dict[str, int] = {"anger": 1312, "fear": 1212, "happy": 1312, "neutral": 1216, "sad": 1312, "surprise": 592}
MIXES = ("real", "uniform")


def clips_per_emotion(speakers: int, clips_per_speaker_per_emotion: int, mix: str = "real") -> dict[str, int]:
    """Clips of each emotion: `speakers x clips_per_speaker_per_emotion` for the largest class, the others scaled
    by their share in `REAL_MIX` (at least one clip), or the same for all with `mix="uniform"`."""
    if mix not in MIXES:
        raise ValueError(f"mix must be one of {MIXES}, got {mix!r}")
    full = speakers * clips_per_speaker_per_emotion
    if mix == "uniform":
        return {e: full for e in EMOTIONS}
    top = max(REAL_MIX.values())
    return {e: max(1, round(full * REAL_MIX[e] / top)) for e in EMOTIONS}


@dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: base pitch (Hz) and vocal-tract scale applied to all formants."""

    name: str
    base_f0: float
    formant_scale: float


def make_speakers(n: int, rng: np.random.Generator) -> list[Speaker]:
    """Half male-like (90-140 Hz, longer tract), half female-like (170-240 Hz, shorter tract)."""
    speakers = []
    for i in range(n):
        female = i % 2 == 1
        base = rng.uniform(170, 240) if female else rng.uniform(90, 140)
        scale = rng.uniform(1.08, 1.2) if female else rng.uniform(0.9, 1.02)
        speakers.append(Speaker(f"spk{i + 1:02d}", float(base), float(scale)))
    return speakers


def _resonator(freq: float, bandwidth: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Second-order all-pole resonator with unit gain at DC (Klatt style)."""
    r = np.exp(-np.pi * bandwidth / sr)
    a = np.array([1.0, -2 * r * np.cos(2 * np.pi * freq / sr), r * r])
    return np.array([a.sum()]), a


def synthesize(emotion: str, speaker: Speaker, sr: int, rng: np.random.Generator) -> np.ndarray:
    """One clip (float32, peak <= 0.95) of `emotion` spoken by `speaker` at sample rate `sr`."""
    p = PROSODY[emotion]
    jit = lambda scale: 1 + rng.normal(0, scale)  # noqa: E731 - small per-clip variation
    rate = p.rate * jit(0.08)
    n_syll = int(rng.integers(4, 9)) if p.rate > 3 else int(rng.integers(3, 6))
    duration = float(np.clip(n_syll / rate + rng.uniform(0.05, 0.25), 1.0, 4.0))
    n = int(duration * sr)
    t = np.arange(n) / sr
    pos = t / duration  # 0..1 across the clip
    syl_phase = (t * rate) % 1.0  # 0..1 within each syllable
    syl_index = np.minimum((t * rate).astype(int), 63)

    # Pitch contour: level + global slope (surprise: sharp late rise) + per-syllable swing + jitter.
    f0 = speaker.base_f0 * p.pitch * jit(0.04)
    if emotion == "surprise":
        contour = 1 + p.slope * pos**1.5
    else:
        contour = 1 + p.slope * (pos - 0.3)
    contour = contour + p.swing * np.sin(np.pi * syl_phase)
    cycle_noise = rng.normal(0, p.jitter, int(duration * 400) + 2)  # ~400 Hz perturbation rate
    contour *= 1 + np.interp(t, np.arange(cycle_noise.size) / 400, cycle_noise)
    f0_t = np.clip(f0 * contour, 50, 900)
    phase = np.cumsum(f0_t / sr) % 1.0
    source = (2 * phase - 1).astype(np.float64)  # sawtooth: all harmonics, 1/k roll-off

    # Voice quality: spectral tilt (one-pole low-pass) and aspiration/harsh noise.
    tilt = float(np.clip(p.tilt + rng.normal(0, 0.03), 0.0, 0.95))
    voiced = lfilter([1 - tilt], [1, -tilt], source)
    noise = rng.normal(0, 1, n)
    if emotion == "anger":  # harsh: noise gated by the glottal cycle
        noise *= phase < 0.3
    excitation = voiced / (np.std(voiced) + 1e-9) + p.noise * noise

    # Formants: one vowel per syllable, speaker-scaled; filter syllable by syllable.
    out = np.zeros(n)
    vowels = rng.integers(0, len(_VOWELS), size=64)
    bounds = np.flatnonzero(np.diff(syl_index)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [n]])
    for k, (s, e) in enumerate(zip(starts, ends)):
        seg = excitation[s:e]
        for freq, bw in zip(_VOWELS[vowels[k]] * speaker.formant_scale * p.formants, (80.0, 110.0, 160.0)):
            b, a = _resonator(min(freq, 0.45 * sr), bw, sr)
            seg = lfilter(b, a, seg)
        out[s:e] = seg / (np.std(seg) + 1e-9)

    # Amplitude: syllable envelope (voiced part of each syllable), tremolo, clip fade in/out.
    duty = p.duty
    env = np.where(syl_phase < duty, np.sin(np.pi * np.minimum(syl_phase / duty, 1.0)) ** 0.6, 0.0)
    if p.tremolo:
        env *= 1 - p.tremolo * 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(6, 8) * t))
    if emotion == "sad":  # fading energy towards the end
        env *= 1 - 0.5 * pos
    fade = np.minimum(1.0, np.minimum(t, duration - t) / 0.02)
    wave = out * env * fade
    wave += rng.normal(0, 0.003, n)  # room noise floor
    wave *= p.gain * jit(0.1) / (np.max(np.abs(wave)) + 1e-9)
    return np.clip(wave, -0.95, 0.95).astype(np.float32)


def generate(
    output: str | Path,
    seed: int = 0,
    speakers: int = 24,
    clips_per_speaker_per_emotion: int = 5,
    quiet: bool = False,
    mix: str = "real",
) -> list[Path]:
    """Write the corpus under `output` and return the written paths (sorted)."""
    if speakers < 1 or clips_per_speaker_per_emotion < 1:
        raise ValueError("speakers and clips-per-speaker-per-emotion must be >= 1")
    output = Path(output)
    rng = np.random.default_rng(seed)
    voices = make_speakers(speakers, rng)
    counts = clips_per_emotion(speakers, clips_per_speaker_per_emotion, mix)
    written: list[Path] = []
    count = 0
    for e, emotion in enumerate(EMOTIONS):
        (output / emotion).mkdir(parents=True, exist_ok=True)
        for stale in (output / emotion).glob(f"spk*_{emotion}_*.wav"):  # clips of an earlier, larger corpus
            stale.unlink()
        base, extra = divmod(counts[emotion], speakers)
        for j, speaker in enumerate(voices):
            # the speakers with one clip more rotate with the emotion, so no speaker is short of every rare class
            for idx in range(base + ((j - e) % speakers < extra)):
                sr = SAMPLE_RATES[count % len(SAMPLE_RATES)]
                wave = synthesize(emotion, speaker, sr, rng)
                path = output / emotion / f"{speaker.name}_{emotion}_{idx:02d}.wav"
                subtype = "FLOAT" if count % 5 == 4 else "PCM_16"
                sf.write(str(path), wave, sr, subtype=subtype)
                written.append(path)
                count += 1
    if not quiet:
        print(
            f"wrote {len(written)} clips ({speakers} speakers; per emotion: "
            + ", ".join(f"{e} {n}" for e, n in counts.items())
            + f") to {output}"
        )
    return sorted(written)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = CliParser(prog="python -m demo.corpus", description=__doc__.split("\n\n")[0])
    ap.add_argument("--output", required=True, help="folder to write <emotion>/<speaker>_<emotion>_<idx>.wav into")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic voices and clips")
    ap.add_argument("--speakers", type=int, default=24, help="synthetic speakers")
    ap.add_argument(
        "--clips_per_speaker_per_emotion",
        type=int,
        default=5,
        help="clips of each of the largest classes per speaker (the others follow --mix)",
    )
    ap.add_argument("--mix", choices=MIXES, default="real", help="class proportions: the real corpora's, or uniform")
    args = ap.parse_args(argv)
    generate(args.output, args.seed, args.speakers, args.clips_per_speaker_per_emotion, mix=args.mix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
