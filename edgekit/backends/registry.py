"""The backend registry: one row per backend holding everything edgekit knows about it -- its runner and loader,
the artifact formats it runs (names from :data:`edgekit.artifacts.formats.FORMATS`), its devices, the precisions it
derives, an availability probe that really imports/creates what it needs, its rank for ``--backend auto`` and the
options its loader accepts. Runner, loader and probe modules are imported only when used, so listing backends and
``edgekit --help`` cost no heavy import.

Adding a backend is one runner (+ loader) module and one row here.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from edgekit.backends.trt.options import BUILD_OPTIONS
from edgekit.core.errors import BadInput, suggest

if TYPE_CHECKING:  # the runner modules (numpy and up) load on first use, not with the table
    from edgekit.backends.base import Runner

EAGER = "eager"
"""The pseudo-format of an ``nn.Module`` / :class:`~edgekit.core.model.LoadedModel` (no file)."""


@dataclasses.dataclass(frozen=True)
class BackendInfo:
    """A registered backend.

    Args:
        name: the ``--backend`` value.
        runner: ``module:Class`` of its :class:`Runner`.
        loader: ``module:callable`` with signature ``(artifact, *, device, threads, **options) -> Callable[[], Any]``.
        formats: artifact formats it runs (names of ``FORMATS``, or ``eager``).
        devices: devices it can run on (the first is the default).
        probe: ``module:function`` ``() -> str | None``: None when usable here, else why not and the fix.
        rank: ``--backend auto``'s order (lower = simpler, wins ties).
        precisions: precisions it can derive from an fp32 artifact.
        options: keyword options its loader accepts; others are refused.
        extra: the pip extra that installs it (``pip install 'edgekit[EXTRA]'``).
        description: one line for listings.
    """

    name: str
    runner: str
    loader: str
    formats: tuple[str, ...]
    devices: tuple[str, ...]
    probe: str
    rank: int
    precisions: tuple[str, ...] = ("fp32",)
    options: tuple[str, ...] = ()
    extra: str | None = None
    description: str = ""

    def runner_cls(self) -> type[Runner]:
        """The runner class (imports its module)."""
        loaded: type[Runner] = _ref(self.runner)
        return loaded

    def loader_fn(self) -> Callable[..., Callable[[], Any]]:
        """The loader factory (imports its module)."""
        loaded: Callable[..., Callable[[], Any]] = _ref(self.loader)
        return loaded

    def unavailable_reason(self) -> str | None:
        """Run the probe: None when the backend can run here, else why not (with the fix). A probe module that
        does not import counts as unavailable."""
        try:
            reason: str | None = _ref(self.probe)()
        except ImportError as exc:
            reason = f"its probe ({self.probe}) cannot be imported: {exc}"
        if reason is not None and self.extra and "pip install" not in reason:
            reason += f"; pip install 'edgekit[{self.extra}]'"
        return reason

    def check_options(self, options: dict[str, Any]) -> None:
        """Raises BadInput naming the accepted options when ``options`` holds one this backend does not take."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            accepted = ", ".join(self.options) if self.options else "none"
            raise BadInput(f"backend {self.name} does not take option(s) {unknown}; it accepts: {accepted}")


