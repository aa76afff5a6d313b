"""The precision choice (`recipe.components.precision`): every branch with the hardware faked, explicit overrides,
impossible choices as config errors naming the key, and a real tiny training in the auto precision on the CPU that
runs the tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from recipe.components.config import ConfigError, build_training_arguments, load_config
from recipe.components.precision import (
    Hardware,
    choose_precision,
    probe_hardware,
    training_precision,
)
from tests.support.train_helpers import make_dataset, tiny_config, write_config

AMPERE = Hardware("cuda", gpu_name="NVIDIA A100", cuda_bf16=True)
T4 = Hardware("cuda", gpu_name="Tesla T4", cuda_bf16=False)
CPU_BF16 = Hardware("cpu", cpu_bf16_flags=("avx512_bf16",))
CPU_AMX = Hardware("cpu", cpu_bf16_flags=("amx_bf16",))
CPU_PLAIN = Hardware("cpu")
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only path")


@pytest.mark.parametrize(
    ("hardware", "expected"),
    [
        (AMPERE, "bf16"),
        (T4, "fp16"),
        (CPU_BF16, "bf16"),
        (CPU_AMX, "bf16"),
        (CPU_PLAIN, "fp32"),
        (Hardware("mps"), "fp32"),
    ],
)
def test_auto_picks_per_machine(hardware, expected):
    choice = choose_precision("auto", hardware)
    assert (choice.name, choice.requested, choice.device) == (expected, "auto", hardware.device)
    assert choice.reason


@pytest.mark.parametrize(
    ("requested", "hardware"),
    [
        ("fp32", AMPERE),
        ("fp16", AMPERE),
        ("fp32", CPU_BF16),
        ("bf16", CPU_BF16),
        ("bf16", CPU_PLAIN),
        ("fp16", T4),
    ],
)
def test_explicit_choice_overrides_auto(requested, hardware):
    assert choose_precision(requested, hardware).name == requested


def test_bf16_on_a_cpu_without_it_runs_emulated_and_says_so():
    assert "emulates" in choose_precision("bf16", CPU_PLAIN).reason


@pytest.mark.parametrize(
    ("requested", "hardware", "message"),
    [
        ("fp16", CPU_BF16, "fp16 needs a CUDA GPU"),
        ("fp16", CPU_PLAIN, "fp16 needs a CUDA GPU"),
        ("bf16", T4, "bf16 is not supported by the GPU Tesla T4"),
        ("fp8", AMPERE, "'fp8' is not a precision"),
    ],
)
def test_impossible_choice_is_a_one_line_config_error_naming_the_key(requested, hardware, message):
    with pytest.raises(ConfigError, match=message) as err:
        choose_precision(requested, hardware, key="recipe.precision")
    assert str(err.value).startswith("recipe.precision: ") and "\n" not in str(err.value)


def test_training_arguments_kwargs_per_machine():
    cpu, choice = training_precision({"dataloader_pin_memory": "auto"}, "auto", CPU_BF16)
    assert (cpu["bf16"], cpu["fp16"], cpu["use_cpu"], cpu["dataloader_pin_memory"]) == (True, False, True, False)
    assert choice.name == "bf16"
    gpu, _ = training_precision({"dataloader_pin_memory": "auto"}, "auto", T4)
    assert (gpu["bf16"], gpu["fp16"], gpu["dataloader_pin_memory"]) == (False, True, True) and "use_cpu" not in gpu
    plain, _ = training_precision({}, "auto", CPU_PLAIN)
    assert (plain["bf16"], plain["fp16"], plain["use_cpu"]) == (False, False, True)


def test_use_cpu_probes_the_cpu_even_beside_a_gpu():
    seen = []

    def probe(device=None):
        seen.append(device)
        return CPU_BF16 if device == "cpu" else AMPERE

    kwargs, choice = training_precision({"use_cpu": True}, "auto", probe=probe)
    assert seen == ["cpu"] and choice.device == "cpu" and kwargs["bf16"]


def test_training_fp16_bf16_flags_still_work():
    forced, choice = training_precision({"fp16": True, "bf16": "auto"}, "auto", AMPERE)
    assert (forced["fp16"], forced["bf16"], choice.requested) == (True, False, "fp16")
    off, _ = training_precision({"bf16": False}, "auto", CPU_BF16)  # false keeps auto from picking it
    assert (off["bf16"], off["fp16"]) == (False, False)
    old_gpu_default, _ = training_precision({"fp16": "auto", "bf16": False}, "auto", AMPERE)
    assert old_gpu_default["fp16"] and not old_gpu_default["bf16"]
    with pytest.raises(ConfigError, match="training.fp16: true contradicts recipe.precision: bf16"):
        training_precision({"fp16": True}, "bf16", AMPERE)
    with pytest.raises(ConfigError, match="training.bf16: false contradicts recipe.precision: bf16"):
        training_precision({"bf16": False}, "bf16", CPU_BF16)
    with pytest.raises(ConfigError, match="both true"):
        training_precision({"fp16": True, "bf16": True}, "auto", AMPERE)


def kernel_bf16_flags() -> set[str]:
    """The native-bf16 flags the kernel reports for this CPU (/proc/cpuinfo), read without the recipe or torch."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        pytest.skip("no /proc/cpuinfo to read the CPU flags from")
    line = next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags"))
    return set(line.split(":", 1)[1].split()) & {"avx512_bf16", "amx_bf16"}


