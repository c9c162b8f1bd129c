"""Counters, rates and latency percentiles of the node, and their diagnostic_msgs/DiagnosticStatus.

:class:`NodeStats` is written by the subscription callbacks and the inference thread and read by the 1 Hz
diagnostics timer, so every access holds its lock.
"""

import threading
import time
from collections import Counter, deque
from pathlib import Path

import numpy as np
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

WINDOW = 300  # latency / model-time samples kept for the percentiles (10 s at 30 Hz)


class NodeStats:
    """Running totals since start-up, plus the latest WINDOW latency and model-time samples (milliseconds)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.received = Counter()  # input topic -> messages
        self.outputs = 0
        self.queue_drops = 0
        self.invalid = Counter()  # (topic, reason) -> dropped frames or camera_infos
        self._latency_ms = deque(maxlen=WINDOW)
        self._model_ms = deque(maxlen=WINDOW)
        self._last_rates = (time.monotonic(), Counter(), 0)

    def count_input(self, topic: str) -> None:
        with self._lock:
            self.received[topic] += 1

    def count_queue_drop(self) -> None:
        with self._lock:
            self.queue_drops += 1

    def count_invalid(self, topic: str, reason: str) -> None:
        with self._lock:
            self.invalid[(topic, reason)] += 1

    @property
    def invalid_drops(self) -> int:
        with self._lock:
            return sum(self.invalid.values())

    def invalid_counts(self) -> list[tuple[tuple[str, str], int]]:
        """((topic, reason), count) of the invalid drops, sorted."""
        with self._lock:
            return sorted(self.invalid.items())

    def count_output(self, latency_ms: float, model_ms: float) -> None:
        with self._lock:
            self.outputs += 1
            self._latency_ms.append(latency_ms)
            self._model_ms.append(model_ms)

    def rates(self) -> tuple[dict[str, float], float]:
        """(input topic -> Hz, output Hz) since the previous call."""
        with self._lock:
            now = time.monotonic()
            then, received, outputs = self._last_rates
            elapsed = max(now - then, 1e-9)
            self._last_rates = (now, Counter(self.received), self.outputs)
            return (
                {t: (n - received[t]) / elapsed for t, n in self.received.items()},
                (self.outputs - outputs) / elapsed,
            )

    def percentiles(self) -> dict[str, float]:
        """p50 / p95 of latency and model time over the window (NaN before the first output)."""
        with self._lock:
            latency, model = np.array(self._latency_ms), np.array(self._model_ms)
        out = {}
        for name, samples in (("latency", latency), ("model", model)):
            for q in (50, 95):
                out[f"{name}_p{q}_ms"] = float(np.percentile(samples, q)) if samples.size else float("nan")
        return out


def memory_mib(device: torch.device) -> str:
    """CUDA memory allocated / peak on a GPU, else the process's resident set, in MiB."""
    if device.type == "cuda":
        return (
            f"cuda allocated {torch.cuda.memory_allocated(device) / 2**20:.0f} MiB, "
            f"peak {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB"
        )
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return f"process RSS {int(line.split()[1]) / 1024:.0f} MiB"
    return "unknown"


def diagnostic_array(
    stamp, name: str, hardware_id: str, level: bytes, message: str, values: list[tuple[str, object]]
) -> DiagnosticArray:
    """A DiagnosticArray with one status; floats are written with 2 decimals, everything else with str()."""
    pairs = [KeyValue(key=k, value=f"{v:.2f}" if isinstance(v, float) else str(v)) for k, v in values]
    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id, values=pairs)
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array
