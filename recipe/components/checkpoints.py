"""Which Trainer checkpoint `--resume` can continue from: the newest whose files are whole.

A kill during a save leaves a checkpoint folder without trainer_state.json (the Trainer writes it last) or with a
truncated weights/optimizer file. `transformers.trainer_utils.get_last_checkpoint` picks the newest folder by step
number without looking inside, and loading a damaged one fails with errors that do not name the file; these checks
read only file headers (safetensors) and zip directories (torch .pt/.pth), so they cost milliseconds.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from pathlib import Path

CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")


def safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file is unusable (cut short, bad header), or None when its size matches its header."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return f"{path.name}: truncated ({size} bytes, no header)"
        header_len = struct.unpack("<Q", head)[0]
        if 8 + header_len > size:
            return f"{path.name}: truncated (header of {header_len} bytes, file holds {size})"
        try:
            header = json.loads(fh.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return f"{path.name}: damaged header (not JSON)"
    ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    expected = 8 + header_len + max(ends, default=0)
    if size < expected:
        return f"{path.name}: truncated ({size} of {expected} bytes)"
    return None


def torch_file_problem(path: Path) -> str | None:
    """Why a torch.save file (.pt/.pth, a zip archive) is unusable, or None when its zip directory reads."""
    try:
        with zipfile.ZipFile(path) as archive:
            archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        return f"{path.name}: truncated or damaged ({err})"
    return None


def checkpoint_problem(folder: Path) -> str | None:
    """The first damaged or missing file of a Trainer checkpoint folder (named, with the reason), or None."""
    state = folder / "trainer_state.json"
    if not state.is_file():
        return "trainer_state.json missing (the save was cut short)"
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"trainer_state.json: not valid JSON ({err})"
    weights = sorted(folder.glob("*.safetensors"))
    if not weights and not (folder / "pytorch_model.bin").is_file():
        return "model.safetensors missing"
    for path in weights:
        if problem := safetensors_problem(path):
            return problem
    for path in sorted([*folder.glob("*.pt"), *folder.glob("*.pth"), *folder.glob("pytorch_model.bin")]):
        if problem := torch_file_problem(path):
            return problem
    return None


def checkpoints_newest_first(output_dir: Path) -> list[Path]:
    """The checkpoint-N folders of `output_dir`, highest step first."""
    found = [(int(m.group(1)), p) for p in output_dir.iterdir() if p.is_dir() and (m := CHECKPOINT_DIR.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def newest_intact_checkpoint(output_dir: Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The newest checkpoint whose files are whole, and each newer damaged one with its problem."""
    skipped: list[tuple[Path, str]] = []
    for folder in checkpoints_newest_first(output_dir) if output_dir.is_dir() else []:
        problem = checkpoint_problem(folder)
        if problem is None:
            return folder, skipped
        skipped.append((folder, problem))
    return None, skipped
