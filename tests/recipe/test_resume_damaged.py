"""--resume with a damaged newest checkpoint (as a kill during a save leaves it): the damaged file is named, the
newest intact checkpoint is used, and the skipped one is said."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from recipe.components.checkpoints import checkpoint_problem, newest_intact_checkpoint
from recipe.train import main
from tests.support.train_helpers import make_dataset, tiny_config, write_config


def truncate(path: Path, keep: float = 0.5) -> None:
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


DAMAGE = {
    "model.safetensors": lambda ck: truncate(ck / "model.safetensors"),
    "trainer_state.json": lambda ck: (ck / "trainer_state.json").unlink(),
    "optimizer.pt": lambda ck: truncate(ck / "optimizer.pt", 0.9),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    """A finished 2-epoch tiny run with checkpoint-2 and checkpoint-4 (2 steps per epoch)."""
    base = tmp_path_factory.mktemp("run")
    data = make_dataset(base / "data", n_train=1, n_eval=1)
    config = write_config(base / "c.yaml", tiny_config(training={"per_device_train_batch_size": 3}))
    out = base / "out"
    assert main(["--config", config, "--data", data, "--output_dir", str(out)]) == 0
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    return config, data, out


def fake_checkpoint(folder: Path) -> Path:
    """A checkpoint folder in the Trainer's real file formats (safetensors weights, torch.save zips, JSON state)."""
    folder.mkdir(parents=True)
    save_file({"w": torch.randn(64, 64), "b": torch.zeros(64)}, folder / "model.safetensors")
    torch.save({"state": {0: {"exp_avg": torch.randn(64, 64)}}, "param_groups": []}, folder / "optimizer.pt")
    torch.save({"last_epoch": 1}, folder / "scheduler.pt")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": int(folder.name.split("-")[1])}))
    return folder


@pytest.mark.parametrize("damaged_file", sorted(DAMAGE))
def test_checkpoint_checks_name_the_damaged_file(tmp_path: Path, damaged_file: str) -> None:
    old, new = fake_checkpoint(tmp_path / "checkpoint-10"), fake_checkpoint(tmp_path / "checkpoint-20")
    fake_checkpoint(tmp_path / "checkpoint-5")
    assert newest_intact_checkpoint(tmp_path) == (new, [])
    DAMAGE[damaged_file](new)
    found, skipped = newest_intact_checkpoint(tmp_path)
    assert found == old and [(p.name, damaged_file in why) for p, why in skipped] == [("checkpoint-20", True)]


@pytest.mark.slow
@pytest.mark.parametrize("damaged_file", sorted(DAMAGE))
def test_resume_skips_a_damaged_newest_checkpoint(
    trained, tmp_path: Path, damaged_file: str, capsys: pytest.CaptureFixture
) -> None:
    config, data, done = trained
    out = tmp_path / "out"
    shutil.copytree(done, out)
    DAMAGE[damaged_file](out / "checkpoint-4")
    assert damaged_file in checkpoint_problem(out / "checkpoint-4")
    assert checkpoint_problem(out / "checkpoint-2") is None
    capsys.readouterr()
    assert main(["--config", config, "--data", data, "--output_dir", str(out), "--resume"]) == 0
    stdout = capsys.readouterr().out
    assert f"skipping damaged checkpoint-4 ({damaged_file}" in stdout and "resuming from checkpoint-2" in stdout
    assert json.loads((out / "run_info.json").read_text())["resumed_from"].endswith("checkpoint-2")


@pytest.mark.slow
def test_every_checkpoint_damaged_is_one_line_exit_2(trained, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config, data, done = trained
    out = tmp_path / "out"
    shutil.copytree(done, out)
    for ck in out.glob("checkpoint-*"):
        truncate(ck / "model.safetensors")
    assert newest_intact_checkpoint(out)[0] is None
    assert main(["--config", config, "--data", data, "--output_dir", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "checkpoint-4: model.safetensors: truncated" in err
    assert (
        main(
            [
                "--config",
                config,
                "--data",
                data,
                "--output_dir",
                str(out),
                "--resume_from_checkpoint",
                str(out / "checkpoint-2"),
            ]
        )
        == 2
    )
    assert "checkpoint-2: model.safetensors: truncated" in capsys.readouterr().err
