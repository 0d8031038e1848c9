"""PyTorch runners: eager modules, TorchScript files and ExportedPrograms, on CPU or CUDA."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.backends.base import Arrays, Runner
from edgekit.core.errors import BackendUnavailable, BadInput, one_line


class _TorchRunner(Runner):
    """Shared machinery: numpy in, tensors on the device, a flat tuple of tensors out, numpy back."""

    def __init__(
        self,
        artifact: Any,
        device: str = "cpu",
        threads: int | None = None,
        inputs: Sequence[str] | None = None,
        outputs: Sequence[str] | None = None,
    ) -> None:
        super().__init__(device, threads)
        self.artifact = artifact
        self._inputs = list(inputs) if inputs is not None else None
        self._outputs = list(outputs) if outputs is not None else None
        self.module: Any = None

    def activate_impl(self) -> None:
        import torch

        if self.device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable(
                f"{self.backend} on cuda: this torch ({torch.__version__}) sees no CUDA GPU; "
                f"use --device cpu, or install a CUDA build of torch on a GPU machine"
            )
        if self.threads:
            torch.set_num_threads(self.threads)
        self.module = self.load()
        self.details.update({"device": self.device, "threads": torch.get_num_threads()})

    def load(self) -> Any:
        raise NotImplementedError

    def input_names(self) -> Sequence[str]:
        if self._inputs is None:
            raise BadInput(
                f"{self.backend}: input names are unknown for '{self.artifact}'; pass the model's "
                f"input specs (a manifest.json beside the artifact, a recipe, or --input)"
            )
        return self._inputs

    def output_names(self) -> Sequence[str]:
        return self._outputs or []

    def _call(self, feed: Arrays) -> tuple[Any, ...]:
        import torch

        args = [torch.from_numpy(np.ascontiguousarray(feed[n])).to(self.device) for n in self.input_names()]
        with torch.inference_mode():
            out = self.module(*args)
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)

    def infer_impl(self, feed: Arrays) -> Arrays:
        outs = self._call(feed)
        names = self._outputs or [f"output_{i}" for i in range(len(outs))]
        return {n: t.detach().cpu().numpy() for n, t in zip(names, outs, strict=True)}

    def timed_call(self, feed: Arrays) -> Callable[[], Any]:
        """Inputs already on the device as tensors; times forward only (synchronized on CUDA). Meant to be called
        inside :meth:`timing_context` (inference mode), as a bare ``with torch.inference_mode(): loop`` would."""
        import torch

        self.infer(feed)
        args = [torch.from_numpy(np.ascontiguousarray(feed[n])).to(self.device) for n in self.input_names()]
        module = self.module
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
    """An ``nn.Module`` (a :class:`~edgekit.core.model.LoadedModel`'s module) run eagerly."""

    backend = "torch"

    def __init__(
        self,
        artifact: Any,
        device: str = "cpu",
        threads: int | None = None,
        inputs: Sequence[str] | None = None,
        outputs: Sequence[str] | None = None,
    ) -> None:
        from edgekit.core.model import LoadedModel

        if isinstance(artifact, LoadedModel):
            inputs, outputs, artifact = artifact.input_names, artifact.outputs, artifact.module
        super().__init__(artifact, device, threads, inputs, outputs)

    def load(self) -> Any:
        if self.device == "cpu":
            return self.artifact.eval()
        import copy

        # a copy on the GPU: the caller's module stays on the CPU for eager references (LoadedModel.predict)
        return copy.deepcopy(self.artifact).to(self.device).eval()


class TorchScriptRunner(_TorchRunner):
    """A TorchScript file (``.ts`` / ``.pt``) loaded with ``torch.jit.load``."""

    backend = "torchscript"

    def load(self) -> Any:
        import torch

        try:
            return torch.jit.load(str(self.artifact), map_location=self.device).eval()
        except (RuntimeError, ValueError, OSError) as exc:
            raise BadInput(
                f"cannot load TorchScript file '{self.artifact}': "
                f"{one_line(exc, kind=False)}; "
                f"expected a file written by torch.jit.save (edgekit export --format torchscript)"
            ) from exc


class ExportedProgramRunner(_TorchRunner):
    """A ``torch.export`` ExportedProgram (``.pt2``) loaded with ``torch.export.load``."""

    backend = "pt2"

    def load(self) -> Any:
        import torch

        try:
            program = torch.export.load(str(Path(self.artifact)))
        except Exception as exc:  # torch.export.load raises many types for a bad file
            raise BadInput(
                f"cannot load ExportedProgram '{self.artifact}': {one_line(exc)}; expected a file written by "
                f"torch.export.save (edgekit export --format pt2)"
            ) from exc
        module = program.module()
        return module.to(self.device) if self.device != "cpu" else module
