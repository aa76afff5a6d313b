"""Gradio Space for the speech emotion recognition model stored beside this file (written by
`python -m recipe.hub --with_app`). It needs the model repo's files, requirements.txt and the modules
`recipe.hub` ships beside it (`data_prep/`, `common/cli.py` and `recipe/components/` segmentation and inference,
copied from the recipe), not the rest of the recipe.

It answers with `recipe.predict`'s own function, `classify_file_spans`: audio decoded block by block and checked as
predict checks it (silent, constant, NaN/inf, too short and undecodable files refused with their reason), cut into
spans and classified through the same batching path. A recording longer than the model's `max_duration` is cut at
its speech by the voice activity detector (`predict --segment vad`) and shown as a table of segments; a shorter one
is one window. API endpoints: `classify` (audio file in, label confidences out, as `predict --chunk`: every
`max_duration` window on its own, their length-weighted mean) and `segments` (the record of
`predict --segment vad --json`, the file named by its name under "file").

Limits, the defaults of `python -m recipe.app` (recipe/components/app_limits.py): uploads up to MAX_FILE_SIZE,
audio up to MAX_AUDIO_S seconds (refused from the header, before decoding), QUEUE_SIZE waiting requests, CONCURRENCY
at once, no share link, analytics off, uploads deleted from Gradio's cache after an hour; messages name the file,
never a server path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

from data_prep.audio import AudioError
from data_prep.audio_limits import check_duration, public_message
from recipe.components.segment_inference import classify_file_spans
from recipe.components.segment_output import segment_records, speech_shares
from recipe.components.segmentation import SegmentOptions, SileroVad

HERE = Path(__file__).resolve().parent
MODEL = AutoModelForAudioClassification.from_pretrained(str(HERE), trust_remote_code=True).eval()
EXTRACTOR = AutoFeatureExtractor.from_pretrained(str(HERE), trust_remote_code=True)
LABELS = [MODEL.config.id2label[i] for i in range(MODEL.config.num_labels)]
MAX_DURATION = getattr(EXTRACTOR, "max_duration", None)
MIN_SECONDS = 0.25  # shorter clips (and shorter final windows) are refused / dropped, as in recipe.predict
MAX_FILE_SIZE = "50mb"
MAX_AUDIO_S = 600.0
QUEUE_SIZE = 16
CONCURRENCY = 1
DELETE_CACHE = (3600, 3600)  # every hour, delete cached uploads older than an hour


def analyse(path: str | None, mode: str) -> dict[str, Any]:
    """`predict --segment MODE --json`'s record of one file (mode "vad": its speech; "fixed": `max_duration`
    windows); gr.Error naming the file (no server path) when it cannot be used."""
    if not path:
        raise gr.Error("no audio: upload a file or record one first")
    name = Path(path).name
    try:
        check_duration(path, MAX_AUDIO_S)
        options = SegmentOptions(mode=mode, max_segment=MAX_DURATION or 8.0, min_tail=MIN_SECONDS)
        vad = SileroVad() if mode == "vad" else None
        info, spans, probs = classify_file_spans(MODEL, EXTRACTOR, path, options, vad, min_duration=MIN_SECONDS)
    except AudioError as err:
        raise gr.Error(public_message(err, path)) from err
    except Exception as err:  # anything else about the user's file: its name and the error type, no path
        raise gr.Error(f"{name}: cannot decode audio ({type(err).__name__})") from err
    if not np.isfinite(probs).all():
        raise gr.Error(f"{name}: the model gave non-finite (NaN/inf) scores")
    mean = np.average(probs, axis=0, weights=[s.length for s in spans])
    rows = [{label: round(float(p), 6) for label, p in zip(LABELS, row)} for row in probs]
    segments = segment_records([(s.start, s.end) for s in spans], rows)
    return {
        "file": name,
        "label": LABELS[int(mean.argmax())],
        "scores": {label: round(float(p), 6) for label, p in zip(LABELS, mean)},
        "duration_s": round(info.duration, 3),
        "segments": segments,
        "summary": speech_shares(segments, LABELS),
    }


def classify(path: str | None) -> dict[str, float]:
    """Label confidences of one audio file (`predict --chunk`)."""
    return analyse(path, "fixed")["scores"]


def segments(path: str | None) -> dict[str, Any]:
    """The speech segments of one recording, each classified (`predict --segment vad --json`)."""
    return analyse(path, "vad")


def page(path: str | None):
    duration = check_duration(path, None) if path else None
    long = bool(MAX_DURATION and duration and duration > MAX_DURATION)
    record = analyse(path, "vad" if long else "fixed")
    rows = [[s["start"], s["end"], s["label"], s["score"]] for s in record["segments"]]
    table = gr.Dataframe(value=rows, headers=["start_s", "end_s", "label", "score"], visible=long)
    return record["scores"], table


with gr.Blocks(title="Speech emotion recognition", analytics_enabled=False, delete_cache=DELETE_CACHE) as demo:
    gr.Markdown(
        f"# Speech emotion recognition\nClasses: {', '.join(LABELS)}."
        + (f" Recordings longer than {MAX_DURATION:g} s are cut at the speech." if MAX_DURATION else "")
    )
    audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Speech")
    button = gr.Button("Classify", variant="primary")
    label = gr.Label(num_top_classes=len(LABELS), label="Emotion")
    timeline = gr.Dataframe(label="Speech segments (seconds)", visible=False)
    button.click(page, inputs=audio, outputs=[label, timeline], api_visibility="private")
    gr.Button(visible=False).click(classify, inputs=audio, outputs=label, api_name="classify")
    gr.Button(visible=False).click(segments, inputs=audio, outputs=gr.JSON(visible=False), api_name="segments")
demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)

if __name__ == "__main__":
    demo.launch(max_file_size=MAX_FILE_SIZE, share=False, show_error=False)
