"""What the numbers were measured on: CPU model, cores, memory, load, GPU and library versions.

Every benchmark report carries this, because a latency means nothing without the machine (and on a shared
machine, without its load at the time).
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

CpuReading = tuple[float, float, float]
"""(wall seconds, CPU seconds busy on the whole machine, CPU seconds used by this process) at one moment."""

_PROCESS: Any = None


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages, where the OS reports them."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def busy_cores(interval: float = 0.25) -> float:
    """How many cores other processes keep busy: the system's CPU use over ``interval`` seconds while this process
    sleeps, in cores (0.0 on a quiet machine)."""
    import psutil

    return round(float(psutil.cpu_percent(interval=interval)) / 100.0 * (os.cpu_count() or 1), 2)


def cpu_reading() -> CpuReading:
    """Wall clock, the machine's busy CPU time (all cores; idle, iowait and guest time excluded) and this
    process's CPU time (all its threads), from ``/proc`` through psutil: about 50 us, taken between timed blocks,
    never inside one. The kernel counts in clock ticks (10 ms), so one short span is coarse; sums over many spans
    (:class:`CpuSpan`) are not."""
    global _PROCESS
    import psutil

    if _PROCESS is None:
        _PROCESS = psutil.Process()
    t = psutil.cpu_times()
    extra = sum(getattr(t, k, 0.0) for k in ("idle", "iowait", "guest", "guest_nice"))
    own = _PROCESS.cpu_times()
    return time.perf_counter(), float(sum(t) - extra), float(own.user + own.system)


@dataclasses.dataclass
class CpuSpan:
    """Other processes' CPU use summed over the timed blocks of one candidate.

    Args:
        wall: seconds inside the blocks.
        busy: CPU seconds the machine was busy meanwhile (every process).
        own: CPU seconds this process used meanwhile (every thread: the runtime's pools included).
        blocks: blocks measured.
    """

    wall: float = 0.0
    busy: float = 0.0
    own: float = 0.0
    blocks: int = 0

    def add(self, before: CpuReading, after: CpuReading) -> None:
        """Add the span between two :func:`cpu_reading` calls."""
        self.wall += after[0] - before[0]
        self.busy += after[1] - before[1]
        self.own += after[2] - before[2]
        self.blocks += 1

    @property
    def other_cores(self) -> float | None:
        """Cores other processes kept busy on average during the blocks (None before any block)."""
        if self.wall <= 0:
            return None
        return max(0.0, (self.busy - self.own) / self.wall)


DISTURBED_MARGIN = 0.25
"""Cores other processes may keep busy on average, beyond those this run leaves free, before a row is disturbed
(measured here: one busy process beside a 2-thread torch run stalls its pool for ~55 ms on a fraction of calls)."""


def disturbed_limit(threads: int) -> float:
    """The average number of cores other processes may take during a row's timed blocks: the cores this run leaves
    free (cores - threads) plus :data:`DISTURBED_MARGIN`."""
    return max((os.cpu_count() or 1) - threads, 0) + DISTURBED_MARGIN


def gpu_info() -> dict[str, Any] | None:
    """Name, compute capability and memory of CUDA device 0 as torch sees it; None without one. Only looks when
    torch is already imported (the benchmark imports it anyway; listings must not pay for it)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    return {
        "name": props.name,
        "compute_capability": f"{props.major}.{props.minor}",
        "memory_gb": round(props.total_memory / 2**30, 1),
        "cuda": torch.version.cuda,
    }


def host_info() -> dict[str, Any]:
    """The host record of a benchmark report (see docs/bench-schema.md, ``host``)."""
    import psutil

    from edgekit.artifacts.manifest import versions

    return {
        "hostname": platform.node(),
        "cpu": cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "machine": platform.machine(),
        "load_average": load_average(),
        "gpu": gpu_info(),
        "versions": versions(),
    }


def host_slug(host: dict[str, Any]) -> str:
    """A short file-name-safe name for the host: CPU model, cores and GPU (``amd-epyc-2c``)."""
    text = f"{host.get('cpu', 'cpu')}-{host.get('cores_logical', '?')}c"
    if host.get("gpu"):
        text += f"-{host['gpu']['name']}"
    slug = "".join(ch.lower() if ch.isalnum() else "-" for ch in text)
    while "--" in slug:
        slug = slug.replace("--", "-")
    return slug.strip("-")[:60]
