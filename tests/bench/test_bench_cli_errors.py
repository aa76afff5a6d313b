"""`python -m bench`: options that cannot work are one line and exit 2 before any measurement runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.__main__ import main


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dtype", "fp8"], "--dtype: unknown precision(s) fp8"),
        (["--models", "huge"], "--models: unknown model(s) huge"),
        (["--out", "/proc/no-such/results.json"], "cannot write in /proc/no-such"),
    ],
)
def test_bad_options_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["--only", "prepare", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--device", "cuda", "--out", str(tmp_path / "r.json")]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
