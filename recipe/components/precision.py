"""The numeric precision of training and inference: one decision per machine, made here and nowhere else.

``auto`` (the default everywhere: `recipe.precision`, `recipe.evaluate --precision`, `recipe.predict --precision`,
the bench and the demo) picks the fastest precision the hardware runs natively:

* a CUDA GPU with bf16 (Ampere and newer): bf16 autocast;
* an older CUDA GPU (e.g. T4, Volta): fp16 autocast with loss scaling;
* a CPU with native bf16 instructions (AVX512-BF16 or AMX-BF16): bf16 autocast;
* anything else (other CPUs, Apple MPS and other accelerators): fp32.

``fp32``, ``fp16`` and ``bf16`` choose explicitly. An impossible choice (fp16 without a CUDA GPU, bf16 on a GPU
without bf16) is a `ConfigError` naming the key. bf16 on a CPU without native support is allowed (torch emulates
it, slowly). The hardware probe is a plain function argument so tests can fake every branch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from common.config import AUTO, ConfigError

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
# /proc/cpuinfo flags of native bf16 arithmetic on x86: AVX512-BF16 (Cooper Lake, Zen 4+) and AMX-BF16 (Sapphire
# Rapids+). Same names in torch.cpu.get_capabilities().
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class Hardware:
    """What the precision choice depends on: the device that will run the model and its bf16 support."""

    device: str  # "cuda", "cpu", or another accelerator's device type ("mps", "xpu", ...)
    gpu_name: str | None = None
    cuda_bf16: bool = False  # torch.cuda.is_bf16_supported() on that GPU
    cpu_bf16_flags: tuple[str, ...] = ()  # the CPU_BF16_FLAGS this CPU has

    @property
    def cpu_bf16(self) -> bool:
        return bool(self.cpu_bf16_flags)


def cpu_bf16_flags() -> tuple[str, ...]:
    """Which native-bf16 instruction sets the CPU has, from torch's cpuinfo-based `torch.cpu.get_capabilities()`
    (torch >= 2.8); older torch: its private AVX512-BF16 probe plus the /proc/cpuinfo flags."""
    get_capabilities = getattr(torch.cpu, "get_capabilities", None)
    if get_capabilities is not None:
        caps = get_capabilities()
        return tuple(flag for flag in CPU_BF16_FLAGS if caps.get(flag))
    found = set()
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    if probe is not None and probe():
        found.add("avx512_bf16")
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    found.update(flag for flag in CPU_BF16_FLAGS if flag in line.split())
                    break
    except OSError:
        pass
    return tuple(flag for flag in CPU_BF16_FLAGS if flag in found)


def probe_hardware(device: str | torch.device | None = None) -> Hardware:
    """The hardware that `device` means (None: what the Trainer would use, CUDA first, then another accelerator,
    then the CPU)."""
    if device is None:
        if torch.cuda.is_available():
            device_type = "cuda"
        else:
            accelerator = torch.accelerator.current_accelerator() if hasattr(torch, "accelerator") else None
            device_type = accelerator.type if accelerator is not None else "cpu"
    else:
        device_type = torch.device(device).type
    if device_type == "cuda":
        index = torch.device(device).index if device is not None and torch.device(device).index is not None else 0
        return Hardware(
            "cuda", gpu_name=torch.cuda.get_device_name(index), cuda_bf16=bool(torch.cuda.is_bf16_supported())
        )
    if device_type == "cpu":
        return Hardware("cpu", cpu_bf16_flags=cpu_bf16_flags())
    return Hardware(device_type)


@dataclass(frozen=True)
class Precision:
    """The precision chosen, for which device, and why (recorded in run_info.json and eval_results.json)."""

    name: str  # "fp32", "fp16" or "bf16"
    requested: str
    device: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def _auto(hw: Hardware, excluded: frozenset[str]) -> tuple[str, str]:
    if hw.device == "cuda":
        if hw.cuda_bf16 and "bf16" not in excluded:
            return "bf16", f"CUDA GPU with bf16 ({hw.gpu_name})"
        if "fp16" not in excluded:
            return "fp16", f"CUDA GPU without bf16 ({hw.gpu_name}): fp16 with loss scaling"
        return "fp32", "CUDA GPU, mixed precision turned off"
    if hw.device == "cpu":
        if hw.cpu_bf16 and "bf16" not in excluded:
            return "bf16", f"CPU with native bf16 ({', '.join(hw.cpu_bf16_flags)})"
        if hw.cpu_bf16:
            return "fp32", "CPU with native bf16, bf16 turned off"
        return "fp32", "CPU without native bf16 (no avx512_bf16 / amx_bf16)"
    return "fp32", f"{hw.device} device: mixed precision is chosen automatically on CUDA GPUs and CPUs only"


def choose_precision(
    requested: str = AUTO,
    hardware: Hardware | None = None,
    key: str = "recipe.precision",
    excluded: frozenset[str] = frozenset(),
    probe: Callable[[], Hardware] = probe_hardware,
) -> Precision:
    """Resolve `requested` (auto|fp32|fp16|bf16) for `hardware` (probed when None); `excluded` lists precisions
    that `auto` must not pick. Errors name `key`."""
    requested = str(requested).lower()
    if requested not in PRECISIONS:
        raise ConfigError(f"{key}: {requested!r} is not a precision; choose one of {', '.join(PRECISIONS)}")
    hw = hardware if hardware is not None else probe()
    if requested == AUTO:
        name, reason = _auto(hw, excluded)
        return Precision(name, requested, hw.device, reason)
    if requested == "fp32" or hw.device not in ("cuda", "cpu"):  # other accelerators: TrainingArguments checks
        return Precision(requested, requested, hw.device, "chosen explicitly")
    if requested == "fp16" and hw.device != "cuda":
        raise ConfigError(f"{key}: fp16 needs a CUDA GPU (this run uses the CPU); use bf16, fp32 or auto")
    if requested == "bf16" and hw.device == "cuda" and not hw.cuda_bf16:
        raise ConfigError(f"{key}: bf16 is not supported by the GPU {hw.gpu_name}; use fp16, fp32 or auto")
    reason = "chosen explicitly"
    if requested == "bf16" and hw.device == "cpu" and not hw.cpu_bf16:
        reason += "; this CPU has no native bf16, torch emulates it (slower than fp32)"
    return Precision(requested, requested, hw.device, reason)


def training_precision(
    training: dict[str, Any],
    requested: str = AUTO,
    hardware: Hardware | None = None,
    probe: Callable[..., Hardware] = probe_hardware,
) -> tuple[dict[str, Any], Precision]:
    """`TrainingArguments` kwargs with fp16/bf16/use_cpu/dataloader_pin_memory set for `requested`, and the choice.

    `training.fp16` / `training.bf16` (TrainingArguments' own flags, default auto) still work: true forces that
    precision, false keeps `auto` from picking it; both must agree with an explicit `recipe.precision`.
    `use_cpu` is set whenever no GPU will be used (transformers refuses bf16 on CPU without it).
    """
    out = dict(training)
    flags = {name: out.get(name, AUTO) for name in ("fp16", "bf16")}
    forced = [name for name, value in flags.items() if value is True]
    if len(forced) == 2:
        raise ConfigError("training.fp16 and training.bf16 are both true; set recipe.precision instead")
    if forced:
        if requested not in (AUTO, forced[0]):
            raise ConfigError(f"training.{forced[0]}: true contradicts recipe.precision: {requested}")
        requested = forced[0]
    excluded = frozenset(name for name, value in flags.items() if value is False)
    if requested in excluded:
        raise ConfigError(f"training.{requested}: false contradicts recipe.precision: {requested}")
    if hardware is None:
        hardware = probe("cpu") if out.get("use_cpu") else probe()
    choice = choose_precision(requested, hardware, "recipe.precision", excluded)
    out["fp16"], out["bf16"] = choice.name == "fp16", choice.name == "bf16"
    if hardware.device == "cpu":
        out["use_cpu"] = True
    if out.get("dataloader_pin_memory", True) == AUTO:
        out["dataloader_pin_memory"] = hardware.device == "cuda"
    return out, choice


def precision_of(training_args: Any) -> str:
    """ "bf16", "fp16" or "fp32": what a `TrainingArguments` trains in."""
    return "bf16" if training_args.bf16 else "fp16" if training_args.fp16 else "fp32"
