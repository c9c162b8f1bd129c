"""Benchmark records: machine description, commit, and the JSON file they go to."""

import json
import os
import platform
import subprocess
import time
from pathlib import Path

import torch

from ..streaming import native_bf16

RESULTS_DIR = Path("bench/results")


def commit() -> str:
    """HEAD of the checkout the package runs from, with '-dirty' when the tree has uncommitted changes."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(device: torch.device) -> dict:
    info = {
        "hostname": platform.node(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": native_bf16(device),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
            driver=_nvidia_driver(),
        )
    return info


def _nvidia_driver() -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"


def write(name: str, device: torch.device, results: dict, out_dir: Path = RESULTS_DIR) -> Path:
    """Write {name}-{timestamp}.json with the machine and commit; returns the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path = out_dir / f"{name}-{stamp}.json"
    record = {"benchmark": name, "time": stamp, "commit": commit(), "machine": machine(device), **results}
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def percentile_ms(samples_s: list[float], q: float) -> float:
    """The q-th percentile of durations in seconds, in milliseconds."""
    ordered = sorted(samples_s)
    return 1000.0 * ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]
