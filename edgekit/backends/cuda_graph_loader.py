"""The loader of :class:`~edgekit.backends.cuda_graph.CudaGraphRunner`: the module to capture (a fresh copy of a model,
or a ``.pt2`` / ``.ts`` file through the torch loaders) and the capture settings, checked when it is made.

    CudaGraphRunner(ModuleForGraphs(model, precision="fp16"), device="cuda")
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgekit.core.errors import BadInput


def artifact_format(artifact: Any) -> str:
    """``eager`` for a module or LoadedModel, ``pt2`` / ``torchscript`` by file suffix.

    Raises:
        BadInput: a path with another suffix.
    """
    if not isinstance(artifact, (str, Path)):
        return "eager"
    suffix = Path(artifact).suffix.lower()
    if suffix == ".pt2":
        return "pt2"
    if suffix in (".ts", ".pt"):
        return "torchscript"
    raise BadInput(
        f"torch-cudagraph cannot run '{artifact}'; expected a model, a .pt2 ExportedProgram or a "
        f".ts/.pt TorchScript file (use --backend onnxruntime-cudagraph for .onnx)"
    )


@dataclasses.dataclass(frozen=True)
class GraphSettings:
    """How :class:`CudaGraphRunner` captures (the options of its loader, :class:`ModuleForGraphs`).

    Args:
        precision: ``fp32``, ``fp16`` or ``bf16``; inputs and outputs stay fp32.
        precision_mode: ``auto`` (``cast``, then ``autocast`` if the cast model fails), ``cast`` or ``autocast``.
        max_graphs: shape keys kept captured (LRU).
        warmup: eager iterations before each capture.
        tf32: allow TF32 in fp32 (faster on Ampere+, not fp32-exact); default off.
    """

    precision: str = "fp32"
    precision_mode: str = "auto"
    max_graphs: int = 8
    warmup: int = 3
    tf32: bool = False


class ModuleForGraphs:
    """Loads the module to capture: a fresh eval-mode copy of a model, or a ``.pt2`` / ``.ts`` file through the
    torch loaders, on ``device``; carries the :class:`GraphSettings` (checked here, on construction).

    Args:
        artifact: a :class:`~edgekit.core.model.LoadedModel`, an ``nn.Module``, a ``.pt2`` or a ``.ts``/``.pt`` path.
        device: ``cuda`` (the runner refuses anything else).
        threads: unused by loading (the runner sets torch's CPU threads).
        precision, precision_mode, max_graphs, warmup, tf32: see :class:`GraphSettings`.

    Raises:
        BadInput: an unknown precision or mode, or an artifact of another format.
    """

    def __init__(
        self,
        artifact: Any,
        *,
        device: str = "cuda",
        threads: int | None = None,
        precision: str = "fp32",
        precision_mode: str = "auto",
        max_graphs: int = 8,
        warmup: int = 3,
        tf32: bool = False,
    ) -> None:
        from edgekit.backends.precision import FLOAT_PRECISIONS, MODES, check_precision
        from edgekit.backends.torch_runner import ModuleFromModel, ProgramFromFile, ScriptFromFile

        if precision_mode not in ("auto", *MODES):
            raise BadInput(f"unknown precision mode '{precision_mode}'; expected auto, cast or autocast")
        self.settings = GraphSettings(
            check_precision(precision, FLOAT_PRECISIONS), precision_mode, max_graphs, warmup, tf32
        )
        self.format = artifact_format(artifact)
        self.device, self.threads = device, threads
        self.artifact = artifact
        self._load: Callable[[], Any]
        if self.format == "eager":
            eager = ModuleFromModel(artifact, device=device)
            self.inputs, self.outputs, self._load = eager.inputs, eager.outputs, self._copy(eager.module)
        else:
            file_loader = ProgramFromFile if self.format == "pt2" else ScriptFromFile
            self.inputs = self.outputs = None
            self._load = file_loader(artifact, device=device)

    def _copy(self, module: Any) -> Callable[[], Any]:
        # always a copy: casting to fp16/bf16 must not touch the caller's module
        return lambda: copy.deepcopy(module).to(self.device).eval()

    def __call__(self) -> Any:
        return self._load()
