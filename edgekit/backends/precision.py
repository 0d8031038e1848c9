"""Precisions on a device: verification tolerances per precision, and forward wrappers that run a model in fp16 or
bf16 while taking and returning its usual (fp32) tensors.

Tolerances (``|got - eager_fp32| <= atol + rtol * |eager_fp32|``, elementwise, every output; the larger of these
and the model's own tolerances is used):

=========  ======  ======  ==========================================================================
precision  atol    rtol    why
=========  ======  ======  ==========================================================================
fp32       1e-4    1e-3    same arithmetic; only summation order differs (recipes' default)
fp32 cuda  1e-3    1e-3    GPU kernels (cuDNN/cuBLAS algorithms) sum in other orders than the CPU
fp16       1e-2    1e-2    10-bit mantissa (eps 9.8e-4), errors accumulate over layers
bf16       5e-2    5e-2    7-bit mantissa (eps 7.8e-3): 8x coarser than fp16
int8       1e-1    1e-1    quantization steps of ~1/127 of each tensor's range; judge with cosine too
=========  ======  ======  ==========================================================================

``min_cosine`` is the cosine similarity (flattened output vs eager) below which an output fails even when a loose
elementwise check passes: :func:`edgekit.artifacts.verify.verify_runner` enforces it for every output.
These numbers are engineering choices from the formats' machine epsilons, not measurements on this project's
models on a GPU: no GPU was available when they were written.

fp16 / bf16 are obtained two ways (:func:`precision_forward`): ``cast`` converts a copy of the module's floating
parameters and buffers (``module.to(dtype)``) and casts floating inputs in and floating outputs back to fp32;
``autocast`` keeps fp32 weights and runs ``torch.autocast(device, dtype, cache_enabled=False)`` (the weight-cast
cache must be off for CUDA-graph capture, per PyTorch's ``make_graphed_callables`` notes). ``cast`` launches fewer
kernels (what counts at batch 1); ``autocast`` survives graphs that hard-code fp32 constants (ExportedPrograms).

:func:`tf32` scopes PyTorch's TF32 flags: CUDA fp32 runs keep TF32 off so that "fp32" means fp32 (cuDNN
convolutions allow TF32 by default), and the flags are restored afterwards.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from edgekit.core.errors import BadInput, suggest

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
FLOAT_PRECISIONS = ("fp32", "fp16", "bf16")
MODES = ("cast", "autocast")


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """How closely a precision must match eager fp32.

    Args:
        atol, rtol: elementwise bounds.
        min_cosine: flattened-output cosine similarity below which an output is suspect.
        why: one line for reports.
    """

    atol: float
    rtol: float
    min_cosine: float
    why: str


TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(1e-4, 1e-3, 0.99999, "same arithmetic, other summation order"),
    "fp16": Tolerance(1e-2, 1e-2, 0.999, "10-bit mantissa (eps 9.8e-4), accumulated over layers"),
    "bf16": Tolerance(5e-2, 5e-2, 0.995, "7-bit mantissa (eps 7.8e-3), 8x coarser than fp16"),
    "int8": Tolerance(1e-1, 1e-1, 0.99, "quantization steps of ~1/127 of each tensor's range"),
}
CUDA_FP32 = Tolerance(1e-3, 1e-3, 0.9999, "GPU kernels sum in other orders than the CPU (TF32 off)")


def check_precision(precision: str, allowed: tuple[str, ...] = PRECISIONS) -> str:
    """``precision`` if it is one of ``allowed``.

    Raises:
        BadInput: anything else, with the closest allowed name.
    """
    if precision not in allowed:
        raise BadInput(
            f"unknown precision '{precision}'; expected one of {', '.join(allowed)}.{suggest(precision, allowed)}"
        )
    return precision


def tolerance_for(precision: str, device: str = "cpu", atol: float = 0.0, rtol: float = 0.0) -> Tolerance:
    """The tolerance for ``precision`` on ``device``, never tighter than the model's own ``atol`` / ``rtol``.

    Raises:
        BadInput: an unknown precision.
    """
    base = CUDA_FP32 if (precision == "fp32" and device == "cuda") else TOLERANCES[check_precision(precision)]
    return dataclasses.replace(base, atol=max(base.atol, atol), rtol=max(base.rtol, rtol))


def torch_dtype(precision: str) -> Any:
    """The torch dtype computing in ``precision`` (fp32, fp16 or bf16).

    Raises:
        BadInput: int8 or an unknown name (int8 comes from a quantized artifact, not from a cast).
    """
    import torch

    check_precision(precision, FLOAT_PRECISIONS)
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def as_tuple(out: Any) -> tuple[Any, ...]:
    """A forward's result as a tuple (a single tensor becomes a 1-tuple)."""
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def precision_forward(
    module: Any, precision: str = "fp32", mode: str = "cast", device_type: str = "cuda", copy_module: bool = True
) -> Callable[..., tuple[Any, ...]]:
    """A function running ``module`` in ``precision`` on tensors of the model's own dtypes.

    Floating inputs are cast to the compute dtype and floating outputs cast back to fp32 (``cast``), or
    ``torch.autocast`` decides per op (``autocast``); integer inputs (token ids) pass untouched. Works on any device
    autocast supports, so the wrapping itself is tested on the CPU.

    Args:
        module: an ``nn.Module``, a ScriptModule or an ExportedProgram's module.
        precision: fp32 (returns a plain call), fp16 or bf16.
        mode: ``cast`` or ``autocast`` (see the module doc).
        device_type: autocast's device type (``cuda`` or ``cpu``).
        copy_module: ``cast`` converts a deep copy (leave the caller's module in fp32); False converts in place
            (a module the runner loaded itself).

    Raises:
        BadInput: unknown precision or mode.
    """
    import torch

    dtype = torch_dtype(precision)
    if precision == "fp32":
        return lambda *xs: as_tuple(module(*xs))
    if mode not in MODES:
        raise BadInput(f"unknown precision mode '{mode}'; expected one of {', '.join(MODES)}.{suggest(mode, MODES)}")

    def back(outs: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(o.float() if o.is_floating_point() and o.dtype != torch.float32 else o for o in outs)

    if mode == "autocast":

        def run_autocast(*xs: Any) -> tuple[Any, ...]:
            with torch.autocast(device_type, dtype=dtype, cache_enabled=False):
                return back(as_tuple(module(*xs)))

        return run_autocast

    low = (copy.deepcopy(module) if copy_module else module).to(dtype)

    def run_cast(*xs: Any) -> tuple[Any, ...]:
        return back(as_tuple(low(*(x.to(dtype) if x.is_floating_point() else x for x in xs))))

    return run_cast


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """Set TF32 for cuBLAS matmuls and cuDNN convolutions inside the block; restore the previous flags after."""
    import torch

    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
