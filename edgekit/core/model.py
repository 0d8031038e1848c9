"""A model ready for export: the eval-mode module with flat tuple outputs, its input specs, output names and
verification tolerances. Every command works on a :class:`LoadedModel`, whatever the user gave."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from edgekit.core.errors import BadInput
from edgekit.core.spec import InputSpec

if TYPE_CHECKING:
    from edgekit.training.recipe import Recipe

DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-3


def flatten_outputs(out: Any) -> list[torch.Tensor]:
    """Tensors of a model's output in a fixed order: a tensor, or tuples/lists/dicts of them, nested."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for k in out for t in flatten_outputs(out[k])]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flatten_outputs(o)]
    if hasattr(out, "_fields"):
        return [t for o in tuple(out) for t in flatten_outputs(o)]
    raise BadInput(f"the model returned a {type(out).__name__}; expected tensors, or tuples/lists/dicts of them")


def output_names_of(out: Any, prefix: str = "output") -> list[str]:
    """Default names for the flattened outputs: ``output`` for a single tensor, dict keys, else ``output_i``."""
    if isinstance(out, torch.Tensor):
        return [prefix]
    if isinstance(out, dict):
        return [n for k in out for n in output_names_of(out[k], str(k))]
    flat = flatten_outputs(out)
    return [f"{prefix}_{i}" for i in range(len(flat))]


class FlatOutputs(nn.Module):
    """Wraps a module so that ``forward(*inputs)`` returns a tuple of tensors: one shape for every exporter.

    Args:
        module: the user's module.
        keywords: names of the trailing inputs that ``module`` takes by keyword (keyword-only parameters, or
            parameters after a skipped optional one; :mod:`edgekit.intake.binding`).
    """

    def __init__(self, module: nn.Module, keywords: Sequence[str] = ()) -> None:
        super().__init__()
        self.module = module
        self.keywords = tuple(keywords)

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if not self.keywords:
            return tuple(flatten_outputs(self.module(*args)))
        n = len(args) - len(self.keywords)
        return tuple(flatten_outputs(self.module(*args[:n], **dict(zip(self.keywords, args[n:], strict=True)))))

    def train(self, mode: bool = True) -> FlatOutputs:
        self.training = mode
        try:
            self.module.train(mode)
        except NotImplementedError:  # an ExportedProgram's module refuses train/eval; it was exported in eval
            pass
        return self


@dataclasses.dataclass
class LoadedModel:
    """What every command works on.

    Args:
        module: the model in eval mode, ``forward(*inputs)`` returning a tuple of tensors.
        inputs: input specs, in ``forward``'s argument order.
        outputs: output names, in order.
        source: where it came from (``recipe:cnn``, ``factory:models.py:make``, ``torchscript:m.ts`` ...).
        recipe: the recipe, when the model came from one.
        atol, rtol: verification tolerances (recipe defaults unless overridden).
        checkpoint: the checkpoint file the weights came from, if any (recorded in manifests).
        binding: how the named inputs reach ``forward`` (:meth:`edgekit.intake.binding.Binding.to_json`), recorded
            in manifests; None when not bound (a saved file fed in its recorded order).
    """

    module: nn.Module
    inputs: list[InputSpec]
    outputs: list[str]
    source: str
    recipe: Recipe | None = None
    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL
    checkpoint: str | None = None
    binding: dict[str, Any] | None = None

    @property
    def input_names(self) -> list[str]:
        return [s.name for s in self.inputs]

    def tensors(self, feed: dict[str, np.ndarray], device: str = "cpu") -> tuple[torch.Tensor, ...]:
        """``feed``'s arrays as tensors in input order."""
        return tuple(torch.from_numpy(np.ascontiguousarray(feed[n])).to(device) for n in self.input_names)

    def predict(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Eager inference on named numpy inputs (no grad)."""
        with torch.inference_mode():
            outs = self.module(*self.tensors(feed))
        return {n: t.detach().cpu().numpy() for n, t in zip(self.outputs, outs, strict=True)}


def probe_outputs(
    module: nn.Module, inputs: Sequence[InputSpec], names: Sequence[str] | None, keywords: Sequence[str] = ()
) -> list[str]:
    """Run ``module`` once on random example inputs and return output names (checked against ``names``);
    the trailing ``keywords`` inputs are passed by keyword.

    Raises:
        BadInput: the model fails on the example inputs, or returns a different number of outputs than named.
    """
    from edgekit.core.spec import random_inputs

    feed = random_inputs(inputs)
    args = tuple(torch.from_numpy(feed[s.name]) for s in inputs)
    n = len(args) - len(keywords)
    try:
        with torch.inference_mode():
            out = module(*args[:n], **dict(zip(keywords, args[n:], strict=True)))
    except Exception as exc:  # the user's model: any failure means the inputs don't fit it
        shapes = ", ".join(f"{s.name}:{'x'.join(map(str, s.shape))}:{s.dtype}" for s in inputs)
        raise BadInput(
            f"the model failed on example inputs ({shapes}): {type(exc).__name__}: {exc}; "
            f"check --input names, shapes and dtypes match forward()"
        ) from exc
    found = output_names_of(out)
    if names is None:
        return found
    if len(names) != len(found):
        raise BadInput(f"the model returns {len(found)} outputs but {len(names)} names were given ({list(names)})")
    return list(names)
