"""TensorRT runner: a deserialized engine (loader: :mod:`edgekit.backends.trt.loader`) run through the TensorRT 10/11
tensor-name API with pycuda buffers.

One execution context, one CUDA stream, the device's primary context (``pycuda.autoprimaryctx``: ``autoinit``
makes a second context that clashes with PyTorch and TensorRT, TRAPS.md). Input and output buffers are allocated
once, pinned on the host and sized for the profile's *max* shapes; each call sets the input shapes
(``set_input_shape``) before reading output shapes, so every shape inside the profile works and a shape outside it
is a :class:`~edgekit.core.errors.BadInput` naming the range. Each call is timed like trtexec: CUDA events around the
host-to-device copies, ``execute_async_v3`` and the device-to-host copies; :attr:`last_timing` holds the split
and :meth:`timing_breakdown` gives medians for the benchmark.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekit.backends.base import Runner
from edgekit.backends.trt.bindings import Binding, NDArray, dims_tuple, input_range, numpy_dtype, prepare_input, volume
from edgekit.backends.trt.profiles import format_dims
from edgekit.core.errors import BackendUnavailable, BadInput, EdgekitError

if TYPE_CHECKING:
    import tensorrt as trt


class TensorRTRunner(Runner):
    """Runs a TensorRT engine (``.engine``/``.plan``; an ``.onnx`` is built first) on the GPU.

    Args:
        loader: returns a :class:`~edgekit.backends.trt.loader.LoadedEngine` (:class:`EngineFromPath`).
        device: must be ``cuda``.
        threads: unused (recorded only).
        outputs: output order (default: the engine's).
    """

    backend = "tensorrt"

    def __init__(
        self,
        loader: Callable[[], Any],
        *,
        device: str = "cuda",
        threads: int | None = None,
        inputs: Sequence[str] | None = None,
        outputs: Sequence[str] | None = None,
    ) -> None:
        super().__init__(loader, device=device, threads=threads, inputs=inputs, outputs=outputs)
        self.path = Path(getattr(loader, "path", "?"))
        self.engine: trt.ICudaEngine | None = None
        self.context: trt.IExecutionContext | None = None
        self.bindings: dict[str, Binding] = {}
        self.stream: Any = None
        self.events: list[Any] = []
        self.last_timing: dict[str, float] = {}

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def preflight(self) -> None:
        if self.device != "cuda":
            raise BackendUnavailable(
                f"tensorrt runs on CUDA GPUs only, got --device {self.device}; use --device "
                f"cuda, or --backend onnxruntime for the CPU"
            )

    def activate_impl(self) -> None:
        import pycuda.driver as cuda
        import tensorrt as trt

        engine = self.loaded.engine
        self.engine = engine
        self.context = engine.create_execution_context()
        self.bindings = self._allocate(engine, self.context, cuda)
        self.stream = cuda.Stream()
        self.events = [cuda.Event() for _ in range(4)]
        self.details.update(self._describe(self.loaded.path, trt.__version__, cuda))

    def deactivate_impl(self) -> None:
        for b in self.bindings.values():
            if b.device is not None:
                b.device.free()
        self.bindings, self.context, self.engine, self.stream, self.events = {}, None, None, None, []

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
        if self.outputs and sorted(self.outputs) == sorted(outs):
            return list(self.outputs)
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