def _ref(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


_B = "edgekit.backends"
_GRAPH_OPTIONS = ("precision", "precision_mode", "max_graphs", "warmup", "tf32")

BACKENDS: dict[str, BackendInfo] = {
    b.name: b
    for b in (
        BackendInfo(
            "torch",
            f"{_B}.torch_runner:EagerRunner",
            f"{_B}.torch_runner:ModuleFromModel",
            (EAGER,),
            ("cpu", "cuda"),
            f"{_B}.probes:torch_reason",
            rank=0,
            description="eager PyTorch, the baseline every other row is compared with",
        ),
        BackendInfo(
            "torch-cudagraph",
            f"{_B}.cuda_graph:CudaGraphRunner",
            f"{_B}.cuda_graph_loader:ModuleForGraphs",
            (EAGER, "torchscript", "pt2"),
            ("cuda",),
            f"{_B}.probes:cuda_graphs_reason",
            rank=1,
            precisions=("fp32", "fp16", "bf16"),
            options=_GRAPH_OPTIONS,
            description="PyTorch on CUDA replaying one captured CUDA graph per input shape (uncaptured "
            "fallback, reason in details)",
        ),
        BackendInfo(
            "torchscript",
            f"{_B}.torch_runner:TorchScriptRunner",
            f"{_B}.torch_runner:ScriptFromFile",
            ("torchscript",),
            ("cpu", "cuda"),
            f"{_B}.probes:torch_reason",
            rank=2,
            description="a TorchScript file run by torch.jit",
        ),
        BackendInfo(
            "pt2",
            f"{_B}.torch_runner:ExportedProgramRunner",
            f"{_B}.torch_runner:ProgramFromFile",
            ("pt2",),
            ("cpu", "cuda"),
            f"{_B}.probes:torch_export_reason",
            rank=3,
            description="a torch.export ExportedProgram (.pt2)",
        ),
        BackendInfo(
            "onnxruntime",
            f"{_B}.onnxruntime_runner:OnnxRuntimeRunner",
            f"{_B}.onnxruntime_runner:SessionFromOnnx",
            ("onnx",),
            ("cpu", "cuda"),
            f"{_B}.probes:onnxruntime_reason",
            rank=4,
            description="ONNX Runtime: CPU EP, or CUDA EP with I/O binding where onnxruntime-gpu works",
        ),
        BackendInfo(
            "onnxruntime-cudagraph",
            f"{_B}.ort_cuda:OrtCudaRunner",
            f"{_B}.ort_cuda_loader:CudaSessionsFromOnnx",
            ("onnx",),
            ("cuda",),
            f"{_B}.probes:ort_cuda_reason",
            rank=5,
            options=("graph", "max_graphs", "warmup"),
            description="ONNX Runtime CUDA EP with I/O binding and enable_cuda_graph where ORT accepts it",
        ),
        BackendInfo(
            "tensorrt",
            f"{_B}.trt.runner:TensorRTRunner",
            f"{_B}.trt.loader:load_engine",
            ("trt", "onnx"),
            ("cuda",),
            f"{_B}.trt.fallback:trt_unavailable_reason",
            rank=6,
            precisions=("fp32", "fp16", "int8"),
            options=BUILD_OPTIONS,
            extra="trt",
            description="a TensorRT engine (an .onnx is built into one first, cached), buffers through pycuda",
        ),
        BackendInfo(
            "aoti",
            f"{_B}.aoti_runner:AotiRunner",
            f"{_B}.aoti_runner:AotiPackageLoader",
            ("aoti",),
            ("cpu", "cuda"),
            f"{_B}.aoti_runner:aoti_reason",
            rank=7,
            description="an AOTInductor package (.aoti.pt2) loaded by torch._inductor.aoti_load_package; inputs "
            "checked against its compiled ranges (cuda: written, not yet run on a GPU)",
        ),
        BackendInfo(
            "torch-compile",
            f"{_B}.compile_runner:CompileRunner",
            f"{_B}.compile_runner:compiled_loader",
            (EAGER,),
            ("cpu", "cuda"),
            f"{_B}.edge_probes:torch_compile_reason",
            rank=8,
            options=("mode", "dynamic"),
            description="torch.compile (inductor) of the eager module; compile time reported apart (CUDA unverified)",
        ),
        BackendInfo(
            "openvino",
            f"{_B}.openvino_runner:OpenVinoRunner",
            f"{_B}.openvino_runner:compiled_loader",
            ("openvino", "onnx"),
            ("cpu",),
            f"{_B}.edge_probes:openvino_reason",
            rank=9,
            options=("precision_hint", "ov_device"),
            extra="openvino",
            description="OpenVINO Core: an IR or ONNX (Q/DQ int8 too) on CPU, precision hint f32 unless asked "
            "(ov_device GPU/NPU unverified)",
        ),
        BackendInfo(
            "executorch",
            f"{_B}.executorch_runner:ExecuTorchRunner",
            f"{_B}.executorch_runner:method_loader",
            ("executorch",),
            ("cpu",),
            f"{_B}.edge_probes:executorch_reason",
            rank=10,
            extra="executorch",
            description="ExecuTorch runtime (XNNPACK delegate) running a .pte",
        ),
        BackendInfo(
            "ncnn",
            f"{_B}.ncnn_runner:NcnnRunner",
            f"{_B}.ncnn_runner:net_loader",
            ("ncnn",),
            ("cpu",),
            f"{_B}.edge_probes:ncnn_reason",
            rank=11,
            extra="ncnn",
            description="ncnn (fp32, one sample per extractor, batch looped)",
        ),
    )
}


def backend_names() -> str:
    """``torch, torch-cudagraph, ...``: every registered backend in rank order (for help texts)."""
    return ", ".join(b.name for b in ranked())


def get_backend(name: str) -> BackendInfo:
    """The registered backend ``name``.

    Raises:
        BadInput: unknown name, with the closest registered one.
    """
    if name not in BACKENDS:
        raise BadInput(
            f"unknown backend '{name}'; expected one of {', '.join(BACKENDS)}, or auto."
            f"{suggest(name, list(BACKENDS) + ['auto'])}"
        )
    return BACKENDS[name]


def ranked(infos: Sequence[BackendInfo] | None = None) -> list[BackendInfo]:
    """Backends (default: all) in ``auto``'s order: by rank, simplest first."""
    return sorted(BACKENDS.values() if infos is None else infos, key=lambda b: b.rank)


def backends_for(fmt: str, device: str | None = None) -> list[BackendInfo]:
    """Backends able to run artifacts of format ``fmt`` (on ``device``, when given), in rank order."""
    return [b for b in ranked() if fmt in b.formats and (device is None or device in b.devices)]


def create_runner(
    name: str,
    artifact: Any,
    *,
    device: str | None = None,
    threads: int | None = None,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    **options: Any,
) -> Runner:
    """Backend ``name``'s runner on ``artifact`` (a path, or a model for the ``eager`` format), not yet activated:
    ``runner_cls(loader_fn(artifact, device=, threads=, **options), device=, threads=, inputs=, outputs=)``.

    Args:
        device: default: the backend's first device.
        options: the backend's declared options (:attr:`BackendInfo.options`).

    Raises:
        BadInput: an unknown backend, or an option it does not accept (naming the accepted ones).
    """
    row = get_backend(name)
    row.check_options(options)
    dev = device or row.devices[0]
    loader = row.loader_fn()(artifact, device=dev, threads=threads, **options)
    return row.runner_cls()(loader, device=dev, threads=threads, inputs=inputs, outputs=outputs)
