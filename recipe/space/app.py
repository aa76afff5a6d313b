"""Gradio Space for the speech emotion recognition model stored beside this file (written by
`python -m recipe.hub --with_app`). It needs the model repo's files, requirements.txt and the modules
`recipe.hub` ships beside it (`data_prep/audio.py`, `data_prep/audio_limits.py`, `common/cli.py`, copied from the
recipe), not the rest of the recipe. It answers as `python -m recipe.predict --chunk` does: audio decoded and
checked by the same `data_prep.audio.load_clip` (silent, constant, NaN/inf, too short and undecodable files refused
with their reason),
every `max_duration` window classified on its own (no padding, so no answer depends on another clip), the overall
probabilities the length-weighted mean of the windows. API endpoint `classify`: audio file in, label confidences out.

Limits, the defaults of `python -m recipe.app` (recipe/components/app_limits.py): uploads up to MAX_FILE_SIZE,
audio up to MAX_AUDIO_S seconds (refused from the header, before decoding), QUEUE_SIZE waiting requests, CONCURRENCY
at once, no share link, analytics off, uploads deleted from Gradio's cache after an hour; messages name the file,
never a server path.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np
import torch
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

from data_prep.audio import AudioError
from data_prep.audio_limits import load_limited_clip, public_message

HERE = Path(__file__).resolve().parent
MODEL = AutoModelForAudioClassification.from_pretrained(str(HERE), trust_remote_code=True).eval()
EXTRACTOR = AutoFeatureExtractor.from_pretrained(str(HERE), trust_remote_code=True)
LABELS = [MODEL.config.id2label[i] for i in range(MODEL.config.num_labels)]
SR = EXTRACTOR.sampling_rate
MAX_DURATION = getattr(EXTRACTOR, "max_duration", None)
MIN_SECONDS = 0.25  # shorter clips (and shorter final windows) are refused / dropped, as in recipe.predict
MAX_FILE_SIZE = "50mb"
MAX_AUDIO_S = 600.0
QUEUE_SIZE = 16
CONCURRENCY = 1
DELETE_CACHE = (3600, 3600)  # every hour, delete cached uploads older than an hour


def windows(wave: np.ndarray) -> list[np.ndarray]:
    """Consecutive MAX_DURATION windows; a final remainder under MIN_SECONDS is dropped unless it is the clip."""
    if not MAX_DURATION:
        return [wave]
    size = round(MAX_DURATION * SR)
    pieces = [wave[start : start + size] for start in range(0, len(wave), size)]
    if len(pieces) > 1 and len(pieces[-1]) < MIN_SECONDS * SR:
        pieces.pop()
    return pieces


@torch.inference_mode()
def window_probabilities(path: str | None) -> tuple[np.ndarray, list[np.ndarray]]:
    """Class probabilities of every window of the file, and the windows; gr.Error when it cannot be used."""
    if not path:
        raise gr.Error("no audio: upload a file or record one first")
    try:
        wave, _ = load_limited_clip(path, SR, MAX_AUDIO_S, MIN_SECONDS)
    except AudioError as err:
        raise gr.Error(public_message(err, path)) from err
    except Exception as err:  # anything else about the user's file: its name and the error type, no path
        raise gr.Error(f"{Path(path).name}: cannot decode audio ({type(err).__name__})") from err
    pieces = windows(wave)
    probs = [
        torch.softmax(MODEL(**EXTRACTOR(piece, sampling_rate=SR, return_tensors="pt")).logits, -1)[0].numpy()
        for piece in pieces
    ]
    return np.stack(probs), pieces


def classify(path: str | None) -> dict[str, float]:
    """Label confidences of one audio file."""
    probs, pieces = window_probabilities(path)
    mean = np.average(probs, axis=0, weights=[len(p) for p in pieces])
    return {label: round(float(p), 6) for label, p in zip(LABELS, mean)}


def page(path: str | None):
    probs, pieces = window_probabilities(path)
    mean = np.average(probs, axis=0, weights=[len(p) for p in pieces])
    starts = np.cumsum([0] + [len(p) for p in pieces]) / SR
    rows = [
        [round(starts[i], 3), round(starts[i + 1], 3), LABELS[int(row.argmax())], *np.round(row, 4).tolist()]
        for i, row in enumerate(probs)
    ]
    timeline = gr.Dataframe(value=rows, headers=["start_s", "end_s", "label", *LABELS], visible=len(rows) > 1)
    return {label: float(p) for label, p in zip(LABELS, mean)}, timeline


with gr.Blocks(title="Speech emotion recognition", analytics_enabled=False, delete_cache=DELETE_CACHE) as demo:
    gr.Markdown(f"# Speech emotion recognition\nClasses: {', '.join(LABELS)}.")
    audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Speech")
    button = gr.Button("Classify", variant="primary")
    label = gr.Label(num_top_classes=len(LABELS), label="Emotion")
    timeline = gr.Dataframe(label="Per-window timeline", visible=False)
    button.click(page, inputs=audio, outputs=[label, timeline], api_visibility="private")
    gr.Button(visible=False).click(classify, inputs=audio, outputs=label, api_name="classify")
demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)

if __name__ == "__main__":
    demo.launch(max_file_size=MAX_FILE_SIZE, share=False, show_error=False)
