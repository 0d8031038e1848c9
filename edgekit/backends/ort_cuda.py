"""ONNX Runtime on the CUDA EP with I/O binding, replaying CUDA graphs (``enable_cuda_graph``) where ORT allows it.

ORT captures a CUDA graph only when every node of the model is placed on the CUDA EP (no control flow, no shape
nodes on the CPU); otherwise creating the session raises ("This session cannot use the graph capture feature as
requested by the user as all compute graph nodes have not been partitioned to the CUDAExecutionProvider"). On an
H100 it refused every transformer tried (TRAPS.md) and matched torch's graph replay on CNNs. So the runner always
opens a plain CUDA EP session (I/O binding) and, when asked for graphs, tries a second session with
``enable_cuda_graph``; if ORT refuses, or capture fails at a shape, that shape runs on the plain session and
``details["fallback"]`` says why.

A captured graph replays on fixed device addresses and shapes, so each input-shape key gets its own I/O binding,
device buffers (``OrtValue`` on ``cuda``) and graph id (``RunOptions`` entry ``gpu_graph_id``, 1, 2, ...; 0 is
reserved by ORT and -1 skips capture). Output shapes come from one run on the plain session. ORT's Python API
cannot free one captured graph, so past ``max_graphs`` shapes new shapes run uncaptured instead of evicting.

Status: the bookkeeping (graph ids, refusal messages, activation without a GPU) is unit-tested on the CPU;
nothing here has run on a GPU in this repository yet (written against ONNX Runtime's CUDA EP and I/O binding
documentation and its
``onnxruntime_test_python_cudagraph.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from edgekit.backends.base import Arrays, Runner
from edgekit.backends.graph_cache import ShapeKey, describe_key, shape_key
from edgekit.core.errors import BackendUnavailable, BadInput, one_line


class GraphSlots:
    """Graph ids per shape key: 1, 2, ... up to ``max_graphs``; None once they are used up (ORT's Python API
    cannot release one captured graph, so a slot is never reused)."""

    def __init__(self, max_graphs: int = 8) -> None:
        if max_graphs < 1:
            raise BadInput(f"max_graphs must be at least 1, got {max_graphs}")
        self.max_graphs = max_graphs
        self.ids: dict[ShapeKey, int] = {}

    def assign(self, key: ShapeKey) -> int | None:
        """The id of ``key`` (a new one on first sight), or None when every slot is taken by other keys."""
        if key in self.ids:
            return self.ids[key]
        if len(self.ids) >= self.max_graphs:
            return None
        self.ids[key] = len(self.ids) + 1
        return self.ids[key]


def graph_refusal(exc: BaseException) -> str:
    """The reason ORT gave for refusing CUDA-graph capture, with the cause spelled out when recognized."""
    text = one_line(exc, kind=False)
    low = text.lower()
    if "partitioned" in low or "memcpy" in low:
        return (
            f"ORT placed some nodes on the CPU (typically shape computations), so it cannot capture a CUDA "
            f"graph: {text}"
        )
    if "control flow" in low:
        return f"the model has control-flow nodes (If/Loop/Scan), which ORT cannot capture: {text}"
    return f"ORT refused CUDA-graph capture: {text}"


def outputs_match(got: Sequence[np.ndarray], expected: Sequence[np.ndarray]) -> str | None:
    """Why a graph replay's outputs differ from the plain session's on the same inputs, or None."""
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        if g.shape != e.shape:
            return f"output {i}: replay shape {list(g.shape)} != plain run {list(e.shape)}"
        if not np.allclose(g, e, rtol=1e-3, atol=1e-5, equal_nan=True):
            return f"output {i}: the graph replay differs from the plain CUDA EP run on the same inputs"
    return None


@dataclasses.dataclass
class GraphBinding:
    """One shape key on the graph session: its id, binding, device buffers and run options."""

    graph_id: int
    binding: Any
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    run_options: Any


@dataclasses.dataclass
class CudaSessions:
    """What :class:`CudaSessionsFromOnnx` loads: the plain CUDA EP session, the ``enable_cuda_graph`` one (None
    when not asked for, or refused: ``refusal`` says why) and the runner's graph settings."""

    plain: Any
    graph: Any
    refusal: str | None
    max_graphs: int
    warmup: int


