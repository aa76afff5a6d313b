"""Last step of `make demo`: classify one clip with `pipeline("audio-classification")` and say where everything is.

    python -m demo.pipeline --model OUT --corpus RAWDIR

The clip is the first one of the held-out test split (read from the run's prepared dataset, `run_info.json`
`data_dir`) when that is available, otherwise the first audio file under RAWDIR. It is decoded with
`data_prep.audio.load_audio` (16 kHz float32) because the pipeline itself would need ffmpeg and torchaudio.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common.cli import UserError, run_cli
from common.config import CliParser
from data_prep.audio import AUDIO_EXTENSIONS, load_audio


class DemoInputError(UserError, FileNotFoundError):
    """No trained model or no audio where the demo looks (one line, exit 2)."""


def pick_clip(model_dir: Path, corpus: Path) -> tuple[Path, str]:
    """(path, where it came from): the first test-split clip of the run, else the first audio file in `corpus`."""
    run_info = model_dir / "run_info.json"
    if run_info.is_file():
        data_dir = json.loads(run_info.read_text()).get("data_dir")
        if data_dir and (Path(data_dir) / "test").is_dir():
            from datasets import load_from_disk

            test = load_from_disk(str(Path(data_dir) / "test")).select_columns(["path"])
            for path in test["path"]:
                if Path(path).is_file():
                    return Path(path), "first clip of the held-out test split"
    files = sorted(p for p in corpus.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
    if not files:
        raise DemoInputError(f"{corpus}: no audio files found ({', '.join(AUDIO_EXTENSIONS[:4])}, ...)")
    return files[0], f"first audio file under {corpus}"


def main(argv: list[str] | None = None) -> int:
    ap = CliParser(prog="python -m demo.pipeline", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="trained model folder (make demo: outputs/demo/model)")
    ap.add_argument("--corpus", required=True, help="raw demo corpus folder (make demo: outputs/demo/corpus)")
    ap.add_argument("--top_k", type=int, default=3, help="labels shown per clip")
    args = ap.parse_args(argv)
    return run_cli("demo.pipeline", lambda: _show(args))


def _show(args: argparse.Namespace) -> int:
    """Classify one clip with `pipeline()`, then list the run's results and files."""
    model_dir, corpus = Path(args.model), Path(args.corpus)
    if not (model_dir / "config.json").is_file():
        raise DemoInputError(f"{model_dir}: no trained model (config.json missing)")
    clip, origin = pick_clip(model_dir, corpus)
    wave = load_audio(clip, max_duration=None)  # AudioError is a UserError

    import torch
    from transformers import pipeline

    import recipe  # noqa: F401  (registers the SER classes with the Auto classes)
    from recipe.components.inference import autocast
    from recipe.components.precision import choose_precision, probe_hardware

    precision = choose_precision("auto", probe_hardware("cpu"))
    classifier = pipeline("audio-classification", model=str(model_dir), device="cpu", trust_remote_code=False)
    with autocast(torch.device("cpu"), precision.name):
        predictions = classifier({"raw": wave, "sampling_rate": 16000}, top_k=args.top_k)
    true_label = clip.parent.name  # the demo corpus layout: <emotion>/<speaker>_<emotion>_<idx>.wav
    print(
        f"\nclip: {clip} ({origin}, {len(wave) / 16000:.2f} s, folder label: {true_label}; "
        f"{precision.name}: {precision.reason})"
    )
    for p in predictions:
        print(f"  {p['label']:<9} {p['score']:.3f}")

    print("\nresults:")
    eval_results = model_dir / "eval_results.json"
    if eval_results.is_file():
        results = json.loads(eval_results.read_text())
        split = results.get("split", "test")
        metrics = results.get("splits", {}).get(split, {})
        if metrics:
            print(
                f"  {split} accuracy {metrics['accuracy']:.3f}, UAR {metrics['uar']:.3f}, "
                f"macro-F1 {metrics['macro_f1']:.3f} (n={metrics['n']}; chance 1/6 = 0.167)"
            )
    for name, what in (
        ("model.safetensors", "model (config.json, code, preprocessor_config.json beside it)"),
        ("eval_results.json", "evaluation results"),
        ("confusion_matrix.png", "confusion matrix"),
        ("training_curves.png", "training curves"),
        ("README.md", "model card"),
        ("trainer_state.json", "training log"),
        ("run_info.json", "run information"),
    ):
        path = model_dir / name
        print(f"  {what + ':':<68} {path}" + ("" if path.exists() else "  (missing)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
