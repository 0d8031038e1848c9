"""Loaders of the TensorRT runner (after Polygraphy's ``EngineFromBytes`` / ``EngineFromNetwork``): building an engine
from ONNX and deserializing one are separate steps, composed by the caller:

    TensorRTRunner(EngineFromPath(EngineFromOnnx("m.onnx", precision="fp16")))   # build (cached), then load
    TensorRTRunner(EngineFromPath("m.engine"))

:func:`load_engine` is the registry's loader: it composes the two for an ``.onnx`` artifact.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgekit.backends.trt.options import BUILD_OPTIONS
from edgekit.core.errors import BackendUnavailable, BadInput


@dataclasses.dataclass
class LoadedEngine:
    """A deserialized engine with the runtime and logger TensorRT needs alive as long as it is."""

    engine: Any
    runtime: Any
    logger: Any
    path: Path


class EngineFromOnnx:
    """Builds (or takes from the engine cache) an engine for an ONNX file; returns the engine's path on call.

    Args:
        path: the ``.onnx`` file.
        device, threads: the runner's (an engine is built for the CUDA GPU; threads are unused).
        options: keywords of :func:`~edgekit.backends.trt.build.build_engine` (:data:`BUILD_OPTIONS`).

    Raises:
        BadInput: an option that is not a build option (on construction); a missing file (on call).
    """

    def __init__(self, path: str | Path, *, device: str = "cuda", threads: int | None = None, **options: Any) -> None:
        unknown = sorted(set(options) - set(BUILD_OPTIONS))
        if unknown:
            raise BadInput(f"unknown TensorRT build option(s) {unknown}; expected some of {', '.join(BUILD_OPTIONS)}")
        self.path, self.device, self.threads, self.options = Path(path), device, threads, options
        self.details: dict[str, Any] = {}

    def __call__(self) -> Path:
        from edgekit.backends.trt.build import build_engine
        from edgekit.backends.trt.cache import default_cache_dir
        from edgekit.core.io import sha256

        _require_file(self.path)
        precision = str(self.options.get("precision", "fp32"))
        out = default_cache_dir() / "runner" / f"{self.path.stem}-{sha256(self.path)[:12]}-{precision}.engine"
        self.details["build"] = build_engine(self.path, out, **self.options)
        return out


class EngineFromPath:
    """Deserializes an engine file (a path, or a callable returning one such as :class:`EngineFromOnnx`).

    Raises (on call):
        BackendUnavailable: not on cuda, or TensorRT / pycuda / a GPU missing (exit 3, with the fix).
        BadInput: a missing file, or an engine built by another TensorRT version or GPU.
    """

    def __init__(self, source: str | Path | Callable[[], Path], *, device: str = "cuda", threads: int | None = None):
        self.source, self.device, self.threads = source, device, threads
        self.details: dict[str, Any] = {}

    @property
    def path(self) -> Path:
        return Path(self.source) if isinstance(self.source, (str, Path)) else Path(getattr(self.source, "path", "?"))

    def __call__(self) -> LoadedEngine:
        from edgekit.backends.trt.fallback import trt_unavailable_reason

        if self.device != "cuda":
            raise BackendUnavailable(
                f"tensorrt runs on CUDA GPUs only, got --device {self.device}; use --device "
                f"cuda, or --backend onnxruntime for the CPU"
            )
        reason = trt_unavailable_reason()
        if reason is not None:
            raise BackendUnavailable(reason)
        import pycuda.autoprimaryctx  # noqa: F401  (the primary context, shared with torch: TRAPS.md)
        import tensorrt as trt

        from edgekit.backends.trt.build import CollectingLogger

        if isinstance(self.source, (str, Path)):
            engine_path = _require_file(Path(self.source))
        else:
            engine_path = self.source()
            self.details.update(getattr(self.source, "details", None) or {})
        logger = CollectingLogger()
        runtime = trt.Runtime(logger.trt_logger)
        engine = runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if engine is None:
            raise BadInput(
                f"TensorRT {trt.__version__} cannot load '{engine_path}' ({logger.last_errors()}): engines "
                f"only load with the TensorRT version and GPU architecture that built them; rebuild it "
                f"here with `edgekit build MODEL.onnx -o {engine_path.name}`"
            )
        return LoadedEngine(engine, runtime, logger, engine_path)


def load_engine(
    artifact: str | Path, *, device: str = "cuda", threads: int | None = None, **options: Any
) -> EngineFromPath:
    """The registry's loader: an ``.onnx`` is built first (``options``: :data:`BUILD_OPTIONS`), an engine loads as is.

    Raises:
        BadInput: build options given for an engine file (it is already built).
    """
    path = Path(artifact)
    if path.suffix.lower() == ".onnx":
        return EngineFromPath(EngineFromOnnx(path, device=device, threads=threads, **options), device=device)
    if options:
        raise BadInput(
            f"TensorRT build options {sorted(options)} do not apply to the engine file '{path}' (it is already "
            f"built); rebuild it from the ONNX with `edgekit build MODEL.onnx` and those options"
        )
    return EngineFromPath(path, device=device, threads=threads)


def _require_file(path: Path) -> Path:
    if not path.is_file():
        raise BadInput(
            f"engine file '{path}' does not exist; build one with `edgekit build MODEL.onnx -o "
            f"model.engine` or `edgekit export MODEL --format trt`"
        )
    return path
