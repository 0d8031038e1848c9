"""TensorRT runner: a serialized engine run through the TensorRT 10/11 tensor-name API with pycuda buffers.

One execution context, one CUDA stream, the device's primary context (``pycuda.autoprimaryctx``: ``autoinit``
makes a second context that clashes with PyTorch and TensorRT, TRAPS.md). Input and output buffers are allocated
once, pinned on the host and sized for the profile's *max* shapes; each call sets the input shapes
(``set_input_shape``) before reading output shapes, so every shape inside the profile works and a shape outside it
is a :class:`~edgekit.core.errors.BadInput` naming the range. Each call is timed like trtexec: CUDA events around the
host-to-device copies, ``execute_async_v3`` and the device-to-host copies; :attr:`last_timing` holds the split
and :meth:`timing_breakdown` gives medians for the benchmark.

An ``.onnx`` artifact is built into an engine first (:func:`edgekit.backends.trt.build.build_engine`, cached).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from edgekit.backends.base import Runner
from edgekit.backends.trt.profiles import ShapeRange, check_shape, format_dims
from edgekit.core.errors import BackendUnavailable, BadInput, EdgekitError

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
BUILD_OPTIONS = (
    "profiles",
    "min_shapes",
    "opt_shapes",
    "max_shapes",
    "precision",
    "workspace",
    "timing_cache",
    "dla_core",
    "gpu_fallback",
    "tf32",
    "fp16_converter",
    "cache_dir",
    "use_cache",
)


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


class TensorRTRunner(Runner):
    """Runs a TensorRT engine (``.engine``/``.plan``; an ``.onnx`` is built first) on the GPU.

    Args:
        artifact: path of the engine, or of an ONNX file to build (build options in ``opts``).
        device: must be ``cuda``.
        threads: unused (recorded only).
        opts: ``outputs`` (output order), and for an ONNX artifact the keywords of
            :func:`edgekit.backends.trt.build.build_engine` (``precision``, ``min_shapes`` ...).
    """

    backend = "tensorrt"

    def __init__(self, artifact: Any, device: str = "cuda", threads: int | None = None, **opts: Any) -> None:
        super().__init__(device, threads)
        self.path = Path(artifact)
        self._output_order: list[str] | None = list(opts["outputs"]) if opts.get("outputs") else None
        self.build_options = {k: v for k, v in opts.items() if k in BUILD_OPTIONS}
        self.engine: trt.ICudaEngine | None = None
        self.context: trt.IExecutionContext | None = None
        self.bindings: dict[str, Binding] = {}
        self.stream: Any = None
        self.events: list[Any] = []
        self.last_timing: dict[str, float] = {}

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def activate_impl(self) -> None:
        if self.device != "cuda":
            raise BackendUnavailable(
                f"tensorrt runs on CUDA GPUs only, got --device {self.device}; use --device "
                f"cuda, or --backend onnxruntime for the CPU"
            )
        from edgekit.backends.trt.fallback import trt_unavailable_reason

        reason = trt_unavailable_reason()
        if reason is not None:
            raise BackendUnavailable(reason)
        import pycuda.autoprimaryctx  # noqa: F401
        import pycuda.driver as cuda
        import tensorrt as trt

        engine_path = self._engine_path()
        from edgekit.backends.trt.build import CollectingLogger

        logger = CollectingLogger()
        self._logger = logger  # TensorRT needs the logger alive as long as the runtime and engine
        self._runtime = trt.Runtime(logger.trt_logger)
        engine = self._runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if engine is None:
            raise BadInput(
                f"TensorRT {trt.__version__} cannot load '{engine_path}' ({logger.last_errors()}): engines "
                f"only load with the TensorRT version and GPU architecture that built them; rebuild it "
                f"here with `edgekit build MODEL.onnx -o {engine_path.name}`"
            )
        self.engine = engine
        self.context = engine.create_execution_context()
        self.bindings = self._allocate(engine, self.context, cuda)
        self.stream = cuda.Stream()
        self.events = [cuda.Event() for _ in range(4)]
        self.details.update(self._describe(engine_path, trt.__version__, cuda))

    def deactivate_impl(self) -> None:
        for b in self.bindings.values():
            if b.device is not None:
                b.device.free()
        self.bindings, self.context, self.engine, self.stream, self.events = {}, None, None, None, []

    def _engine_path(self) -> Path:
        if not self.path.is_file():
            raise BadInput(
                f"engine file '{self.path}' does not exist; build one with `edgekit build MODEL.onnx -o "
                f"model.engine` or `edgekit export MODEL --format trt`"
            )
        if self.path.suffix.lower() != ".onnx":
            return self.path
        from edgekit.backends.trt.build import build_engine
        from edgekit.backends.trt.cache import default_cache_dir
        from edgekit.core.io import sha256

        precision = str(self.build_options.get("precision", "fp32"))
        out = default_cache_dir() / "runner" / f"{self.path.stem}-{sha256(self.path)[:12]}-{precision}.engine"
        self.details["build"] = build_engine(self.path, out, **self.build_options)
        return out

    def _allocate(self, engine: trt.ICudaEngine, context: trt.IExecutionContext, cuda: Any) -> dict[str, Binding]:
        """Buffers for the profile's max shapes: set every input to its max, then read the output shapes."""
        import tensorrt as trt

        bindings: dict[str, Binding] = {}
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        for name in names:
            if engine.get_tensor_mode(name) != trt.TensorIOMode.INPUT:
                continue
            rng = input_range(engine, name)
            bindings[name] = Binding(name, True, numpy_dtype(engine.get_tensor_dtype(name), name), rng.max, rng)
            context.set_input_shape(name, rng.max)
        for name in names:
            if name in bindings:
                continue
            shape = dims_tuple(context.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                raise BadInput(
                    f"output '{name}' has a data-dependent shape ({format_dims(shape)}); edgekit's "
                    f"TensorRT runner supports outputs whose shape follows from the input shapes"
                )
            bindings[name] = Binding(name, False, numpy_dtype(engine.get_tensor_dtype(name), name), shape)
        for b in bindings.values():
            b.host = cuda.pagelocked_empty(volume(b.max_shape), b.dtype)
            b.device = cuda.mem_alloc(b.nbytes)
            if not context.set_tensor_address(b.name, int(b.device)):
                raise EdgekitError(f"TensorRT refused the device address of tensor '{b.name}'")
        return bindings

    def _describe(self, engine_path: Path, version: str, cuda: Any) -> dict[str, Any]:
        from edgekit.backends.trt.cache import read_sidecar

        side = read_sidecar(engine_path) or {}
        dev = cuda.Context.get_device()
        return {
            "engine": str(engine_path),
            "trt_version": version,
            "device": "cuda",
            "gpu": f"{dev.name()} (compute capability {'.'.join(map(str, dev.compute_capability()))})",
            "precision": (side.get("precision") or {}).get("description", "unknown (no sidecar)"),
            "profile": {n: b.range.describe() for n, b in self.bindings.items() if b.range is not None},
            "buffers": "pinned host + device, sized for the profile's max shapes; one stream",
            "timing": "CUDA events: H2D, execute_async_v3, D2H (like trtexec)",
        }

    # -- inference -------------------------------------------------------------------------------------------------
    def input_names(self) -> Sequence[str]:
        return [n for n, b in self.bindings.items() if b.is_input]

    def output_names(self) -> Sequence[str]:
        outs = [n for n, b in self.bindings.items() if not b.is_input]
        if self._output_order and sorted(self._output_order) == sorted(outs):
            return list(self._output_order)
        return outs

    def prepare(self, feed: dict[str, NDArray]) -> dict[str, NDArray]:
        """The feed cast to the engine's dtypes and checked against the profile (BadInput outside it)."""
        out = {}
        for name in self.input_names():
            b = self.bindings[name]
            if b.range is None:
                raise EdgekitError(f"input '{name}' has no profile range")
            out[name] = prepare_input(name, feed[name], b.dtype, b.range)
        return out

    def infer_impl(self, feed: dict[str, NDArray]) -> dict[str, NDArray]:
        return self.run_prepared(self.prepare(feed))

    def run_prepared(self, feed: dict[str, NDArray]) -> dict[str, NDArray]:
        """One timed inference on an already prepared feed; sets :attr:`last_timing` (ms)."""
        import pycuda.driver as cuda

        context, stream = self.context, self.stream
        if context is None or stream is None:
            raise EdgekitError("tensorrt runner used before activate()")
        start, h2d, compute, end = self.events
        start.record(stream)
        for name, arr in feed.items():
            b = self.bindings[name]
            if not context.set_input_shape(name, arr.shape):
                raise BadInput(f"TensorRT refused shape {format_dims(arr.shape)} for input '{name}'")
            host = b.host[: arr.size]
            host[...] = arr.reshape(-1)
            cuda.memcpy_htod_async(b.device, host, stream)
        h2d.record(stream)
        if not context.execute_async_v3(stream.handle):
            raise EdgekitError(
                f"TensorRT execute_async_v3 failed on '{self.path}' for input shapes "
                f"{ {k: format_dims(v.shape) for k, v in feed.items()} }"
            )
        compute.record(stream)
        shapes = {}
        for name in self.output_names():
            b = self.bindings[name]
            shapes[name] = dims_tuple(context.get_tensor_shape(name))
            cuda.memcpy_dtoh_async(b.host[: volume(shapes[name])], b.device, stream)
        end.record(stream)
        stream.synchronize()
        self.last_timing = {
            "h2d_ms": float(start.time_till(h2d)),
            "compute_ms": float(h2d.time_till(compute)),
            "d2h_ms": float(compute.time_till(end)),
            "total_ms": float(start.time_till(end)),
        }
        return {n: np.array(self.bindings[n].host[: volume(s)]).reshape(s) for n, s in shapes.items()}

    def timed_call(self, feed: dict[str, NDArray]) -> Callable[[], Any]:
        """End-to-end like trtexec's latency: H2D + compute + D2H, synchronized; the split is in last_timing."""
        prepared = self.prepare(feed)
        self.run_prepared(prepared)
        return lambda: self.run_prepared(prepared)

    def timing_breakdown(self, feed: dict[str, NDArray], iterations: int = 200, warmup: int = 20) -> dict[str, float]:
        """Medians (ms) of H2D, compute and D2H over ``iterations`` calls, after ``warmup``: the bench's split."""
        prepared = self.prepare(feed)
        for _ in range(warmup):
            self.run_prepared(prepared)
        samples: dict[str, list[float]] = {}
        for _ in range(iterations):
            self.run_prepared(prepared)
            for k, v in self.last_timing.items():
                samples.setdefault(k, []).append(v)
        return {k: statistics.median(v) for k, v in samples.items()} | {"iterations": float(iterations)}
