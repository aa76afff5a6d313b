"""Gradio Space for the speech emotion recognition model stored beside this file (written by
`python -m recipe.hub --with_app`). Self-contained: it needs the model repo's files and requirements.txt, not the
recipe's code. It answers as `python -m recipe.predict --chunk` does: audio decoded to 16 kHz mono, every
`max_duration` window classified on its own (no padding, so no answer depends on another clip), the overall
probabilities the length-weighted mean of the windows. API endpoint `classify`: audio file in, label confidences out.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import librosa
import numpy as np
import torch
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

HERE = Path(__file__).resolve().parent
MODEL = AutoModelForAudioClassification.from_pretrained(str(HERE), trust_remote_code=True).eval()
EXTRACTOR = AutoFeatureExtractor.from_pretrained(str(HERE), trust_remote_code=True)
LABELS = [MODEL.config.id2label[i] for i in range(MODEL.config.num_labels)]
SR = EXTRACTOR.sampling_rate
MAX_DURATION = getattr(EXTRACTOR, "max_duration", None)
MIN_SECONDS = 0.25  # shorter clips (and shorter final windows) are refused / dropped, as in recipe.predict


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
        wave, _ = librosa.load(path, sr=SR, mono=True)
    except Exception as err:  # any decoder failure is the user's file, shown in the page
        raise gr.Error(f"{Path(path).name}: cannot decode audio ({type(err).__name__})") from err
    if len(wave) < MIN_SECONDS * SR:
        raise gr.Error(f"{Path(path).name}: shorter than {MIN_SECONDS} s")
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


with gr.Blocks(title="Speech emotion recognition") as demo:
    gr.Markdown(f"# Speech emotion recognition\nClasses: {', '.join(LABELS)}.")
    audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Speech")
    button = gr.Button("Classify", variant="primary")
    label = gr.Label(num_top_classes=len(LABELS), label="Emotion")
    timeline = gr.Dataframe(label="Per-window timeline", visible=False)
    button.click(page, inputs=audio, outputs=[label, timeline], api_visibility="private")
    gr.Button(visible=False).click(classify, inputs=audio, outputs=label, api_name="classify")

if __name__ == "__main__":
    demo.launch()
