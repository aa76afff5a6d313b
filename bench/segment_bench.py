"""Long recordings: voice activity detectors compared on a fabricated recording, and `recipe.predict --segment vad`
on a 1-hour 48 kHz stereo 16-bit WAV (real-time factor and peak memory).

`vad` section: a recording of `--vad_seconds` made by `demo.recording` (espeak-ng speech when the program is
installed, else the demo corpus's pseudo-speech) with the truth of every utterance; each detector's frame decisions
go through the same span rules (silero-vad's `get_speech_timestamps_from_probs`, `SegmentOptions` defaults, then
`fit_spans`). Per detector: utterances found, start/end error of the found ones (median, and share within 0.3 s),
false alarm (detected seconds more than 0.3 s away from any utterance) and its speed (CPU seconds per audio second).
Detectors: silero-vad's sequence ONNX model fed block by block (`recipe.components.segmentation.SileroVad`, what
predict uses) and webrtcvad (`webrtcvad-wheels`) at aggressiveness 1, 2 and 3 (30 ms frames). (silero-vad's
TorchScript model, one Python call per 32 ms frame, gives the same probabilities far more slowly.)

`long` section: the same kind of recording repeated to `--long_seconds` (default 3600) at 48 kHz stereo, written
block by block as 16-bit PCM, then `python -m recipe.predict MODEL FILE --segment vad --format jsonl --output F` in
a child process on a model of the demo's architecture (random weights, 0.49 M parameters): wall and CPU seconds,
real-time factor, segments, and the child's peak resident memory (`getrusage(RUSAGE_CHILDREN).ru_maxrss`).

    python -m bench.segment_bench [--vad_seconds 300] [--long_seconds 3600] [--sections vad,long] [--out f]
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr
import torch
import yaml

from bench.report import emit_json
from common.config import CliParser
from demo.recording import make_recording
from recipe import SERConfig, SERFeatureExtractor, SERForAudioClassification
from recipe.components.segmentation import FRAME, VAD_RATE, SegmentOptions, SileroVad, Span, fit_spans, speech_spans

REPO = Path(__file__).resolve().parents[1]
TOLERANCE_S = 0.3


def score_spans(spans: list[Span], truth: list[dict], duration: float) -> dict[str, Any]:
    """Utterances found (any overlap), boundary errors of the found ones, and false-alarm seconds."""
    starts, ends, found = [], [], 0
    for utt in truth:
        hit = [s for s in spans if s.end > utt["start"] and s.start < utt["end"]]
        if hit:
            found += 1
            starts.append(abs(hit[0].start - utt["start"]))
            ends.append(abs(hit[-1].end - utt["end"]))
    grid = np.arange(0, duration, 0.01)
    detected = np.zeros(grid.size, bool)
    near = np.zeros(grid.size, bool)
    for s in spans:
        detected |= (grid >= s.start) & (grid < s.end)
    for utt in truth:
        near |= (grid >= utt["start"] - TOLERANCE_S) & (grid < utt["end"] + TOLERANCE_S)
    errors = np.array(starts + ends)
    return {
        "utterances": len(truth),
        "found": found,
        "segments": len(spans),
        "median_start_error_s": round(float(np.median(starts)), 3) if starts else None,
        "median_end_error_s": round(float(np.median(ends)), 3) if ends else None,
        "boundaries_within_0.3s": round(float((errors <= TOLERANCE_S).mean()), 3) if errors.size else 0.0,
        "false_alarm_s": round(float((detected & ~near).sum() * 0.01), 2),
    }


def webrtc_probs(wave: np.ndarray, mode: int) -> np.ndarray:
    """webrtcvad's 30 ms decisions spread over silero's 32 ms frames (share of each frame judged speech)."""
    import webrtcvad

    vad = webrtcvad.Vad(mode)
    step = VAD_RATE * 30 // 1000
    pcm = (np.clip(wave, -1, 1) * 32767).astype(np.int16)
    decisions = np.array(
        [vad.is_speech(pcm[i : i + step].tobytes(), VAD_RATE) for i in range(0, pcm.size - step + 1, step)], float
    )
    per_sample = np.repeat(decisions, step)
    per_sample = np.pad(per_sample, (0, -per_sample.size % FRAME))
    return per_sample.reshape(-1, FRAME).mean(axis=1)


def compare_vads(seconds: float, seed: int = 0, noise_levels: tuple[float, ...] = (-45.0, -25.0)) -> dict[str, Any]:
    """Every detector on the same recording, once per white-noise level (dBFS; the speech peaks near -2 dBFS)."""
    speech = "espeak" if shutil.which("espeak-ng") else "demo"
    options = SegmentOptions()
    threads = torch.get_num_threads()
    rows = []
    for noise_db in noise_levels:
        wave, truth = make_recording(seconds, VAD_RATE, seed=seed, speech=speech, noise_db=noise_db)
        duration = wave.size / VAD_RATE
        detectors = {
            "silero-vad (sequence onnx, blocks)": lambda: speech_spans(
                *SileroVad().probabilities(np.array_split(wave, max(1, int(duration // 20)))), options
            ),
            **{
                f"webrtcvad mode {mode}": (lambda mode=mode: speech_spans(webrtc_probs(wave, mode), wave.size, options))
                for mode in (1, 2, 3)
            },
        }
        for name, detect in detectors.items():
            start, cpu = time.perf_counter(), time.process_time()
            raw = detect()
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            torch.set_num_threads(threads)
            rows.append(
                {
                    "detector": name,
                    "noise_db": noise_db,
                    "wall_s": round(wall, 2),
                    "cpu_s": round(cpu, 2),
                    "rtf_cpu": round(cpu / duration, 4),
                    **score_spans(fit_spans(raw, duration, options), truth, duration),
                }
            )
    return {"speech": speech, "audio_s": round(duration, 1), "utterances": len(truth), "rows": rows}


def write_long_wav(path: Path, seconds: float, sr: int = 48000, seed: int = 0) -> float:
    """A `seconds`-long stereo 16-bit WAV: one fabricated 5-minute recording at `sr`, repeated, written block by
    block (the bench process never holds the whole file)."""
    wave, _ = make_recording(300, VAD_RATE, seed=seed, speech="demo")
    piece = soxr.resample(wave, VAD_RATE, sr).astype(np.float32)
    stereo = np.stack([piece, 0.9 * piece], axis=1)
    total = int(seconds * sr)
    with sf.SoundFile(path, "w", samplerate=sr, channels=2, subtype="PCM_16") as out:
        written = 0
        while written < total:
            block = stereo[: total - written]
            out.write(block)
            written += len(block)
    return total / sr


def save_demo_architecture_model(folder: Path, seed: int = 0) -> None:
    """The demo's model (configs/demo.yaml) with random weights, saved the way training saves one."""
    model_cfg = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())["model"]
    torch.manual_seed(seed)
    config = SERConfig(
        encoder_config=model_cfg["encoder_config"],
        head_sizes=model_cfg["head_sizes"],
        attention_hidden_size=model_cfg["attention_hidden_size"],
        pooling=model_cfg["pooling"],
    )
    SERForAudioClassification(config).save_pretrained(str(folder))
    SERFeatureExtractor.for_encoder(config.encoder_config, max_duration=8.0).save_pretrained(str(folder))


