"""CUDA-graph execution of PyTorch models: eager modules, TorchScript files and ExportedPrograms on a CUDA GPU.

Small models are launch-bound: on an H100 a replayed CUDA graph ran the seeds' CNN in 0.049 ms against 0.146 ms
eager (TRAPS.md). :class:`CudaGraphRunner` captures the forward once per input-shape key, the way PyTorch's CUDA
notes describe whole-network capture:

1. static input buffers are allocated (outside ``inference_mode``, so that later ``copy_`` calls are allowed);
2. warm-up iterations run on a side stream (lazy cuBLAS/cuDNN set-up and TorchScript's profiling runs happen before
   capture), then the forward is captured on that stream into a ``torch.cuda.CUDAGraph`` whose memory comes from
   one pool shared by all the runner's graphs (``torch.cuda.graph_pool_handle()``);
3. one replay is compared with the last warm-up output (a capture that baked in a host-read value would differ);
4. each call copies inputs into the static buffers, replays, and copies outputs out. Sharing the pool is safe as
   replays are serialized on one stream and outputs copied out right after: a graph's static outputs are valid
   only until another graph of the pool replays.

Graphs live in a :class:`GraphCache` (LRU, ``max_graphs`` shape keys). When capture is impossible (a host sync in
``forward`` such as ``.item()`` or data-dependent Python control flow, CPU ops, outputs on the CPU) the runner runs
that shape uncaptured and records why in ``details["fallback"]``.

Precision: ``fp16`` / ``bf16`` take and return the model's fp32 tensors (see :mod:`edgekit.backends.precision`);
bf16 only where ``torch.cuda.is_bf16_supported()``. In fp32, TF32 is off during warm-up and capture (``tf32=False``)
so that "fp32" matches eager fp32 at fp32 tolerances; the flags are restored afterwards.

Status: the cache, shape keys, fallback bookkeeping and precision wrappers are unit-tested on the CPU; the CUDA
capture and replay code has NOT been run on a GPU in this repository yet (written against the PyTorch
documentation of ``torch.cuda.graph``, ``CUDAGraph`` and ``graph_pool_handle``).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.backends.base import Arrays, Runner
from edgekit.backends.graph_cache import GraphCache, ShapeKey, describe_key, shape_key
from edgekit.backends.graph_capture import Replay, capture_graph
from edgekit.backends.precision import tf32
from edgekit.core.errors import BackendUnavailable, BadInput, one_line


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


class CudaGraphRunner(Runner):
    """Runs a PyTorch model on CUDA by replaying one captured CUDA graph per input-shape key (module doc).

    The loader is a :class:`ModuleForGraphs` (its settings say the precision and cache size; any other loader
    of a module runs with the default :class:`GraphSettings`); device must be ``cuda``; threads: torch CPU threads
    (host-side work only).

    ``details`` holds: format, precision, precision_mode, tf32, graphs (cache stats), captured (shape keys) and,
    when some shape ran uncaptured, ``fallback`` (the latest reason) and ``fallback_shapes`` (key -> reason).
    """

    backend = "torch-cudagraph"

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
        settings: GraphSettings = getattr(loader, "settings", GraphSettings())
        self.format: str = getattr(loader, "format", "eager")
        self.precision, self.precision_mode = settings.precision, settings.precision_mode
        self.max_graphs, self.warmup, self.tf32 = settings.max_graphs, settings.warmup, settings.tf32
        self._forward: Callable[..., tuple[Any, ...]] | None = None
        self._forward_checked = False
        self._cache: GraphCache[Replay] = GraphCache(self.max_graphs)
        self._stream: Any = None

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def preflight(self) -> None:
        self._check_device()

    def activate_impl(self) -> None:
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)
        self._cache = GraphCache(self.max_graphs, self._pool_factory)
        self._stream = self._new_stream()
        mode = "cast" if self.precision_mode == "auto" else self.precision_mode
        self._forward = self._build_forward(mode, self.loaded)
        self._forward_checked = False
        self.details.update(
            {
                "device": self.device,
                "format": self.format,
                "precision": self.precision,
                "precision_mode": mode if self.precision != "fp32" else "none",
                "tf32": self.tf32,
                "warmup": self.warmup,
                "graphs": self._cache.stats(),
                "captured": [],
            }
        )

    def deactivate_impl(self) -> None:
        self._cache.clear()
        self._forward = None
        self._stream = None

    def _check_device(self) -> None:
        """Raise BackendUnavailable unless a CUDA GPU (with bf16 when asked) is usable."""
        import torch

        from edgekit.backends.probes import require_cuda

        if self.device != "cuda":
            raise BackendUnavailable(
                f"{self.backend} runs on cuda only, got --device {self.device}; use --backend torch on the CPU"
            )
        require_cuda(f"--backend {self.backend}")
        if self.precision == "bf16" and not torch.cuda.is_bf16_supported():
            raise BackendUnavailable(
                f"{self.backend}: this GPU ({torch.cuda.get_device_name()}) has no bf16 "
                f"support; use --precision fp16 or fp32"
            )

    def _pool_factory(self) -> Any:
        import torch

        return torch.cuda.graph_pool_handle()

    def _new_stream(self) -> Any:
        import torch

        return torch.cuda.Stream()

    def _sync(self) -> None:
        import torch

        torch.cuda.synchronize()

    def _capture(self, pool: Any, tensors: Sequence[Any]) -> Replay:
        assert self._forward is not None  # set by activate_impl, which infer() guarantees ran
        with tf32(self.tf32):
            return capture_graph(self._forward, tensors, pool, self._stream, self.warmup)

    # -- loading ---------------------------------------------------------------------------------------------
    def _build_forward(self, mode: str, module: Any) -> Callable[..., tuple[Any, ...]]:
        from edgekit.backends.precision import precision_forward

        return precision_forward(module, self.precision, mode, self.device, copy_module=False)

    def _checked_forward(self, tensors: Sequence[Any]) -> Callable[..., tuple[Any, ...]]:
        """The forward, run once eagerly on the first call: with ``auto``, a cast model that fails falls back to
        autocast (graphs with fp32 constants); any other failure is the user's input not fitting the model."""
        import torch

        assert self._forward is not None
        if self._forward_checked:
            return self._forward
        try:
            with torch.no_grad(), tf32(self.tf32):
                self._forward(*tensors)
        except Exception as exc:  # the model's own failure on these inputs
            if not (self.precision_mode == "auto" and self.precision != "fp32"):
                raise self._model_error(tensors, exc) from exc
            self._forward = self._build_forward("autocast", self.loader())
            self.details.update(
                precision_mode="autocast",
                precision_note=f"cast to {self.precision} failed ({one_line(exc, kind=False)}); used autocast",
            )
        self._forward_checked = True
        return self._forward

    def _model_error(self, tensors: Sequence[Any], exc: Exception) -> BadInput:
        shapes = {n: list(t.shape) for n, t in zip(self.input_names(), tensors, strict=True)}
        return BadInput(
            f"{self.backend}: the model failed on inputs {shapes}: {type(exc).__name__}: "
            f"{one_line(exc, kind=False)}; check input names, shapes and dtypes against forward()"
        )

    # -- inference ---------------------------------------------------------------------------------------------
    def _tensors(self, feed: Arrays) -> list[Any]:
        import torch

        return [torch.from_numpy(np.ascontiguousarray(feed[n])).to(self.device) for n in self.input_names()]

    def _entry(self, tensors: Sequence[Any]) -> Replay | None:
        """The graph for these tensors' shape key (captured on first sight), or None to run uncaptured."""
        self._checked_forward(tensors)
        key = shape_key(self.input_names(), dict(zip(self.input_names(), tensors, strict=True)))
        known = key in self._cache or key in self._cache.refused
        try:
            entry = self._cache.get(key, lambda pool: self._capture(pool, tensors))
        except Exception as exc:  # warm-up failed (refusals are caught by the cache): the model fails here
            raise self._model_error(tensors, exc) from exc
        if not known:
            self._record(key, entry)
        return entry

    def _record(self, key: ShapeKey, entry: Replay | None) -> None:
        self.details["graphs"] = self._cache.stats()
        self.details["captured"] = [describe_key(k) for k in self._cache.keys()]
        if entry is None:
            reason = self._cache.refused[key]
            self.details["fallback"] = reason
            self.details.setdefault("fallback_shapes", {})[describe_key(key)] = reason

    def _run(self, tensors: Sequence[Any]) -> tuple[Any, ...]:
        import torch

        entry = self._entry(tensors)
        if entry is not None:
            return entry.run(tensors)
        assert self._forward is not None
        with torch.no_grad(), tf32(self.tf32):
            return self._forward(*tensors)

    def infer_impl(self, feed: Arrays) -> Arrays:
        outs = self._run(self._tensors(feed))
        self._sync()
        names = self.outputs or [f"output_{i}" for i in range(len(outs))]
        return {n: o.detach().cpu().numpy() for n, o in zip(names, outs, strict=True)}

    def timed_call(self, feed: Arrays) -> Callable[[], Any]:
        """Inputs already on the device; each call copies them into the static buffers, replays and synchronizes
        (or, for a shape that could not be captured, runs forward uncaptured and synchronizes)."""
        import torch

        self.infer(feed)  # captures this shape
        tensors = self._tensors(feed)
        entry = self._entry(tensors)
        sync = torch.cuda.synchronize if self.device == "cuda" else self._sync  # no method lookup per call
        if entry is not None:
            run = entry.run

            def replay() -> Any:
                out = run(tensors)
                sync()
                return out

            return replay
        forward, allow_tf32 = self._forward, self.tf32
        assert forward is not None

        def uncaptured() -> Any:
            with torch.no_grad(), tf32(allow_tf32):
                out = forward(*tensors)
            sync()
            return out

        return uncaptured
