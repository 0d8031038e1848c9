"""The engine's I/O tensors as numpy sees them: dtypes, shapes, profile ranges and the buffers of one binding.
GPU-free (tested with the labelled fakes in tests/trt/conftest.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from edgekit.backends.trt.profiles import ShapeRange, check_shape, format_dims
from edgekit.core.errors import BadInput

if TYPE_CHECKING:
    import tensorrt as trt

NDArray = npt.NDArray[Any]

# Our own table: trt.nptype is untyped in the stubs, and BF16/FP8/INT4 have no numpy type to hand back.
NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "FLOAT": np.dtype(np.float32),
    "HALF": np.dtype(np.float16),
    "INT8": np.dtype(np.int8),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
}


def numpy_dtype(trt_dtype: Any, name: str = "?") -> np.dtype[Any]:
    """The numpy dtype of a ``trt.DataType`` (by member name).

    Raises:
        BadInput: a type with no numpy equivalent (BF16, FP8, INT4, FP4) at the engine's I/O.
    """
    key = str(getattr(trt_dtype, "name", trt_dtype)).split(".")[-1]
    if key not in NUMPY_DTYPES:
        raise BadInput(
            f"engine tensor '{name}' has type {key}, which has no numpy equivalent; rebuild the engine "
            f"with fp32/fp16/int32/int64/int8/uint8/bool inputs and outputs"
        )
    return NUMPY_DTYPES[key]


def volume(shape: Sequence[int]) -> int:
    """Number of elements of ``shape`` (1 for a scalar)."""
    n = 1
    for d in shape:
        n *= int(d)
    return n


def dims_tuple(dims: Any) -> tuple[int, ...]:
    """A ``trt.Dims`` as a tuple (the stubs do not type Dims as iterable: index it)."""
    return tuple(int(dims[i]) for i in range(len(dims)))


def prepare_input(name: str, value: NDArray, dtype: np.dtype[Any], rng: ShapeRange) -> NDArray:
    """``value`` as a C-contiguous array of the engine's dtype, checked against the profile range.

    Raises:
        BadInput: the shape is outside the profile (naming the range), or the dtype cannot be cast safely
            (float into an integer input, for example).
    """
    arr = np.asarray(value)
    check_shape(name, arr.shape, rng)
    if arr.dtype != dtype:
        if not np.can_cast(arr.dtype, dtype, casting="same_kind"):
            raise BadInput(f"input '{name}' has dtype {arr.dtype}, the engine expects {dtype}; convert it first")
        arr = arr.astype(dtype)
    return np.ascontiguousarray(arr)


def input_range(engine: trt.ICudaEngine, name: str) -> ShapeRange:
    """The shapes input ``name`` accepts: profile 0's min/opt/max, or the fixed shape of a static input in an engine
    built without profiles (trtexec without shapes).

    Raises:
        BadInput: a dynamic input with no profile range.
    """
    static = dims_tuple(engine.get_tensor_shape(name))
    if all(d >= 0 for d in static):
        return ShapeRange(static, static, static)
    shapes = [dims_tuple(d) for d in engine.get_tensor_profile_shape(name, 0)]
    if len(shapes) != 3 or any(len(s) != len(static) for s in shapes):
        raise BadInput(f"engine input '{name}' is dynamic ({format_dims(static)}) but has no optimization profile")
    return ShapeRange(shapes[0], shapes[1], shapes[2])


@dataclasses.dataclass
class Binding:
    """One I/O tensor: its dtype, the profile range (inputs), the max shape its buffers hold, and the buffers."""

    name: str
    is_input: bool
    dtype: np.dtype[Any]
    max_shape: tuple[int, ...]
    range: ShapeRange | None = None
    host: Any = None
    device: Any = None

    @property
    def nbytes(self) -> int:
        return max(volume(self.max_shape) * self.dtype.itemsize, 1)
