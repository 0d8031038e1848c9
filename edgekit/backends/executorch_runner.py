"""ExecuTorch: a ``.pte`` program run by ``executorch.runtime`` (the XNNPACK delegate and portable kernels that
ship in the pip wheel). Its methods take tensors in ``forward``'s argument order; the names come from the
manifest's input specs, which the caller passes as ``inputs``/``outputs``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.backends.base import Arrays, Runner
from edgekit.core.errors import BackendUnavailable, BadInput, one_line
from edgekit.core.quiet import native_quiet

PIP = "pip install 'edgekit[executorch]'"


class MethodFromPte:
    """Loader: ``Runtime.get().load_program(path).load_method("forward")`` when called.

    Args:
        path: the ``.pte`` file.
        device: only ``cpu``.
        threads: recorded; the XNNPACK delegate of the pip wheel sizes its own thread pool (cores).

    Raises (on call):
        BackendUnavailable: executorch is not installed.
        BadInput: the file is not a loadable program.
    """

    def __init__(self, path: str | Path, *, device: str = "cpu", threads: int | None = None) -> None:
        if device != "cpu":
            raise BadInput(f"executorch runs on --device cpu here (got {device})")
        self.path, self.threads = str(path), threads

    def __call__(self) -> Any:
        try:
            with native_quiet():
                from executorch.runtime import Runtime
        except ImportError as exc:
            raise BackendUnavailable(f"executorch is not installed: {PIP}") from exc
        if not Path(self.path).is_file():
            raise BadInput(f"cannot load '{self.path}': no such file; expected a .pte (edgekit export -f executorch)")
        try:
            with native_quiet():
                return Runtime.get().load_program(self.path).load_method("forward")
        except Exception as exc:  # the runtime raises RuntimeError/ValueError for a bad program
            raise BadInput(
                f"ExecuTorch cannot load '{self.path}': {one_line(exc, kind=False)}; expected a .pte written by "
                f"edgekit export --format executorch"
            ) from exc


def method_loader(artifact: Any, *, device: str = "cpu", threads: int | None = None) -> MethodFromPte:
    """The registry's loader entry (``artifact`` is a path)."""
    return MethodFromPte(artifact, device=device, threads=threads)


class ExecuTorchRunner(Runner):
    """Runs the ``forward`` method of an ExecuTorch program on CPU tensors."""

    backend = "executorch"

    def activate_impl(self) -> None:
        import importlib.metadata as md

        meta = self.loaded.metadata
        self._n_out = int(meta.num_outputs())
        infos = [meta.input_tensor_meta(i) for i in range(int(meta.num_inputs()))]
        sizes = [list(t.sizes() if callable(t.sizes) else t.sizes) for t in infos]
        self._max_batch = min((s[0] for s in sizes if s), default=0)
        """The planned (largest) size of axis 0: larger batches run in chunks of it (accuracy scoring uses 256)."""
        self.details.update({"device": "cpu", "executorch": md.version("executorch"), "delegate": "XnnpackBackend"})

    def input_names(self) -> Sequence[str]:
        if self.inputs is None:
            raise BadInput(
                "executorch: input names are unknown for this .pte; pass the model's input specs (a manifest.json "
                "beside the artifact, a recipe, or --input)"
            )
        return list(self.inputs)

    def output_names(self) -> Sequence[str]:
        return list(self.outputs) if self.outputs else [f"output_{i}" for i in range(self._n_out)]

    def _args(self, feed: Arrays) -> list[Any]:
        import torch

        return [torch.from_numpy(np.ascontiguousarray(feed[n])) for n in self.input_names()]

    def infer_impl(self, feed: Arrays) -> Arrays:
        n = next(iter(feed.values())).shape[0] if feed else 0
        if self._max_batch and n > self._max_batch:
            step = self._max_batch
            parts = [self.infer_impl({k: v[i : i + step] for k, v in feed.items()}) for i in range(0, n, step)]
            self.details["chunked"] = f"batches above {step} (the program's planned size) run in chunks of {step}"
            return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        try:
            outs = self.loaded.execute(self._args(feed))
        except Exception as exc:  # a shape outside the program's bounds raises RuntimeError
            got = {k: list(v.shape) for k, v in feed.items()}
            raise BadInput(
                f"ExecuTorch failed on inputs {got}: {one_line(exc, kind=False)}; a frozen or bounded axis "
                f"(see the manifest's frozen_axes) takes only the exported size"
            ) from exc
        return {n: np.array(t.numpy(), copy=True) for n, t in zip(self.output_names(), outs, strict=True)}

    def timed_call(self, feed: Arrays) -> Callable[[], Any]:
        """``method.execute`` on tensors prepared once.

        Raises:
            BadInput: a batch above the program's planned size (it would fail inside the timing loop).
        """
        n = next(iter(feed.values())).shape[0] if feed else 0
        if self._max_batch and n > self._max_batch:
            raise BadInput(
                f"batch {n} is above this .pte's planned size {self._max_batch}; re-export with a larger "
                f"max_size (edgekit export --format executorch)"
            )
        self.infer(feed)
        method, args = self.loaded, self._args(feed)
        return lambda: method.execute(args)
