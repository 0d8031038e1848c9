"""torch.compile (inductor) over the eager module: the speed-up a user tries before edgekit, as a benchmark row.
Compilation happens on the first call at each new input shape; that time is recorded in ``details["compile_s"]``
(per shape) and never counted as latency (the benchmark's ``timed_call`` compiles before timing). CPU is verified
here; CUDA is written (inputs moved to the device, synchronized) but unverified on this machine."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from edgekit.backends.base import Arrays, Runner
from edgekit.core.errors import BackendUnavailable, BadInput, one_line

MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


class CompiledModule:
    """Loader: ``torch.compile(module, backend="inductor", mode=mode, dynamic=dynamic)`` when called.

    Args:
        artifact: a :class:`~edgekit.core.model.LoadedModel` or an ``nn.Module`` (the eager model).
        device: ``cpu`` or ``cuda`` (a copy of the module is moved there).
        threads: torch's intra-op threads.
        mode: torch.compile's mode (default ``default``).
        dynamic: torch.compile's ``dynamic`` (default None: recompile once, then mark sizes dynamic).

    Raises (on call):
        BackendUnavailable: CUDA asked for but absent.
    """

    def __init__(
        self,
        artifact: Any,
        *,
        device: str = "cpu",
        threads: int | None = None,
        mode: str = "default",
        dynamic: bool | None = None,
    ) -> None:
        if mode not in MODES:
            raise BadInput(f"torch-compile mode '{mode}': expected one of {', '.join(MODES)}")
        module = getattr(artifact, "module", artifact)
        if not callable(module):
            raise BadInput(f"torch-compile runs an nn.Module (the eager model); got {type(artifact).__name__}")
        self.module, self.device, self.threads, self.mode, self.dynamic = module, device, threads, mode, dynamic

    def __call__(self) -> Any:
        import torch

        if self.device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable(f"torch-compile on cuda: this torch ({torch.__version__}) sees no CUDA GPU")
        if self.threads:
            torch.set_num_threads(self.threads)
        module = self.module
        if self.device != "cpu":
            import copy

            module = copy.deepcopy(module).to(self.device)
        return torch.compile(module.eval(), backend="inductor", mode=self.mode, dynamic=self.dynamic)


def compiled_loader(artifact: Any, *, device: str = "cpu", threads: int | None = None, **options: Any) -> Any:
    """The registry's loader entry; ``options``: mode, dynamic."""
    return CompiledModule(artifact, device=device, threads=threads, **options)


class CompileRunner(Runner):
    """Runs the compiled module; the first call at each input shape compiles and is timed apart."""

    backend = "torch-compile"

    def activate_impl(self) -> None:
        import torch

        self.compiled = self.loaded
        self._seen: set[tuple[tuple[int, ...], ...]] = set()
        self.details.update({"device": self.device, "threads": torch.get_num_threads(), "compile_s": {},
                             "mode": getattr(self.loader, "mode", "default"), "backend": "inductor"})  # fmt: skip

    def input_names(self) -> Sequence[str]:
        if self.inputs is None:
            raise BadInput("torch-compile: input names are unknown; pass the model's input specs")
        return list(self.inputs)

    def output_names(self) -> Sequence[str]:
        return list(self.outputs or [])

    def _args(self, feed: Arrays) -> list[Any]:
        import torch

        return [torch.from_numpy(np.ascontiguousarray(feed[n])).to(self.device) for n in self.input_names()]

    def _run(self, args: list[Any]) -> tuple[Any, ...]:
        import torch

        key = tuple(tuple(a.shape) for a in args)
        start = time.perf_counter()
        try:
            with torch.inference_mode():
                out = self.compiled(*args)
                if self.device == "cuda":
                    torch.cuda.synchronize()
        except Exception as exc:  # inductor/dynamo raise many types (BackendCompilerFailed, Unsupported ...)
            raise BadInput(f"torch.compile failed at {list(key)}: {one_line(exc)}") from exc
        if key not in self._seen:
            self._seen.add(key)
            self.details["compile_s"]["x".join(str(d) for d in key[0]) if key else "()"] = round(
                time.perf_counter() - start, 3
            )
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)

    def infer_impl(self, feed: Arrays) -> Arrays:
        outs = self._run(self._args(feed))
        names = self.output_names() or [f"output_{i}" for i in range(len(outs))]
        return {n: t.detach().cpu().numpy() for n, t in zip(names, outs, strict=True)}

    def timed_call(self, feed: Arrays) -> Callable[[], Any]:
        """The compiled module on device tensors, after one compiling call (not timed)."""
        import torch

        args = self._args(feed)
        self._run(args)
        compiled = self.compiled
        if self.device == "cuda":

            def run_cuda() -> Any:
                out = compiled(*args)
                torch.cuda.synchronize()
                return out

            return run_cuda
        return lambda: compiled(*args)

    def timing_context(self) -> contextlib.AbstractContextManager[Any]:
        import torch

        return torch.inference_mode()
