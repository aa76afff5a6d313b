"""The checkpoint check reads any malformed safetensors header as "damaged" and skips that checkpoint: a header that
is valid JSON but not the format's shape must never raise (KeyError, TypeError, RecursionError...) out of --resume."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from recipe.components.checkpoints import newest_intact_checkpoint, safetensors_problem


def raw_safetensors(path: Path, header: bytes, payload: bytes = b"\0" * 16, claimed: int | None = None) -> Path:
    """A .safetensors file byte for byte: 8-byte little-endian header length, header, tensor bytes."""
    path.write_bytes(struct.pack("<Q", len(header) if claimed is None else claimed) + header + payload)
    return path


def checkpoint(folder: Path) -> Path:
    folder.mkdir(parents=True)
    save_file({"w": torch.ones(2, 2)}, folder / "model.safetensors")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": int(folder.name.split("-")[1])}))
    return folder


ENTRY = {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}
MALFORMED = {
    "no data_offsets": json.dumps({"w": {"dtype": "F32", "shape": [4]}}).encode(),
    "offsets a string": json.dumps({"w": {**ENTRY, "data_offsets": "0,16"}}).encode(),
    "offsets of strings": json.dumps({"w": {**ENTRY, "data_offsets": ["0", "16"]}}).encode(),
    "offsets one number": json.dumps({"w": {**ENTRY, "data_offsets": [16]}}).encode(),
    "offsets null": json.dumps({"w": {**ENTRY, "data_offsets": None}}).encode(),
    "offsets negative": json.dumps({"w": {**ENTRY, "data_offsets": [-16, 0]}}).encode(),
    "offsets reversed": json.dumps({"w": {**ENTRY, "data_offsets": [16, 0]}}).encode(),
    "entry a list": json.dumps({"w": [0, 16]}).encode(),
    "entry a number": json.dumps({"w": 3}).encode(),
    "no dtype": json.dumps({"w": {"shape": [4], "data_offsets": [0, 16]}}).encode(),
    "header a list": b"[[0, 16]]",
    "header null": b"null",
    "header a string": b'"model"',
    "header nested 100000 deep": b"[" * 100_000 + b"]" * 100_000,
    "5000-digit offset": b'{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, ' + b"9" * 5000 + b"]}}",
    "header not UTF-8": b'{"w\xff": 1}',
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_header_is_reported_damaged_not_raised(tmp_path: Path, case: str) -> None:
    path = raw_safetensors(tmp_path / "model.safetensors", MALFORMED[case])
    problem = safetensors_problem(path)
    assert problem is not None and problem.startswith("model.safetensors: damaged header")


def test_header_length_beyond_the_format_limit_is_refused_before_reading(tmp_path: Path) -> None:
    # 200 MB of header in a file that really holds it would be read whole; the format caps headers at 100 MB.
    path = raw_safetensors(tmp_path / "model.safetensors", b"{}", claimed=2**63)
    assert "damaged header (claims 9223372036854775808 bytes" in safetensors_problem(path)
    with path.open("r+b") as fh:  # a sparse file as long as the header it claims
        fh.truncate(8 + 200_000_000)
        fh.seek(0)
        fh.write(struct.pack("<Q", 200_000_000))
    assert "damaged header (claims 200000000 bytes" in safetensors_problem(path)


def test_a_well_formed_header_still_passes(tmp_path: Path) -> None:
    good = raw_safetensors(tmp_path / "model.safetensors", json.dumps({"w": ENTRY, "__metadata__": {}}).encode())
    assert safetensors_problem(good) is None
    short = raw_safetensors(tmp_path / "short.safetensors", json.dumps({"w": ENTRY}).encode(), payload=b"\0" * 8)
    assert "truncated" in safetensors_problem(short)


@pytest.mark.parametrize("case", ["no data_offsets", "entry a list", "header a list", "header nested 100000 deep"])
def test_resume_skips_a_checkpoint_with_a_malformed_header(tmp_path: Path, case: str) -> None:
    older, newer = checkpoint(tmp_path / "checkpoint-2"), checkpoint(tmp_path / "checkpoint-4")
    raw_safetensors(newer / "model.safetensors", MALFORMED[case])
    found, skipped = newest_intact_checkpoint(tmp_path)
    assert found == older
    assert [(p.name, why.split(" (")[0]) for p, why in skipped] == [
        ("checkpoint-4", "model.safetensors: damaged header")
    ]


@pytest.mark.parametrize("state", [b"[" * 100_000 + b"]" * 100_000, b'{"global_step": ' + b"1" * 5000 + b"}"])
def test_malformed_trainer_state_is_reported_not_raised(tmp_path: Path, state: bytes) -> None:
    older, newer = checkpoint(tmp_path / "checkpoint-2"), checkpoint(tmp_path / "checkpoint-4")
    (newer / "trainer_state.json").write_bytes(state)
    found, skipped = newest_intact_checkpoint(tmp_path)
    assert found == older and skipped[0][1].startswith("trainer_state.json: not valid JSON")
