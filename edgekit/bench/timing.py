"""The timing loop: what the benchmark measures and how (after trtexec: warmup, then timed iterations or a
duration, per-call latencies, percentiles).

Design rules, because a harness must not distort what it measures (see ``benchmarks/harness_overhead.py``):
  - the timed region is ``perf_counter_ns(); fn(); perf_counter_ns()`` and nothing else: ``fn`` is the runner's
    :meth:`~edgekit.backends.base.Runner.timed_call` (on ONNX Runtime CPU exactly ``session.run(None, feed)``);
  - sample buffers are preallocated (``iters``) or appended to (``seconds``); the garbage collector is paused
    while timing;
  - candidates compared with each other are timed **interleaved** in one process (one block of calls of each
    candidate per round), because these machines are shared and back-to-back blocks drift (TRAPS.md);
  - cold first-inference latency and load time are measured apart from the steady state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.bench.host import CpuSpan, cpu_reading

ORDER_SEED = 0
"""Seed of the per-round candidate order of :func:`time_interleaved` (runs repeat the same schedule)."""

QUANTILES = 101
"""Points of the latency distribution kept per row (p0, p1, ..., p100): enough for box plots and violins."""


@dataclasses.dataclass(frozen=True)
class LatencyStats:
    """Latency statistics of one candidate, in milliseconds.

    Args:
        count: timed calls.
        min, mean, std, p50, p90, p95, p99, max: over the per-call latencies.
        quantiles: :data:`QUANTILES` evenly spaced quantiles (p0..p100), the distribution the HTML report draws.
    """

    count: int
    min: float
    mean: float
    std: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    quantiles: tuple[float, ...] = ()

    @classmethod
    def from_ns(cls, samples_ns: Sequence[int] | np.ndarray) -> LatencyStats:
        """Statistics of per-call latencies given in nanoseconds.

        Raises:
            ValueError: no samples.
        """
        ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
        if ms.size == 0:
            raise ValueError("no latency samples")
        p = np.percentile(ms, [50, 90, 95, 99])
        q = np.percentile(ms, np.linspace(0, 100, QUANTILES))
        return cls(
            int(ms.size),
            float(ms.min()),
            float(ms.mean()),
            float(ms.std()),
            float(p[0]),
            float(p[1]),
            float(p[2]),
            float(p[3]),
            float(ms.max()),
            tuple(float(x) for x in q),
        )

    def throughput(self, batch: int) -> float:
        """Samples per second of a serial loop: ``batch`` samples per call at the mean latency."""
        return batch * 1e3 / self.mean if self.mean > 0 else math.inf

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["quantiles"] = [round(x, 6) for x in self.quantiles]
        return data


class Candidate:
    """Something timed: :meth:`run_block` times ``k`` consecutive calls and appends their latencies (ns).

    The default wraps a zero-argument callable; subclasses may inline a specific call (a bare ``session.run``
    loop is written that way in ``benchmarks/``) so that it is measured with no indirection at all.
    """

    def __init__(
        self,
        fn: Callable[[], Any],
        name: str = "",
        context: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
    ) -> None:
        self.fn = fn
        self.name = name
        self.context = context

    def run_block(self, k: int, out: list[int]) -> None:
        fn = self.fn
        clock = time.perf_counter_ns
        append = out.append
        with self.context():  # entered per block, not per call (Runner.timing_context)
            for _ in range(k):
                t0 = clock()
                fn()
                append(clock() - t0)

    def warm(self, k: int) -> None:
        """``k`` untimed calls (through :meth:`run_block`, so subclasses warm up the very code they time)."""
        if k > 0:
            self.run_block(k, [])


def time_calls(
    fn: Callable[[], Any], *, iters: int | None = None, seconds: float | None = None, warmup: int = 10
) -> np.ndarray:
    """Time ``fn`` alone: ``warmup`` untimed calls, then ``iters`` calls or as many as fit in ``seconds``.

    Returns:
        Per-call latencies in nanoseconds (int64).

    Raises:
        ValueError: neither or both of ``iters`` and ``seconds``; a non-positive value.
    """
    _check_budget(iters, seconds)
    for _ in range(warmup):
        fn()
    clock = time.perf_counter_ns
    enabled = gc.isenabled()
    gc.disable()
    try:
        if iters is not None:
            buf = np.empty(iters, dtype=np.int64)
            for i in range(iters):
                t0 = clock()
                fn()
                buf[i] = clock() - t0
            return buf
        out: list[int] = []
        append = out.append
        deadline = clock() + int(seconds * 1e9)  # type: ignore[operator]
        t0 = clock()
        while t0 < deadline:
            fn()
            t1 = clock()
            append(t1 - t0)
            t0 = clock()
        return np.asarray(out, dtype=np.int64)
    finally:
        if enabled:
            gc.enable()


def time_interleaved(
    candidates: Sequence[Candidate],
    *,
    iters: int | None = None,
    seconds: float | None = None,
    warmup: int = 10,
    block: int | None = None,
    block_ms: float = 10.0,
    settle: int = 3,
    min_calls: int = 3,
    tick: Callable[[float], None] | None = None,
    load: Sequence[CpuSpan] | None = None,
) -> list[np.ndarray]:
    """Time several candidates round-robin: each round runs one block of timed calls of each candidate, so slow
    drifts of a shared machine hit every candidate alike and their ratios stay fair. The order is shuffled every
    round (seeded), so no candidate always runs right after the same other one.

    Blocks rather than single calls, and untimed settling calls at the start of each block, because the first calls
    after another runtime ran are slow for reasons a deployment never sees: measured here (2 threads on 2 cores),
    ONNX Runtime called right after eager PyTorch, one call each, took 2x its bare-loop latency as both thread
    pools woke and spun; after a block of eager calls its first call took 10-20x, the next three 1.2-2x, then
    steady. With blocks of ~10 ms and ``max(settle, block // 20)`` settling calls it matches the bare loop.

    Args:
        candidates: what to time.
        iters: timed calls per candidate; or
        seconds: the whole budget for all candidates together (each gets about the same time).
        warmup: untimed calls per candidate before the first round; also estimate each call's cost.
        block: timed calls of a candidate per round; default: as many as take about ``block_ms``.
        block_ms: target duration of a block when ``block`` is not given.
        settle: at least this many untimed calls of a candidate at the start of each of its blocks (and 5 % of
            the block).
        min_calls: with ``seconds``, every candidate gets at least this many timed calls.
        tick: called after each round with the fraction done (0..1), outside every timed region.
        load: one :class:`~edgekit.bench.host.CpuSpan` per candidate: the machine's and this process's CPU time are
            read before and after each of its timed blocks (outside the timed region) and added to it, so that a
            row measured while other processes took cores can be marked disturbed.

    Returns:
        Per-call latencies in nanoseconds for each candidate, in order.

    Raises:
        ValueError: bad budget, block or settle.
    """
    _check_budget(iters, seconds)
    if block is not None and block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    if settle < 0 or warmup < 0:
        raise ValueError(f"settle and warmup must be >= 0, got {settle}, {warmup}")
    if block is not None:
        for c in candidates:
            c.warm(warmup)
        blocks = [block] * len(candidates)
    else:
        blocks = [_block_for(c, warmup, block_ms) for c in candidates]
    samples: list[list[int]] = [[] for _ in candidates]
    scratch: list[int] = []
    clock = time.perf_counter_ns
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        deadline = start + int(seconds * 1e9) if seconds is not None else 0
        rounds = 0
        shuffle = np.random.default_rng(ORDER_SEED)
        while True:
            # a fresh order every round: no candidate always follows the same neighbour, and no periodic load on
            # the machine can lock onto one candidate's slot in the round
            for i in shuffle.permutation(len(candidates)).tolist():
                c, out, k = candidates[i], samples[i], blocks[i]
                n = k if iters is None else min(k, iters - len(out))
                if n <= 0:
                    continue
                if settle:
                    c.run_block(max(settle, k // 20), scratch)
                    scratch.clear()
                if load is None:
                    c.run_block(n, out)
                else:
                    before = cpu_reading()
                    c.run_block(n, out)
                    load[i].add(before, cpu_reading())
            rounds += 1
            if rounds == 1 and block is None:  # re-size blocks from the first round's median calls
                blocks = [
                    _calls_in(block_ms, float(np.median(x))) if x else b for x, b in zip(samples, blocks, strict=True)
                ]
            fewest = min(len(s) for s in samples)
            if iters is not None:
                frac = fewest / iters
            else:
                frac = (clock() - start) / (deadline - start) if fewest >= min_calls else 0.0
            if tick is not None:
                tick(min(frac, 1.0))
            if frac >= 1.0:
                break
    finally:
        if enabled:
            gc.enable()
    return [np.asarray(s, dtype=np.int64) for s in samples]


def _block_for(candidate: Candidate, warmup: int, block_ms: float) -> int:
    """Warm ``candidate`` up and return how many of its calls take about ``block_ms``, from the median warmup call
    (the first calls after loading are slow and would shrink the block)."""
    times: list[int] = []
    candidate.run_block(max(warmup, 1), times)
    return _calls_in(block_ms, float(np.median(times)))


def _calls_in(block_ms: float, per_call_ns: float) -> int:
    return max(1, int(block_ms * 1e6 / max(per_call_ns, 1.0)))


def _check_budget(iters: int | None, seconds: float | None) -> None:
    if (iters is None) == (seconds is None):
        raise ValueError("give exactly one of iters and seconds")
    if iters is not None and iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    if seconds is not None and not seconds > 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")


# -- cold start and memory -------------------------------------------------------------------------------------


def timed_ms(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()``'s result and its wall time in milliseconds."""
    t0 = time.perf_counter_ns()
    result = fn()
    return result, (time.perf_counter_ns() - t0) / 1e6


_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux ``clear_refs`` 5); False where unsupported, in
    which case :func:`peak_rss_bytes` reports the peak since the process started."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    """Peak resident set size of this process since the last :func:`reset_peak_rss` (Linux ``VmHWM``);
    elsewhere the current RSS from psutil (a lower bound of the peak)."""
    current = current_rss_bytes()
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                # the kernel syncs its per-CPU RSS counters lazily: VmHWM can lag the current RSS slightly
                return max(int(line.split()[1]) * 1024, current)
    except OSError:
        pass
    return current


def current_rss_bytes() -> int:
    """Current resident set size of this process (psutil)."""
    import psutil

    return int(psutil.Process().memory_info().rss)


class GpuMemory:
    """Peak CUDA memory allocated by PyTorch during a span (``torch.cuda.max_memory_allocated``); inactive
    (``peak_bytes`` returns None) unless the device is ``cuda`` and torch sees a GPU."""

    def __init__(self, device: str) -> None:
        self.torch: Any = None
        if device == "cuda":
            import torch

            if torch.cuda.is_available():
                self.torch = torch

    def reset(self) -> None:
        if self.torch is not None:
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()

    def peak_bytes(self) -> int | None:
        if self.torch is None:
            return None
        self.torch.cuda.synchronize()
        return int(self.torch.cuda.max_memory_allocated())
