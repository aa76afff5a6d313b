"""A long recording with known speech times: utterances separated by silences over a noise floor.

The utterances are the demo corpus's pseudo-speech (`demo.corpus.synthesize`), or real synthetic speech from
espeak-ng when `speech="espeak"` and the `espeak-ng` program is installed. The truth is the list of (start, end,
emotion) of every utterance, in seconds, trimmed to where the utterance is louder than -40 dB of its peak (espeak
and the pseudo-speech both start and end with near-silent samples).

    python -m demo.recording --output rec.wav [--seconds 120] [--speech demo|espeak] [--seed 0] [--sr 48000]
                             [--channels 2]   # writes rec.wav and rec.json (the truth)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from common.cli import UserError, run_cli
from common.config import CliParser
from data_prep.labels import EMOTIONS

from .corpus import make_speakers, synthesize

SENTENCES = (
    "I can't believe you did that again.",
    "Please sit down, the meeting will start in a minute.",
    "We won the match, this is wonderful news!",
    "Nobody told me the train was cancelled.",
    "Could you open the window, it is warm in here.",
    "Why is there nobody answering the phone today?",
    "The results came back and everything looks fine.",
    "Get out of my office right now.",
)


def _espeak(text: str, sr: int, seed: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "u.wav"
        voice = ("en", "en-us", "en-gb")[seed % 3]
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(140 + 10 * (seed % 5)), "-w", str(path), text],
            check=True,
            capture_output=True,
        )
        wave, rate = sf.read(path, dtype="float32")
    return soxr.resample(wave, rate, sr).astype(np.float32) if rate != sr else wave


def _trim(wave: np.ndarray, sr: int) -> tuple[int, int]:
    """First and last sample louder than -40 dB of the peak (20 ms frames)."""
    hop = sr // 50
    frames = np.abs(wave[: wave.size // hop * hop]).reshape(-1, hop).max(axis=1)
    loud = np.flatnonzero(frames > 0.01 * frames.max())
    return int(loud[0] * hop), int(min(wave.size, (loud[-1] + 1) * hop))


def make_recording(
    seconds: float = 120.0,
    sr: int = 16000,
    seed: int = 0,
    speech: str = "demo",
    noise_db: float = -45.0,
    gaps: tuple[float, float] = (1.0, 3.0),
) -> tuple[np.ndarray, list[dict]]:
    """(mono float32 wave, truth) of about `seconds`: silence of `gaps` seconds (uniform) between utterances, white
    noise at `noise_db` dBFS everywhere. Truth rows: {"start", "end", "emotion"} in seconds."""
    if speech == "espeak" and shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install -y espeak-ng)")
    rng = np.random.default_rng(seed)
    speakers = make_speakers(8, rng)
    pieces: list[np.ndarray] = []
    truth: list[dict] = []
    at = 0
    k = 0
    while at < seconds * sr:
        gap = np.zeros(int(rng.uniform(*gaps) * sr), dtype=np.float32)
        emotion = EMOTIONS[int(rng.integers(len(EMOTIONS)))]
        if speech == "espeak":
            utterance = _espeak(SENTENCES[k % len(SENTENCES)], sr, k) * 0.8
        else:
            utterance = synthesize(emotion, speakers[k % len(speakers)], sr, rng)
        first, last = _trim(utterance, sr)
        start = at + gap.size
        truth.append({"start": (start + first) / sr, "end": (start + last) / sr, "emotion": emotion})
        pieces += [gap, utterance]
        at = start + utterance.size
        k += 1
    pieces.append(np.zeros(int(rng.uniform(*gaps) * sr), dtype=np.float32))
    wave = np.concatenate(pieces)
    wave += rng.normal(0, 10 ** (noise_db / 20), wave.size).astype(np.float32)
    return np.clip(wave, -1, 1).astype(np.float32), truth


def main(argv: list[str] | None = None) -> int:
    ap = CliParser(prog="python -m demo.recording", description=__doc__.split("\n\n")[0])
    ap.add_argument("--output", required=True, help="WAV file to write (the truth goes beside it as .json)")
    ap.add_argument(
        "--seconds",
        type=float,
        default=120.0,
        help="length of the recording (at least; the last utterance is never cut)",
    )
    ap.add_argument(
        "--speech",
        choices=("demo", "espeak"),
        default="demo",
        help="utterances: the demo corpus's voices, or espeak-ng",
    )
    ap.add_argument("--seed", type=int, default=0, help="random seed of the utterance order, gaps and noise")
    ap.add_argument("--sr", type=int, default=16000, help="sample rate of the WAV")
    ap.add_argument("--channels", type=int, default=1, help="channels of the WAV (the same signal in each)")
    args = ap.parse_args(argv)
    return run_cli(ap.prog, lambda: _write(args))


def _write(args) -> int:
    out = Path(args.output)
    for path in (out, out.with_suffix(".json")):
        if path.exists():  # never replace a file the user may own
            raise UserError(f"{path}: exists; give a new --output")
    wave, truth = make_recording(args.seconds, args.sr, args.seed, args.speech)
    sf.write(out, np.repeat(wave[:, None], args.channels, axis=1), args.sr, subtype="PCM_16")
    out.with_suffix(".json").write_text(json.dumps(truth, indent=1) + "\n")
    print(f"wrote {out} ({wave.size / args.sr:.1f} s, {len(truth)} utterances) and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
