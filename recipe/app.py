"""Web demo of a trained model: upload or record speech, see the six emotion probabilities.

    python -m recipe.app --model DIR [--port 7860] [--host 127.0.0.1] [--backend torch|onnx] [--quantize]
                         [--min_confidence P] [--max_file_size 50mb] [--max_audio_s 600] [--queue_size 16]
                         [--concurrency 1] [--share]

A Gradio page: an audio input (file upload or microphone), the class probabilities as a bar chart (`gr.Label`)
and, for recordings longer than the extractor's `max_duration`, an emotion timeline: the speech found by the voice
activity detector, each segment classified (`python -m recipe.predict --segment vad`), drawn as a chart and listed in
a table, with the CSV / JSON / VTT files to download; the overall answer is the segments' length-weighted mean. It
calls `recipe.components.prediction.predict_files`, the function behind the CLI, so decoding, segmentation and
batching are the same. Unreadable audio shows its reason in the page (`gr.Error`), naming the file but never a
server path. `--min_confidence P` shows `uncertain` as the answer when the top probability is below P (the scores
stay shown).

Limits (`recipe.components.app_limits`): uploads over `--max_file_size` (50 MB) are refused by Gradio, audio over
`--max_audio_s` (600 s) from its header before decoding; `--queue_size` (16) requests may wait and `--concurrency`
(1) run at once; a public link only with `--share`; analytics off; uploads deleted from Gradio's cache after an hour.

API, for `gradio_client`: `classify` takes an audio file and returns the label confidences (a long file: its 8 s
windows averaged, as `predict --chunk`); `segments` returns `predict --segment vad --json`'s record of the file
(its name under "file" instead of "path")::

    from gradio_client import Client, handle_file
    Client("http://127.0.0.1:7860/").predict(handle_file("clip.wav"), api_name="/classify")
    Client("http://127.0.0.1:7860/").predict(handle_file("call.wav"), api_name="/segments")["segments"]
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
from transformers.utils import logging as hf_logging

from common.cli import UserError, run_cli
from common.config import CliParser
from data_prep.audio import AudioError
from data_prep.audio_limits import check_duration, public_message
from data_prep.audio_stream import probe
from recipe.components.app_limits import (
    AppLimits,
    add_limit_arguments,
    apply_queue,
    blocks_kwargs,
    launch_kwargs,
    limits_from_args,
)
from recipe.components.calibration import UNCERTAIN, check_min_confidence
from recipe.components.model_io import load_model
from recipe.components.prediction import Prediction, predict_files
from recipe.components.segmentation import SegmentOptions
from recipe.components.timeline import timeline_figure, write_downloads

TIMELINE_COLUMNS = ["start_s", "end_s", "label", "score"]


class AudioInputError(UserError, ValueError):
    """The uploaded or recorded audio cannot be classified (message: file name and reason)."""


def _predict_one(
    model: Any, extractor: Any, path: str | Path | None, limits: AppLimits | None, **options: Any
) -> Prediction:
    """`predict_files` on one upload with every class's score; AudioInputError (file name and reason, no server
    path) if there is none, it is longer than `limits.max_audio_s` or it cannot be used."""
    if not path:
        raise AudioInputError("no audio: upload a file or record one first")
    try:
        check_duration(path, (limits or AppLimits()).max_audio_s)
    except AudioError as err:
        raise AudioInputError(public_message(err, path)) from err
    report = predict_files(model, extractor, [path], top_k=model.config.num_labels, **options)
    if report.errors:
        error = report.errors[0]
        raise AudioInputError(public_message(f"{Path(error['path']).name}: {error['error']}", path))
    return report.predictions[0]


def classify_file(
    model: Any,
    extractor: Any,
    path: str | Path | None,
    limits: AppLimits | None = None,
    min_confidence: float | None = None,
) -> Prediction:
    """Classify one file the way `recipe.predict --chunk --top_k 6` does."""
    return _predict_one(model, extractor, path, limits, chunk=True, min_confidence=min_confidence)


def segment_file(
    model: Any,
    extractor: Any,
    path: str | Path | None,
    limits: AppLimits | None = None,
    min_confidence: float | None = None,
) -> Prediction:
    """Classify the speech segments of one file the way `recipe.predict --segment vad --top_k 6` does (a file
    without speech is an AudioInputError)."""
    options = SegmentOptions(mode="vad", max_segment=getattr(extractor, "max_duration", None) or 8.0)
    return _predict_one(model, extractor, path, limits, segment=options, min_confidence=min_confidence)


def answer_text(prediction: Prediction) -> str:
    """The answer line of the page: the top label and its score, or UNCERTAIN with the top score."""
    label, score = prediction.labels[0], prediction.scores[0]
    if prediction.uncertain:
        return f"{UNCERTAIN} (top: {label} {score:.3f})"
    return f"{label} ({score:.3f})"


def is_long(extractor: Any, path: str | Path | None) -> bool:
    """Whether the file is longer than the model's `max_duration` (False when it cannot be read: the clip path
    reports why)."""
    max_duration = getattr(extractor, "max_duration", None)
    try:
        return bool(path and max_duration and probe(path).duration > max_duration)
    except Exception:
        return False


class DownloadFolders:
    """The app's own temporary folder for the timeline's CSV / JSON / VTT files: one subfolder per request, those
    older than `max_age_s` removed at the next request (Gradio serves copies from its own cache), all of it removed
    when the process exits. Only folders this object created are ever deleted."""

    def __init__(self, max_age_s: float = 3600.0) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ser-segments-"))
        self.max_age_s = max_age_s
        self.made: list[Path] = []
        atexit.register(shutil.rmtree, self.root, ignore_errors=True)

    def new_folder(self) -> Path:
        now = time.time()
        for old in [f for f in self.made if not f.exists() or now - f.stat().st_mtime > self.max_age_s]:
            shutil.rmtree(old, ignore_errors=True)
            self.made.remove(old)
        folder = Path(tempfile.mkdtemp(dir=self.root))
        self.made.append(folder)
        return folder


def timeline_frame(prediction: Prediction) -> pd.DataFrame:
    """One row per window (start, end, top label, its probability, then every class); empty for one window."""
    rows = prediction.timeline()
    frame = pd.DataFrame(rows, columns=TIMELINE_COLUMNS)
    for name in prediction.probabilities:
        frame[name] = [round(probs[name], 4) for probs in prediction.window_probabilities] if rows else []
    return frame


def build_demo(
    model: Any,
    extractor: Any,
    title: str = "Speech emotion recognition",
    limits: AppLimits | None = None,
    min_confidence: float | None = None,
) -> gr.Blocks:
    """The Gradio page and its `classify` API endpoint, both on `classify_file`, with `limits`' queue."""
    limits = limits or AppLimits()
    downloads = DownloadFolders()
    max_duration = getattr(extractor, "max_duration", None)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]

    def confidences(path: str | None) -> dict[str, float]:
        try:
            return classify_file(model, extractor, path, limits).probabilities
        except AudioInputError as err:
            raise gr.Error(str(err)) from err

    def segments(path: str | None) -> dict[str, Any]:
        try:
            record = segment_file(model, extractor, path, limits).to_dict()
        except AudioInputError as err:
            raise gr.Error(str(err)) from err
        # A dict with a "path" key is a file to gradio_client (it would download the upload instead of reading the
        # record): the API names the file by its name under "file", never by a server path.
        return {"file": Path(record.pop("path")).name, **record}

    def page(path: str | None) -> tuple[str, dict[str, float], Any, Any, Any]:
        try:
            long = is_long(extractor, path)
            prediction = (segment_file if long else classify_file)(model, extractor, path, limits, min_confidence)
        except AudioInputError as err:
            raise gr.Error(str(err)) from err
        frame = timeline_frame(prediction)
        answer = answer_text(prediction)
        if not long:
            return answer, prediction.probabilities, gr.Dataframe(value=frame, visible=not frame.empty), None, None
        record = prediction.to_dict()
        record["path"] = Path(record["path"]).name  # the page shows no server paths
        files = [str(f) for f in write_downloads(record, downloads.new_folder(), Path(path).stem)]  # gr.File: str paths
        figure = timeline_figure(record)
        return answer, prediction.probabilities, gr.Dataframe(value=frame, visible=True), figure, files

    with gr.Blocks(title=title, **blocks_kwargs(limits)) as demo:
        gr.Markdown(
            f"# {title}\nClasses: {', '.join(labels)}."
            + (
                f" Recordings longer than {max_duration:g} s are cut at the speech and shown over time."
                if max_duration
                else ""
            )
        )
        audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Speech")
        button = gr.Button("Classify", variant="primary")
        answer = gr.Textbox(label="Answer", interactive=False, elem_id="answer")
        label = gr.Label(num_top_classes=len(labels), label="Emotion", elem_id="emotion")
        chart = gr.Plot(label="Emotion over time (speech segments)", elem_id="timeline-chart")
        timeline = gr.Dataframe(label="Segments (seconds)", visible=False, elem_id="timeline")
        download_files = gr.File(label="Segments as CSV / JSON / VTT", file_count="multiple", elem_id="downloads")
        button.click(
            page, inputs=audio, outputs=[answer, label, timeline, chart, download_files], api_visibility="private"
        )
        # The API endpoints: the same functions, label confidences only, or the segments' record (hidden buttons).
        api_button = gr.Button(visible=False)
        api_button.click(confidences, inputs=audio, outputs=label, api_name="classify")
        segments_json = gr.JSON(visible=False)
        segments_button = gr.Button(visible=False)
        segments_button.click(segments, inputs=audio, outputs=segments_json, api_name="segments")
    return apply_queue(demo, limits)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: serve until interrupted."""
    ap = CliParser(prog="python -m recipe.app", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="trained model folder (recipe.train --output_dir)")
    ap.add_argument("--port", type=int, default=7860, help="port to serve on (default 7860)")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 for all)")
    ap.add_argument(
        "--backend",
        choices=("torch", "onnx"),
        default="torch",
        help="torch, or onnxruntime on the graph written by python -m recipe.export",
    )
    ap.add_argument("--quantize", action="store_true", help="int8 (as in python -m recipe.predict --quantize)")
    ap.add_argument(
        "--min_confidence", type=float, default=None, help="answer 'uncertain' below this top probability, in (0, 1]"
    )
    add_limit_arguments(ap)
    args = ap.parse_args(argv)
    try:
        check_min_confidence(args.min_confidence)
        args.limits = limits_from_args(args)
    except ValueError as err:
        ap.error(str(err))
    hf_logging.disable_progress_bar()
    return run_cli("recipe.app", lambda: _serve(args))


def _serve(args: argparse.Namespace) -> int:
    """Load the model (a bad folder is one line, exit 2) and serve the page until interrupted."""
    model, extractor = load_model(args.model, "cpu" if args.quantize else None, args.quantize, args.backend)
    title = f"Speech emotion recognition: {Path(args.model).resolve().name}"
    demo = build_demo(model, extractor, title=title, limits=args.limits, min_confidence=args.min_confidence)
    demo.launch(server_name=args.host, server_port=args.port, **launch_kwargs(args.limits, share=args.share))
    return 0


if __name__ == "__main__":
    sys.exit(main())
