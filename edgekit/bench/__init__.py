"""Benchmarking: latency and accuracy of every artifact on every backend, with eager PyTorch as the baseline
measured in the same run (:func:`edgekit.bench.run.run_bench`), and the reports people read
(:mod:`edgekit.bench.report`). Nothing heavy is imported here: the CLI imports this package for ``--help``."""

from __future__ import annotations

__all__ = ["BenchConfig", "run_bench"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from edgekit.bench import run

        return getattr(run, name)
    raise AttributeError(name)
