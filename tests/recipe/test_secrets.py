"""A credential given to the recipe is never written: a fake token goes through data_prep → train (with push) →
evaluate → card → the experiment runner → recipe.hub, then every file written and every line printed is searched
for it (the Trainer's pickled training_args.bin aside: it is never pushed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.secrets import REDACTED, is_secret_key, redact, redact_argv
from model_card.__main__ import main as card_main
from recipe.evaluate import main as evaluate_main
from recipe.experiments import main as experiments_main
from tests.support.hub_server import HubServer, Repo
from tests.support.train_helpers import REPO, tiny_config, write_config

HUB_TOKEN = "hf_FAKEsecret0123456789abcdefXYZ"  # also the local Hub's accepted token
ENCODER_TOKEN = "encoder-token-FAKE-7f3a9c51"  # not shaped like an HF token: found by its key only
REPO_ID = "someone/ser-secret"


def test_redaction_rules() -> None:
    assert is_secret_key("hub_token") and is_secret_key("token") and is_secret_key("--training.hub_token")
    assert is_secret_key("db_password") and not is_secret_key("pad_token_id") and not is_secret_key("tokens_seen")
    cfg = {"training": {"hub_token": "abcdefgh", "seed": 1}, "model": {"encoder_config": {"token": "xyz12345"}}}
    assert redact(cfg) == {
        "training": {"hub_token": REDACTED, "seed": 1},
        "model": {"encoder_config": {"token": REDACTED}},
    }
    argv = ["--hub_token", "abcdefgh", "--training.hub_token=qwertyui", "--model.encoder_config", "{token: abcdefgh}"]
    assert redact_argv(argv) == [
        "--hub_token",
        REDACTED,
        f"--training.hub_token={REDACTED}",
        "--model.encoder_config",
        f"{{token: {REDACTED}}}",
    ]
    assert redact_argv(["--note", f"uses {HUB_TOKEN}"]) == ["--note", f"uses {REDACTED}"]


def _env(root: Path, endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "TRANSFORMERS_OFFLINE"))}
    env.update(PYTHONPATH=str(REPO), HF_ENDPOINT=endpoint, HF_HOME=str(root / "hf_home"))
    env.update(HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    return env


def _run(args: list[str], env: dict[str, str], logs: list[str]) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    logs += [proc.stdout, proc.stderr]
    assert proc.returncode == 0, f"{args[0]}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.slow
def test_no_file_or_log_holds_the_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw, prep, out, exp = tmp_path / "raw", tmp_path / "prepared", tmp_path / "model", tmp_path / "experiment"
    logs: list[str] = []
    offline = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    _run(
        ["demo.corpus", "--output", str(raw), "--speakers", "4", "--clips_per_speaker_per_emotion", "1"], offline, logs
    )
    prep_args = ["--config", str(REPO / "configs/demo_data.yaml"), "--corpus", f"folder={raw}", "--output", str(prep)]
    _run(["data_prep", *prep_args, "--per_class", "0", "--max_duration", "1.0", "--workers", "1"], offline, logs)
    cfg = tiny_config(training={"num_train_epochs": 1})
    cfg["model"]["encoder_config"]["token"] = ENCODER_TOKEN
    config = write_config(tmp_path / "tiny.yaml", cfg)

    with HubServer(HUB_TOKEN) as hub:
        # A card and eval_results.json of an earlier push: the push at the end of training removes them.
        hub.state.repos[REPO_ID] = Repo(
            files={"README.md": b"old card", "eval_results.json": b"{}"}, commits=["1" * 40]
        )
        env = _env(tmp_path, hub.url)
        train_args = ["--config", config, "--data", str(prep), "--output_dir", str(out), "--hub_token", HUB_TOKEN]
        trained = _run(["recipe.train", *train_args, "--push_to_hub", "--hub_model_id", REPO_ID], env, logs)
        files = hub.state.repos[REPO_ID].files
        assert "model.safetensors" in files and "train_config.yaml" in files, sorted(files)
        assert "README.md" not in files and "eval_results.json" not in files  # never a card older than the weights
        assert "training_args.bin" not in files and not any(f.startswith("checkpoint-") for f in files)
        assert "no model card pushed yet" in trained.stdout

        assert evaluate_main(["--model", str(out), "--data", str(prep), "--precision", "fp32"]) == 0
        assert card_main(["--model", str(out), "--data", str(prep)]) == 0
        assert REDACTED in (out / "README.md").read_text() or "hub_token" not in (out / "README.md").read_text()
        pushed = _run(
            ["recipe.hub", "--model", str(out), "--hub_model_id", REPO_ID], {**env, "HF_TOKEN": HUB_TOKEN}, logs
        )
        assert "pushed" in pushed.stdout and "README.md" in hub.state.repos[REPO_ID].files
        uploaded = dict(hub.state.repos[REPO_ID].files)

    exp_args = ["--config", config, "--data", str(prep), "--output", str(exp), "--seeds", "1", "--variants", "baseline"]
    assert experiments_main([*exp_args, "--hub_token", HUB_TOKEN, "--training.num_train_epochs", "1"]) == 0
    assert f"--hub_token '{REDACTED}'" in (exp / "ablation_results.md").read_text()  # shell-quoted
    captured = capsys.readouterr()
    logs += [captured.out, captured.err]

    leaks = []
    for path in sorted(tmp_path.rglob("*")):
        written = path != Path(config) and path.name != "training_args.bin"  # the user's own config holds it
        if path.is_file() and written and "hf_home" not in path.parts:
            data = path.read_bytes()
            leaks += [f"{path.relative_to(tmp_path)}: {s}" for s in (HUB_TOKEN, ENCODER_TOKEN) if s.encode() in data]
    leaks += [f"pushed {name}" for name, data in uploaded.items() if HUB_TOKEN.encode() in data]
    leaks += [f"log line: {s}" for text in logs for s in (HUB_TOKEN, ENCODER_TOKEN) if s in text]
    assert not leaks, leaks
    assert (out / "train_config.yaml").is_file() and (exp / "runs" / "baseline").is_dir()  # the files were searched


def test_card_of_an_older_run_with_a_token_does_not_show_it(fake_run) -> None:
    import yaml

    out, data = fake_run
    cfg = yaml.safe_load((out / "train_config.yaml").read_text())
    cfg.setdefault("training", {})["hub_token"] = HUB_TOKEN  # written before redaction existed
    (out / "train_config.yaml").write_text(yaml.safe_dump(cfg))
    assert card_main(["--model", str(out), "--data", str(data)]) == 0
    assert HUB_TOKEN not in (out / "README.md").read_text()
