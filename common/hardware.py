"""What a run or a measurement ran on: recorded in run_info.json (training) and bench/results.json (make bench)."""

from __future__ import annotations

import os
import platform
import resource
from typing import Any


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or platform.processor())."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def hardware_info(device: str | None = None) -> dict[str, Any]:
    """Device, CPU, GPU and library versions. ``device`` defaults to cuda when available, else cpu.

    torch, transformers and datasets are imported here, not at module level: they take seconds to import and
    the callers that only read a results file should not pay for them.
    """
    import datasets
    import torch
    import transformers

    cuda = torch.cuda.is_available()
    device = device or ("cuda" if cuda else "cpu")
    on_gpu = device.startswith("cuda") and cuda
    return {
        "device": device,
        "gpu_name": torch.cuda.get_device_name(0) if on_gpu else None,
        "gpu_count": torch.cuda.device_count() if cuda else 0,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "datasets": datasets.__version__,
    }


def peak_memory_mb(device: str) -> dict[str, float | None]:
    """The process's peak resident memory and, on a CUDA device, torch's peak allocated GPU memory, in MiB."""
    import torch

    on_gpu = device.startswith("cuda") and torch.cuda.is_available()
    return {
        "rss": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),  # Linux: KiB
        "gpu_allocated": round(torch.cuda.max_memory_allocated() / 2**20, 1) if on_gpu else None,
    }
