"""PyTorch runners and their loaders: eager modules, TorchScript files and ExportedPrograms, on CPU or CUDA.

EagerRunner(ModuleFromModel(model, device="cuda"), device="cuda")
TorchScriptRunner(ScriptFromFile("m.ts"), inputs=["x"], outputs=["logits"])
ExportedProgramRunner(ProgramFromFile("m.pt2"), inputs=["x"])
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.backends.base import Arrays, Runner
from edgekit.core.errors import BackendUnavailable, BadInput, one_line


# -- loaders -----------------------------------------------------------------------------------------------------
class ModuleFromModel:
    """Loads an ``nn.Module`` (or a :class:`~edgekit.core.model.LoadedModel`'s module) in eval mode on ``device``:
    the module itself on the CPU, a copy on the GPU (the caller's module stays where it is). Knows the input and
    output names of a LoadedModel."""

    def __init__(self, model: Any, *, device: str = "cpu", threads: int | None = None) -> None:
        from edgekit.core.model import LoadedModel

        self.inputs: list[str] | None = None
        self.outputs: list[str] | None = None
        if isinstance(model, LoadedModel):
            self.inputs, self.outputs, model = list(model.input_names), list(model.outputs), model.module
        self.module, self.device, self.threads = model, device, threads

    def __call__(self) -> Any:
        if self.device == "cpu":
            return self.module.eval()
        import copy

        return copy.deepcopy(self.module).to(self.device).eval()


class ScriptFromFile:
    """Loads a TorchScript file (``.ts`` / ``.pt``) with ``torch.jit.load`` onto ``device``.

    Raises (on call):
        BadInput: not a TorchScript file.
    """

    def __init__(self, path: str | Path, *, device: str = "cpu", threads: int | None = None) -> None:
        self.path, self.device, self.threads = Path(path), device, threads

    def __call__(self) -> Any:
        import torch

        try:
            return torch.jit.load(str(self.path), map_location=self.device).eval()
        except (RuntimeError, ValueError, OSError) as exc:
            raise BadInput(
                f"cannot load TorchScript file '{self.path}': {one_line(exc, kind=False)}; "
                f"expected a file written by torch.jit.save (edgekit export --format torchscript)"
            ) from exc


class ProgramFromFile:
    """Loads a ``torch.export`` ExportedProgram (``.pt2``) and returns its module on ``device``.

    Raises (on call):
        BadInput: not an ExportedProgram file.
    """

    def __init__(self, path: str | Path, *, device: str = "cpu", threads: int | None = None) -> None:
        self.path, self.device, self.threads = Path(path), device, threads

    def __call__(self) -> Any:
        import torch

        try:
            program = torch.export.load(str(self.path))
        except Exception as exc:  # torch.export.load raises many types for a bad file
            raise BadInput(
                f"cannot load ExportedProgram '{self.path}': {one_line(exc)}; expected a file written by "
                f"torch.export.save (edgekit export --format pt2)"
            ) from exc
        module = program.module()
        return module.to(self.device) if self.device != "cpu" else module


# -- runners -----------------------------------------------------------------------------------------------------
class _TorchRunner(Runner):
    """Shared machinery: numpy in, tensors on the device, a flat tuple of tensors out, numpy back."""

    def preflight(self) -> None:
        import torch

        if self.device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable(
                f"{self.backend} on cuda: this torch ({torch.__version__}) sees no CUDA GPU; "
                f"use --device cpu, or install a CUDA build of torch on a GPU machine"
            )

    def activate_impl(self) -> None:
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)
        self.details.update({"device": self.device, "threads": torch.get_num_threads()})

    def _args(self, feed: Arrays) -> list[Any]:
        import torch

        return [torch.from_numpy(np.ascontiguousarray(feed[n])).to(self.device) for n in self.input_names()]

    def infer_impl(self, feed: Arrays) -> Arrays:
        import torch

        with torch.inference_mode():
            out = self.loaded(*self._args(feed))
        outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        names = self.outputs or [f"output_{i}" for i in range(len(outs))]
        return {n: t.detach().cpu().numpy() for n, t in zip(names, outs, strict=True)}

    def timed_call(self, feed: Arrays) -> Callable[[], Any]:
        """Inputs already on the device as tensors; times forward only (synchronized on CUDA). Meant to be called
        inside :meth:`timing_context` (inference mode), as a bare ``with torch.inference_mode(): loop`` would."""
        import torch

        self.infer(feed)
        args = self._args(feed)
        module = self.loaded
        if self.device == "cuda":

            def run_cuda() -> Any:
                out = module(*args)
                torch.cuda.synchronize()
                return out

            return run_cuda
        return lambda: module(*args)

    def timing_context(self) -> contextlib.AbstractContextManager[Any]:
        import torch

        return torch.inference_mode()


class EagerRunner(_TorchRunner):
    """An ``nn.Module`` run eagerly (loader: :class:`ModuleFromModel`)."""

    backend = "torch"


class TorchScriptRunner(_TorchRunner):
    """A TorchScript module (loader: :class:`ScriptFromFile`)."""

    backend = "torchscript"


class ExportedProgramRunner(_TorchRunner):
    """An ExportedProgram's module (loader: :class:`ProgramFromFile`)."""

    backend = "pt2"