class CudaSessionsFromOnnx:
    """Opens an ONNX file on ONNX Runtime's CUDA EP: a plain session (I/O binding) and, when ``graph``, a second one
    with ``enable_cuda_graph`` (module doc).

    Args:
        path: the ``.onnx`` file.
        device: must be ``cuda``.
        threads: ``intra_op_num_threads`` (host-side work); default the machine's cores.
        graph: try ``enable_cuda_graph`` (False: plain I/O binding only).
        max_graphs: shape keys captured at most.
        warmup: runs per new shape before it is trusted (ORT captures after its own minimum of regular runs).

    Raises (on call):
        BackendUnavailable: no CUDA EP, or it did not load (exit 3).
        BadInput: the file does not load.
    """

    def __init__(
        self,
        path: Any,
        *,
        device: str = "cuda",
        threads: int | None = None,
        graph: bool = True,
        max_graphs: int = 8,
        warmup: int = 3,
    ) -> None:
        if max_graphs < 1:
            raise BadInput(f"max_graphs must be at least 1, got {max_graphs}")
        self.path, self.device, self.threads = str(path), device, threads
        self.graph, self.max_graphs, self.warmup = graph, max_graphs, warmup
        self.details: dict[str, Any] = {}

    def __call__(self) -> CudaSessions:
        import onnxruntime as ort

        backend = "onnxruntime-cudagraph"
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise BackendUnavailable(
                f"{backend}: onnxruntime {ort.__version__} has no CUDA execution provider "
                f"(has {ort.get_available_providers()}); install onnxruntime-gpu instead of onnxruntime"
            )
        plain = self._session({})
        used = plain.get_providers()
        if used[0] != "CUDAExecutionProvider":
            raise BackendUnavailable(
                f"{backend}: the CUDA EP did not load (session providers {used}); check the "
                f"CUDA and cuDNN libraries onnxruntime-gpu needs"
            )
        self.details.update({"providers": used, "device": "cuda", "io_binding": True, "cuda_graph": False})
        graph_session, refusal = None, None
        if self.graph:
            try:
                graph_session = self._session({"enable_cuda_graph": "1"})
                self.details["cuda_graph"] = True
            except Exception as exc:  # ORT refuses capture at session creation (see module doc)
                refusal = graph_refusal(exc)
        return CudaSessions(plain, graph_session, refusal, self.max_graphs, self.warmup)

    def _session(self, cuda_options: dict[str, str]) -> Any:
        import onnxruntime as ort

        from edgekit.backends.onnxruntime_runner import default_threads

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads or default_threads()
        opts.log_severity_level = 3
        self.details["threads"] = opts.intra_op_num_threads
        try:
            return ort.InferenceSession(
                self.path, opts, providers=[("CUDAExecutionProvider", cuda_options), "CPUExecutionProvider"]
            )
        except Exception as exc:
            if cuda_options:  # the graph session: let the caller report the refusal
                raise
            raise BadInput(
                f"ONNX Runtime cannot load '{self.path}': {one_line(exc, kind=False)}; expected a valid .onnx file "
                f"(edgekit export --format onnx)"
            ) from exc


