"""The emotion timeline of a segmented recording for the web demo: a chart (one row per emotion, each segment a bar
in its label's colour, darker for a higher score) and the CSV / JSON / VTT files of `recipe.predict --format`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files and Gradio figures only, never a display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from recipe.components.segment_output import make_writer  # noqa: E402


def timeline_figure(prediction: dict[str, Any]) -> Figure:
    """Emotion over time of one `Prediction.to_dict()` with segments: x = seconds, one row per class."""
    labels = list(prediction["scores"])
    colours = {label: plt.get_cmap("tab10")(i % 10) for i, label in enumerate(labels)}
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(labels) + 1.2), dpi=100)
    for seg in prediction["segments"]:
        row = labels.index(seg["label"])
        ax.barh(
            row,
            seg["end"] - seg["start"],
            left=seg["start"],
            height=0.7,
            color=colours[seg["label"]],
            alpha=0.35 + 0.65 * seg["score"],
        )
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlim(0, prediction["duration_s"])
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel("time (s)")
    ax.set_title(f"Emotion over time: {len(prediction['segments'])} speech segments")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def write_downloads(prediction: dict[str, Any], folder: str | Path, stem: str = "segments") -> list[Path]:
    """`stem`.csv, .json and .vtt of one prediction in `folder` (the same writers as `recipe.predict --format`)."""
    paths = []
    for fmt in ("csv", "json", "vtt"):
        path = Path(folder) / f"{stem}.{fmt}"
        with open(path, "w", encoding="utf-8", newline="") as out:
            if fmt == "json":
                json.dump(prediction, out, indent=2)
            else:
                writer = make_writer(fmt, out)
                writer.write(prediction)
                writer.close()
        paths.append(path)
    return paths
