"""Whole-network CUDA-graph capture of a PyTorch forward (the steps :mod:`edgekit.backends.cuda_graph` documents):
warm up on a side stream, capture into a ``torch.cuda.CUDAGraph`` from a shared pool, check one replay against the
last warm-up output, and explain a refusal (host synchronization, CPU ops, outputs on the CPU).

Status: the refusal and mismatch logic is unit-tested on the CPU; :func:`capture_graph` itself has NOT been run on
a GPU in this repository yet (written against the PyTorch documentation of ``torch.cuda.graph``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from edgekit.backends.graph_cache import CaptureRefused
from edgekit.core.errors import one_line

SYNC_HINT = (
    "forward synchronizes with the host, which a CUDA graph cannot capture (.item(), .cpu(), .tolist(), "
    "printing a tensor, torch.nonzero, or Python control flow on tensor values such as `if x.sum() > 0`)"
)


class Replay(Protocol):
    """A captured forward: ``run`` copies ``tensors`` into the static inputs, replays, returns the static outputs
    (not synchronized; valid until another graph of the same pool replays)."""

    def run(self, tensors: Sequence[Any]) -> tuple[Any, ...]: ...


@dataclasses.dataclass
class CapturedGraph:
    """A ``torch.cuda.CUDAGraph`` with its static input and output tensors."""

    graph: Any
    static_inputs: list[Any]
    static_outputs: tuple[Any, ...]

    def run(self, tensors: Sequence[Any]) -> tuple[Any, ...]:
        for static, t in zip(self.static_inputs, tensors, strict=True):
            static.copy_(t, non_blocking=True)
        self.graph.replay()
        return self.static_outputs


def output_obstacle(outputs: Sequence[Any], device_type: str = "cuda") -> str | None:
    """Why these warm-up outputs cannot come from a captured graph, or None."""
    for i, o in enumerate(outputs):
        if not hasattr(o, "device"):
            return f"output {i} is a {type(o).__name__}, not a tensor"
        if o.device.type != device_type:
            return (
                f"output {i} is on {o.device.type}: part of forward runs on the CPU, which a CUDA graph cannot capture"
            )
    return None


def replay_mismatch(got: Sequence[Any], expected: Sequence[Any], rtol: float = 1e-3, atol: float = 1e-5) -> str | None:
    """Why a replay's outputs differ from the eager warm-up outputs on the same inputs, or None."""
    import torch

    if len(got) != len(expected):
        return f"the replay returned {len(got)} outputs, eager {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        if g.shape != e.shape or g.dtype != e.dtype:
            return f"output {i}: replay {tuple(g.shape)} {g.dtype} != eager {tuple(e.shape)} {e.dtype}"
        if g.is_floating_point():
            close = torch.allclose(g.float(), e.float(), rtol=rtol, atol=atol, equal_nan=True)
        else:
            close = torch.equal(g, e)
        if not close:
            diff = (g.double() - e.double()).abs().max().item()
            return (
                f"output {i}: the replay differs from eager on the same inputs (max abs diff {diff:.3g}); "
                f"forward depends on something read at capture time (randomness, host values)"
            )
    return None


def explain_capture_error(exc: BaseException) -> str:
    """A reason for a failed capture: the first error in the exception chain (torch's ``capture_end`` raises a
    second error on top of the one in ``forward``), with a hint for host synchronization."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    text = " | ".join(str(e) for e in chain).lower()
    root = chain[-1]
    detail = f"{type(root).__name__}: {one_line(root, kind=False)}"
    if "capturing" in text or ("capture" in text and ("sync" in text or "not permitted" in text)):
        return f"{SYNC_HINT} ({detail})"
    return f"capture failed: {detail}"


def capture_graph(
    forward: Callable[..., tuple[Any, ...]], example: Sequence[Any], pool: Any, stream: Any, warmup: int = 3
) -> CapturedGraph:
    """Capture ``forward`` on ``example`` (CUDA tensors) into a CUDA graph.

    Args:
        forward: returns a tuple of tensors.
        example: inputs of the shape key; copied into fresh static buffers.
        pool: the shared pool token.
        stream: the side stream used for warm-up and capture (the same for every capture sharing ``pool``, as
            ``torch.cuda.graph``'s documentation asks).
        warmup: eager iterations before capture.

    Raises:
        CaptureRefused: the forward cannot be captured (see :func:`explain_capture_error`).
        Exception: ``forward`` itself fails during warm-up (not a capture problem).
    """
    import torch

    static = [t.clone() for t in example]
    with torch.no_grad():
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            expected = forward(*static)
            for _ in range(max(warmup, 1) - 1):
                expected = forward(*static)
        torch.cuda.current_stream().wait_stream(stream)
        obstacle = output_obstacle(expected, "cuda")
        if obstacle is not None:
            raise CaptureRefused(obstacle)
        expected = tuple(e.clone() for e in expected)
        graph = torch.cuda.CUDAGraph()
        try:
            # the outer stream context restores the current stream even when capture_end raises inside graph()
            with torch.cuda.stream(stream), torch.cuda.graph(graph, pool=pool, stream=stream):
                outputs = forward(*static)
        except Exception as exc:  # capture errors come as RuntimeError or torch's AcceleratorError
            reason = explain_capture_error(exc)
            with contextlib.suppress(Exception):
                torch.cuda.synchronize()
            raise CaptureRefused(reason) from exc
        graph.replay()
        torch.cuda.synchronize()
    mismatch = replay_mismatch(outputs, expected)
    if mismatch is not None:
        raise CaptureRefused(mismatch)
    return CapturedGraph(graph, static, tuple(outputs))