class OrtCudaRunner(Runner):
    """Runs :class:`CudaSessionsFromOnnx`'s sessions with I/O binding, replaying CUDA graphs where ORT allows
    (module doc); device must be ``cuda``."""

    backend = "onnxruntime-cudagraph"

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
        self.path = str(getattr(loader, "path", "<sessions>"))
        self.warmup: int = getattr(loader, "warmup", 3)
        self.slots = GraphSlots(getattr(loader, "max_graphs", 8))
        self.plain: Any = None
        self.graph_session: Any = None
        self._entries: dict[ShapeKey, GraphBinding] = {}
        self.refused: dict[ShapeKey, str] = {}

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def preflight(self) -> None:
        from edgekit.backends.probes import require_cuda

        if self.device != "cuda":
            raise BackendUnavailable(
                f"{self.backend} runs on cuda only, got --device {self.device}; use --backend onnxruntime on the CPU"
            )
        require_cuda(f"--backend {self.backend}")  # also imports torch first: its CUDA libraries serve ORT

    def activate_impl(self) -> None:
        sessions: CudaSessions = self.loaded
        self.plain, self.graph_session = sessions.plain, sessions.graph
        if sessions.refusal is not None:
            self._fallback(None, sessions.refusal)

    def deactivate_impl(self) -> None:
        self._entries.clear()
        self.plain = self.graph_session = None

    def _fallback(self, key: ShapeKey | None, reason: str) -> None:
        self.details["fallback"] = reason
        if key is not None:
            self.refused[key] = reason
            self.details.setdefault("fallback_shapes", {})[describe_key(key)] = reason

    # -- names -------------------------------------------------------------------------------------------------
    def input_names(self) -> Sequence[str]:
        return [i.name for i in self.plain.get_inputs()]

    def output_names(self) -> Sequence[str]:
        return [o.name for o in self.plain.get_outputs()]

    # -- plain I/O binding -------------------------------------------------------------------------------------
    def _plain_binding(self, feed: Arrays) -> Any:
        binding = self.plain.io_binding()
        for name in self.input_names():
            binding.bind_cpu_input(name, np.ascontiguousarray(feed[name]))
        for name in self.output_names():
            binding.bind_output(name, "cuda")
        return binding

    def _plain_run(self, feed: Arrays) -> list[np.ndarray]:
        binding = self._plain_binding(feed)
        try:
            self.plain.run_with_iobinding(binding)
        except Exception as exc:  # wrong shapes/dtypes surface as ORT's own exception types
            expected = {i.name: (i.shape, i.type) for i in self.plain.get_inputs()}
            got = {k: (list(v.shape), str(v.dtype)) for k, v in feed.items()}
            raise BadInput(
                f"ONNX Runtime failed on '{self.path}': {one_line(exc, kind=False)} (expected inputs {expected}, "
                f"got {got})"
            ) from exc
        return list(binding.copy_outputs_to_cpu())

    # -- graphs ------------------------------------------------------------------------------------------------
    def _entry(self, feed: Arrays) -> GraphBinding | None:
        """The graph binding for ``feed``'s shape key (captured on first sight), or None to run plain."""
        if self.graph_session is None:
            return None
        key = shape_key(self.input_names(), feed)
        if key in self._entries:
            return self._entries[key]
        if key in self.refused:
            return None
        graph_id = self.slots.assign(key)
        if graph_id is None:
            self._fallback(key, f"more than {self.slots.max_graphs} input shapes: this one runs without a graph")
            return None
        expected = self._plain_run(feed)
        try:
            entry = self._capture(graph_id, feed, expected)
            mismatch = outputs_match([entry.outputs[n].numpy() for n in self.output_names()], expected)
        except Exception as exc:  # capture failures surface as ORT's exception types
            self._fallback(key, f"CUDA-graph capture failed at {describe_key(key)}: {one_line(exc, kind=False)}")
            return None
        if mismatch is not None:
            self._fallback(key, mismatch)
            return None
        self._entries[key] = entry
        self.details["captured"] = [describe_key(k) for k in self._entries]
        return entry

    def _capture(self, graph_id: int, feed: Arrays, expected: Sequence[np.ndarray]) -> GraphBinding:
        import onnxruntime as ort

        session = self.graph_session
        inputs = {
            n: ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(feed[n]), "cuda", 0) for n in self.input_names()
        }
        outputs = {
            n: ort.OrtValue.ortvalue_from_shape_and_type(list(e.shape), e.dtype.type, "cuda", 0)
            for n, e in zip(self.output_names(), expected, strict=True)
        }
        binding = session.io_binding()
        for n, v in inputs.items():
            binding.bind_ortvalue_input(n, v)
        for n, v in outputs.items():
            binding.bind_ortvalue_output(n, v)
        run_options = ort.RunOptions()
        run_options.add_run_config_entry("gpu_graph_id", str(graph_id))
        for _ in range(max(self.warmup, 2)):  # regular run(s), capture, then at least one replay
            session.run_with_iobinding(binding, run_options)
        return GraphBinding(graph_id, binding, inputs, outputs, run_options)

    # -- inference ---------------------------------------------------------------------------------------------
    def infer_impl(self, feed: Arrays) -> Arrays:
        entry = self._entry(feed)
        if entry is None:
            return dict(zip(self.output_names(), self._plain_run(feed), strict=True))
        for name, value in entry.inputs.items():
            value.update_inplace(np.ascontiguousarray(feed[name]))
        self.graph_session.run_with_iobinding(entry.binding, entry.run_options)
        return {n: entry.outputs[n].numpy() for n in self.output_names()}

    def timed_call(self, feed: Arrays) -> Callable[[], Any]:
        """Inputs stay in place on the device (no copy-in); each call replays the shape's graph (ORT synchronizes
        after a replay) or, uncaptured, runs the plain session with I/O binding and synchronizes the outputs."""
        import onnxruntime as ort

        self.infer(feed)
        entry = self._entry(feed)
        if entry is not None:
            session, binding, options = self.graph_session, entry.binding, entry.run_options

            def replay() -> None:
                session.run_with_iobinding(binding, options)
                binding.synchronize_outputs()

            return replay
        binding = self.plain.io_binding()
        for name in self.input_names():
            binding.bind_ortvalue_input(
                name, ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(feed[name]), "cuda", 0)
            )
        for name in self.output_names():
            binding.bind_output(name, "cuda")
        plain = self.plain

        def run_bound() -> None:
            plain.run_with_iobinding(binding)
            binding.synchronize_outputs()

        return run_bound
