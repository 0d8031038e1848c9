"""Eager intermediates: every module's inputs and outputs on one feed, through forward hooks, in the order the
modules finished (a child before its parent). Functional ops inside a module show up in that module's output."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclasses.dataclass
class ModuleCall:
    """What one module did on one feed.

    Args:
        path: its name in ``named_modules`` of the LoadedModel's module (``module.features.0``).
        cls: its class.
        order: completion order (0 = first to return).
        inputs: the tensors it was called with (positional, flattened).
        outputs: the tensors it returned (flattened); non-tensor outputs are dropped.
        calls: how often it ran on this feed (a module called twice is not compared: two outputs, one name).
    """

    path: str
    cls: type
    order: int
    inputs: list[torch.Tensor]
    outputs: list[np.ndarray]
    calls: int = 1


def tensors_in(value: Any) -> list[torch.Tensor]:
    """Tensors inside a (nested) value, in order; everything else ignored."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors_in(v)]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in tensors_in(v)]
    return []


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A detached CPU copy (bf16 widened to fp32, which numpy lacks)."""
    t = t.detach().cpu()
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy().copy()


def capture_modules(module: nn.Module, args: tuple[torch.Tensor, ...]) -> dict[str, ModuleCall]:
    """Run ``module(*args)`` once with a hook on every submodule; returns path -> :class:`ModuleCall`, in
    completion order. The root itself is left out (its output is the model's output)."""
    calls: dict[str, ModuleCall] = {}
    pending: dict[str, list[torch.Tensor]] = {}
    handles = []

    def pre(path: str) -> Any:
        def hook(_mod: nn.Module, inputs: Any) -> None:
            pending[path] = [t.detach().clone() for t in tensors_in(inputs)]

        return hook

    def post(path: str) -> Any:
        def hook(mod: nn.Module, _inputs: Any, output: Any) -> None:
            if path in calls:
                calls[path].calls += 1
                return
            outs = [to_numpy(t) for t in tensors_in(output)]
            calls[path] = ModuleCall(path, type(mod), len(calls), pending.pop(path, []), outs)

        return hook

    for path, sub in module.named_modules():
        if path:
            handles.append(sub.register_forward_pre_hook(pre(path)))
            handles.append(sub.register_forward_hook(post(path)))
    try:
        with torch.inference_mode():
            module(*args)
    finally:
        for h in handles:
            h.remove()
    return calls


def user_path(path: str) -> str:
    """A path as the user's own model names it: :class:`FlatOutputs`' ``module.`` prefix dropped."""
    if path == "module":
        return "<model>"
    return path.removeprefix("module.")


def source_of(cls: type) -> str:
    """``file:line`` of a class's definition, or why not."""
    try:
        file = inspect.getsourcefile(cls) or "?"
        line = inspect.getsourcelines(cls)[1]
    except (TypeError, OSError):
        return f"{cls.__module__}.{cls.__qualname__} (no source file)"
    return f"{file}:{line}"
