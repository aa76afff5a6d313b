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


# safetensors' own reader refuses headers above 100 MB (MAX_HEADER_SIZE in the safetensors crate).
MAX_HEADER_BYTES = 100_000_000


def safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file is unusable (cut short, bad header), or None when its size matches its header.

    Any header that is not the format's shape (a JSON object of {"dtype": str, "shape": [int], "data_offsets":
    [begin, end]} entries beside an optional "__metadata__") is reported as damaged, never raised."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return f"{path.name}: truncated ({size} bytes, no header)"
            header_len = struct.unpack("<Q", head)[0]
            if header_len > MAX_HEADER_BYTES:
                return f"{path.name}: damaged header (claims {header_len} bytes, the format allows {MAX_HEADER_BYTES})"
            if 8 + header_len > size:
                return f"{path.name}: truncated (header of {header_len} bytes, file holds {size})"
            raw = fh.read(header_len)
    except OSError as err:
        return f"{path.name}: unreadable ({err.strerror or err})"
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):  # ValueError: JSONDecodeError, over-long integers
        return f"{path.name}: damaged header (not JSON)"
    end = _tensor_data_end(header)
    if isinstance(end, str):
        return f"{path.name}: damaged header ({end})"
    expected = 8 + header_len + end
    if size < expected:
        return f"{path.name}: truncated ({size} of {expected} bytes)"
    return None


def _tensor_data_end(header: object) -> int | str:
    """The largest end offset of the header's tensors, or what is wrong with the header's shape."""
    if not isinstance(header, dict):
        return f"a JSON {type(header).__name__}, not an object"
    end = 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        if not isinstance(entry, dict):
            return f"entry {key!r} is not an object"
        offsets = entry.get("data_offsets")
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
            and offsets[0] <= offsets[1]
        ):
            return f"entry {key!r}: data_offsets {offsets!r} is not [begin, end] with 0 <= begin <= end"
        if not isinstance(entry.get("dtype"), str) or not isinstance(entry.get("shape"), list):
            return f"entry {key!r}: no dtype string or shape list"
        end = max(end, offsets[1])
    return end


def torch_file_problem(path: Path) -> str | None:
    """Why a torch.save file (.pt/.pth, a zip archive) is unusable, or None when its zip directory reads."""
    try:
        with zipfile.ZipFile(path) as archive:
            archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
        return f"{path.name}: truncated or damaged ({err})"
    return None


def checkpoint_problem(folder: Path) -> str | None:
    """The first damaged or missing file of a Trainer checkpoint folder (named, with the reason), or None."""
    state = folder / "trainer_state.json"
    if not state.is_file():
        return "trainer_state.json missing (the save was cut short)"
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        return f"trainer_state.json: not valid JSON ({type(err).__name__}: {str(err)[:100]})"
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
