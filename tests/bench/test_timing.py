"""The timing loop: statistics, budgets, round-robin order, settling calls, memory probes. No assertion here is
about how fast anything runs (benchmarks/ records that)."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from edgekit.bench import timing
from edgekit.bench.timing import Candidate, LatencyStats, time_calls, time_interleaved


def test_stats_from_known_samples() -> None:
    ns = np.arange(1, 101, dtype=np.int64) * 1_000_000  # 1..100 ms
    s = LatencyStats.from_ns(ns)
    assert s.count == 100 and s.min == 1.0 and s.max == 100.0
    assert s.mean == pytest.approx(50.5)
    assert s.std == pytest.approx(np.std(np.arange(1, 101)))
    assert s.p50 == pytest.approx(50.5) and s.p90 == pytest.approx(90.1) and s.p99 == pytest.approx(99.01)
    assert len(s.quantiles) == timing.QUANTILES == 101
    assert s.quantiles[0] == 1.0 and s.quantiles[100] == 100.0 and s.quantiles[50] == pytest.approx(s.p50)
    assert s.throughput(batch=8) == pytest.approx(8 * 1000 / 50.5)
    data = s.to_json()
    assert set(data) >= {"count", "min", "mean", "std", "p50", "p90", "p95", "p99", "max", "quantiles"}


def test_stats_need_samples() -> None:
    with pytest.raises(ValueError, match="no latency samples"):
        LatencyStats.from_ns([])


def test_time_calls_counts_and_budget_checks() -> None:
    calls = []
    out = time_calls(lambda: calls.append(1), iters=25, warmup=5)
    assert len(out) == 25 and len(calls) == 30 and out.dtype == np.int64 and (out >= 0).all()
    assert len(time_calls(lambda: None, seconds=0.01, warmup=0)) >= 1
    for bad in ({}, {"iters": 3, "seconds": 1.0}, {"iters": 0}, {"seconds": -1.0}):
        with pytest.raises(ValueError):
            time_calls(lambda: None, **bad)  # type: ignore[arg-type]


class Logged(Candidate):
    """Records which candidate ran when, and how many real (timed + untimed) calls it made."""

    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__(lambda: None, name)
        self.log = log
        self.calls = 0

    def run_block(self, k: int, out: list[int]) -> None:
        self.log.append(self.name)
        self.calls += k
        out.extend([1000] * k)


def test_interleaved_runs_every_candidate_once_per_round_in_shuffled_order() -> None:
    log: list[str] = []
    cands = [Logged(n, log) for n in "abcd"]
    out = time_interleaved(cands, iters=40, warmup=0, block=2, settle=0)
    assert [len(x) for x in out] == [40] * 4
    rounds = [log[i : i + 4] for i in range(0, len(log), 4)]
    assert len(rounds) == 20 and all(sorted(r) == list("abcd") for r in rounds)
    assert len({r[0] for r in rounds}) == 4 and len({tuple(r) for r in rounds}) > 5  # the order changes
    again: list[str] = []
    time_interleaved([Logged(n, again) for n in "abcd"], iters=40, warmup=0, block=2, settle=0)
    assert again == log  # seeded: the same schedule every run


def test_settling_calls_run_but_are_not_recorded() -> None:
    log: list[str] = []
    cands = [Logged(n, log) for n in "ab"]
    out = time_interleaved(cands, iters=40, warmup=3, block=40, settle=4)
    assert [len(x) for x in out] == [40, 40]
    # warmup 3 + one settling block of max(4, 40 // 20) + 40 timed
    assert [c.calls for c in cands] == [3 + 4 + 40] * 2


def test_seconds_budget_gives_every_candidate_calls() -> None:
    cands = [Candidate(lambda: None), Candidate(lambda: sum(range(50)))]
    ticks: list[float] = []
    out = time_interleaved(cands, seconds=0.05, warmup=2, min_calls=5, tick=ticks.append)
    assert all(len(x) >= 5 for x in out)
    assert ticks and ticks[-1] == 1.0 and all(0.0 <= t <= 1.0 for t in ticks)


def test_block_sizes_follow_the_median_call() -> None:
    class Fixed(Candidate):
        def __init__(self, ns: int) -> None:
            super().__init__(lambda: None)
            self.ns = ns

        def run_block(self, k: int, out: list[int]) -> None:
            out.extend([self.ns] * k)

    assert timing._block_for(Fixed(1_000_000), warmup=5, block_ms=10.0) == 10
    assert timing._block_for(Fixed(50_000_000), warmup=5, block_ms=10.0) == 1


def test_gc_is_restored() -> None:
    assert gc.isenabled()
    time_interleaved([Candidate(lambda: None)], iters=3, warmup=0)
    time_calls(lambda: None, iters=3)
    assert gc.isenabled()


def test_bad_interleave_arguments() -> None:
    with pytest.raises(ValueError, match="block"):
        time_interleaved([Candidate(lambda: None)], iters=3, block=0)
    with pytest.raises(ValueError, match="settle"):
        time_interleaved([Candidate(lambda: None)], iters=3, settle=-1)


def test_memory_probes() -> None:
    assert isinstance(timing.reset_peak_rss(), bool)
    blob = np.ones(20 * 2**20 // 8)  # 20 MiB touched
    assert timing.peak_rss_bytes() >= timing.current_rss_bytes() - 4096 > 0
    del blob
    gpu = timing.GpuMemory("cpu")
    gpu.reset()
    assert gpu.peak_bytes() is None
    _, ms = timing.timed_ms(lambda: 42)
    assert ms >= 0


def test_candidate_enters_its_context_once_per_block_not_per_call():
    import contextlib

    entered: list[int] = []

    @contextlib.contextmanager
    def ctx():
        entered.append(1)
        yield

    calls: list[int] = []
    out: list[int] = []
    Candidate(lambda: calls.append(1), "c", ctx).run_block(7, out)
    assert len(calls) == 7 and len(out) == 7 and entered == [1]


def test_torch_runner_times_inside_inference_mode():
    import torch

    from edgekit.backends.torch_runner import EagerRunner, ModuleFromModel
    from edgekit.core.spec import random_inputs
    from edgekit.intake.load import load_model

    model = load_model("mlp")
    with EagerRunner(ModuleFromModel(model)) as runner:
        call = runner.timed_call(random_inputs(model.inputs))
        with runner.timing_context():
            out = call()
    assert all(torch.is_inference(t) for t in out)