def long_file(seconds: float, threads: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ser-bench-segment-") as tmp:
        folder = Path(tmp)
        audio = folder / "long_48k_stereo.wav"
        duration = write_long_wav(audio, seconds)
        save_demo_architecture_model(folder / "model")
        out = folder / "segments.jsonl"
        cmd = [sys.executable, "-m", "recipe.predict", str(folder / "model"), str(audio), "--segment", "vad"]
        cmd += ["--format", "jsonl", "--output", str(out), "--precision", "fp32"]
        cmd += ["--threads", str(threads)] if threads else []
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
        wall = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise RuntimeError(f"recipe.predict failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        result = json.loads(out.read_text().splitlines()[0])
        cpu = (usage.ru_utime - before.ru_utime) + (usage.ru_stime - before.ru_stime)
        return {
            "file": "48 kHz stereo 16-bit PCM WAV",
            "audio_s": round(duration, 1),
            "file_mb": round(audio.stat().st_size / 2**20, 1),
            "command": "python -m recipe.predict MODEL FILE --segment vad --format jsonl --output F --precision fp32",
            "model": "demo architecture (configs/demo.yaml), random weights",
            "segments": len(result["segments"]),
            "speech_s": result["used_s"],
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "rtf": round(wall / duration, 4),
            "rtf_cpu": round(cpu / duration, 4),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        }


def main(argv: list[str] | None = None) -> int:
    ap = CliParser(prog="python -m bench.segment_bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--vad_seconds", type=float, default=300.0, help="length of the VAD comparison recording")
    ap.add_argument("--long_seconds", type=float, default=3600.0, help="length of the long file")
    ap.add_argument("--sections", default="vad,long", help="comma list of vad, long")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads for predict")
    ap.add_argument("--out", help="write the JSON result here instead of stdout")
    args = ap.parse_args(argv)
    sections = [s for s in args.sections.split(",") if s]
    result: dict[str, Any] = {}
    if "vad" in sections:
        result["vad"] = compare_vads(args.vad_seconds)
    if "long" in sections:
        result["long"] = long_file(args.long_seconds, args.threads)
    emit_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
