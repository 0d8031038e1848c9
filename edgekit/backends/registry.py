"""The backend registry: one table naming every backend, the artifact formats it runs, the devices it supports and
where its runner lives. Runner modules are imported only when a runner is created, so listing backends and
``edgekit --help`` cost no heavy import.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from edgekit.backends.base import Runner
from edgekit.core.errors import BadInput, suggest


@dataclasses.dataclass(frozen=True)
class BackendInfo:
    """A registered backend.

    Args:
        name: the ``--backend`` value.
        runner: ``module:Class`` of its :class:`Runner`, imported on first use.
        formats: artifact formats it runs (names from :data:`edgekit.artifacts.formats.FORMATS`; ``eager`` is
            the module).
        devices: devices it can run on.
        description: one line for listings.
    """

    name: str
    runner: str
    formats: tuple[str, ...]
    devices: tuple[str, ...]
    description: str

    def load(self) -> type[Runner]:
        module, _, cls = self.runner.partition(":")
        loaded: type[Runner] = getattr(importlib.import_module(module), cls)
        return loaded


BACKENDS: dict[str, BackendInfo] = {
    b.name: b
    for b in (
        BackendInfo(
            "torch",
            "edgekit.backends.torch_runner:EagerRunner",
            ("eager",),
            ("cpu", "cuda"),
            "eager PyTorch, the baseline every other row is compared with",
        ),
        BackendInfo(
            "torchscript",
            "edgekit.backends.torch_runner:TorchScriptRunner",
            ("torchscript",),
            ("cpu", "cuda"),
            "a TorchScript file run by torch.jit",
        ),
        BackendInfo(
            "pt2",
            "edgekit.backends.torch_runner:ExportedProgramRunner",
            ("pt2",),
            ("cpu", "cuda"),
            "a torch.export ExportedProgram (.pt2)",
        ),
        BackendInfo(
            "onnxruntime",
            "edgekit.backends.onnxruntime_runner:OnnxRuntimeRunner",
            ("onnx",),
            ("cpu", "cuda"),
            "ONNX Runtime: CPU EP, or CUDA EP with I/O binding where onnxruntime-gpu works",
        ),
        BackendInfo(
            "torch-cudagraph",
            "edgekit.backends.cuda_graph:CudaGraphRunner",
            ("eager", "torchscript", "pt2"),
            ("cuda",),
            "PyTorch on CUDA replaying one captured CUDA graph per input shape (uncaptured "
            "fallback, reason in details)",
        ),
        BackendInfo(
            "onnxruntime-cudagraph",
            "edgekit.backends.ort_cuda:OrtCudaRunner",
            ("onnx",),
            ("cuda",),
            "ONNX Runtime CUDA EP with I/O binding and enable_cuda_graph where ORT accepts it",
        ),
        BackendInfo(
            "tensorrt",
            "edgekit.backends.trt.runner:TensorRTRunner",
            ("engine", "onnx"),
            ("cuda",),
            "a TensorRT engine, buffers through pycuda",
        ),
    )
}


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


def backends_for(fmt: str) -> list[BackendInfo]:
    """Backends able to run artifacts of format ``fmt``, in registry order."""
    return [b for b in BACKENDS.values() if fmt in b.formats]


def create_runner(name: str, artifact: Any, **options: Any) -> Runner:
    """Instantiate backend ``name``'s runner on ``artifact`` (a path, or an ``nn.Module`` for ``torch``)."""
    return get_backend(name).load()(artifact, **options)  # type: ignore[call-arg]
