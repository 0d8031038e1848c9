"""Bare loops: the floor a benchmark harness is measured against.

Each is a :class:`~edgekit.bench.timing.Candidate` whose block is the runtime call itself, inlined, timed with
``perf_counter_ns`` exactly like a hand-written loop would be: ``session.run(None, feed)`` for ONNX Runtime on CPU,
``module(*tensors)`` inside one ``torch.inference_mode()`` for the PyTorch runners. They reuse the subject's own
session or module, so the only difference from what ``edgekit bench`` times is the harness.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from edgekit.bench.subjects import Subject
from edgekit.bench.timing import Candidate

TORCH_BACKENDS = ("torch", "torchscript", "pt2")


class BareSessionRun(Candidate):
    """``session.run(None, feed)`` in a plain loop."""

    def __init__(self, session: Any, feed: dict[str, np.ndarray], name: str = "bare session.run") -> None:
        super().__init__(lambda: None, name)
        self.session = session
        self.feed = {k: np.ascontiguousarray(v) for k, v in feed.items()}

    def run_block(self, k: int, out: list[int]) -> None:
        run, feed, clock, append = self.session.run, self.feed, time.perf_counter_ns, out.append
        for _ in range(k):
            t0 = clock()
            run(None, feed)
            append(clock() - t0)


class BareModuleCall(Candidate):
    """``module(*tensors)`` in a plain loop, inside one ``torch.inference_mode()``."""

    def __init__(self, module: Any, args: list[Any], name: str = "bare module call") -> None:
        super().__init__(lambda: None, name)
        self.module = module
        self.args = args

    def run_block(self, k: int, out: list[int]) -> None:
        import torch

        module, args, clock, append = self.module, self.args, time.perf_counter_ns, out.append
        with torch.inference_mode():
            for _ in range(k):
                t0 = clock()
                module(*args)
                append(clock() - t0)


def bare_for(subject: Subject, batch: int) -> Candidate | None:
    """The bare loop for an open CPU subject at ``batch`` (None for other backends and devices)."""
    runner = subject.runner
    if runner is None or runner.device != "cpu":
        return None
    feed = subject.feeds.get(batch) or subject.feed(batch)  # the very arrays the bench's timed call uses
    if subject.backend == "onnxruntime":
        return BareSessionRun(runner.loaded, feed)
    if subject.backend in TORCH_BACKENDS:
        import torch

        args = [torch.from_numpy(np.ascontiguousarray(feed[n])) for n in runner.input_names()]
        return BareModuleCall(runner.loaded, args)
    return None