def auto_on_this_cpu() -> str:
    """What `auto` must pick on this CPU: bf16 with a native-bf16 instruction set, else fp32."""
    return "bf16" if kernel_bf16_flags() else "fp32"


def test_real_probe_matches_the_kernels_cpu_flags():
    hw = probe_hardware("cpu")
    assert hw.device == "cpu" and set(hw.cpu_bf16_flags) == kernel_bf16_flags()
    assert choose_precision("auto", hw).name == auto_on_this_cpu()


@NO_CUDA
def test_bf16_on_cpu_builds_training_arguments_with_use_cpu(tmp_path):
    """transformers refuses `bf16=True` on CPU unless `use_cpu` is set: the recipe sets it."""
    args = build_training_arguments(load_config(None, ["--precision", "bf16"]), str(tmp_path))
    assert args.bf16 and not args.fp16 and args.use_cpu


@NO_CUDA
def test_cli_config_errors_name_the_key(tmp_path, capsys):
    from recipe.predict import main as predict_main
    from recipe.train import main as train_main

    assert train_main(["--data", str(tmp_path), "--output_dir", str(tmp_path / "o"), "--precision", "fp16"]) == 2
    err = capsys.readouterr().err.strip()
    assert "recipe.precision: fp16 needs a CUDA GPU" in err and len(err.splitlines()) == 1
    assert train_main(["--data", str(tmp_path), "--output_dir", str(tmp_path / "o"), "--precision", "half"]) == 2
    err = capsys.readouterr().err.strip()
    assert "recipe.precision" in err and "invalid choice: 'half'" in err and len(err.splitlines()) == 1
    assert predict_main([str(tmp_path), str(tmp_path), "--precision", "fp16", "--device", "cpu"]) == 2
    assert "--precision: fp16 needs a CUDA GPU" in capsys.readouterr().err


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory):
    """A real tiny training in the auto precision (bf16 on a CPU with AVX512-BF16/AMX), counting evaluations."""
    from transformers import TrainerCallback

    from recipe.train import main

    class CountEvaluations(TrainerCallback):
        evaluations = 0
        predictions = 0

        def on_evaluate(self, args, state, control, **kwargs):
            type(self).evaluations += 1

        def on_predict(self, args, state, control, **kwargs):
            type(self).predictions += 1

    root = tmp_path_factory.mktemp("auto_precision")
    data = make_dataset(root / "data", n_train=8, n_eval=4)
    cfg = tiny_config(
        recipe={"precision": "auto", "mixup_alpha": 0.0}, training={"num_train_epochs": 4, "learning_rate": 3e-3}
    )
    out = root / "out"
    assert (
        main(
            ["--config", write_config(root / "c.yaml", cfg), "--data", data, "--output_dir", str(out)],
            extra_callbacks=[CountEvaluations()],
        )
        == 0
    )
    return out, data, CountEvaluations


@pytest.mark.slow
def test_auto_training_records_precision_and_learns(auto_run):
    out, _, _ = auto_run
    info = json.loads((out / "run_info.json").read_text())
    assert (info["precision"], info["precision_requested"]) == (auto_on_this_cpu(), "auto")
    assert set(info["timings_s"]) == {"setup", "train", "after"}
    assert info["peak_memory_mb"]["rss"] > 100 and info["peak_memory_mb"]["gpu_allocated"] is None  # CPU run
    state = json.loads((out / "trainer_state.json").read_text())
    best_uar = max(e["eval_uar"] for e in state["log_history"] if "eval_uar" in e)
    assert best_uar > 0.5  # chance: 1/6


@pytest.mark.slow
def test_no_second_validation_pass_after_training(auto_run):
    """validation_results.json holds the metrics logged for the kept checkpoint; no extra pass over the data."""
    out, _, counts = auto_run
    state = json.loads((out / "trainer_state.json").read_text())
    assert counts.predictions == 0 and counts.evaluations == 4  # one per epoch
    logged = next(e for e in state["log_history"] if "eval_uar" in e and e["step"] == state["best_global_step"])
    val = json.loads((out / "validation_results.json").read_text())
    assert {k: val[k] for k in ("eval_uar", "eval_loss", "epoch")} == {
        k: logged[k] for k in ("eval_uar", "eval_loss", "epoch")
    }


@pytest.mark.slow
def test_evaluate_records_its_precision(auto_run):
    from recipe.components.evaluation import evaluate_model

    out, data, _ = auto_run
    results = evaluate_model(out, data, split="test", also=(), write=False, device="cpu")
    assert results["inference"]["precision"] == auto_on_this_cpu()
    fp32 = evaluate_model(out, data, split="test", also=(), write=False, device="cpu", precision="fp32")
    assert fp32["inference"]["precision"] == "fp32"
