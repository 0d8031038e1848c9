"""The loader of :class:`~edgekit.backends.ort_cuda.OrtCudaRunner`: an ONNX file opened on ONNX Runtime's CUDA EP, a
plain session and, when asked, one with ``enable_cuda_graph`` (ORT may refuse it: :func:`graph_refusal` says why).

    OrtCudaRunner(CudaSessionsFromOnnx("m.onnx", graph=True), device="cuda")
"""

from __future__ import annotations

import dataclasses
from typing import Any

from edgekit.core.errors import BackendUnavailable, BadInput, one_line


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
