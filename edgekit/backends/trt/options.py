"""The TensorRT build options, named once: the engine exporter, the backend row and the engine loader all take
them (imports nothing)."""

from __future__ import annotations

SHAPE_OPTIONS = ("min_shapes", "opt_shapes", "max_shapes")
"""Optimization-profile shapes (``NAME:DIMS``), turned into the profile by :func:`.profiles.derive_profile`."""
ENGINE_OPTIONS = (
    "precision",
    "workspace",
    "timing_cache",
    "dla_core",
    "gpu_fallback",
    "tf32",
    "fp16_converter",
    "cache_dir",
    "use_cache",
)
"""Keywords of :func:`edgekit.backends.trt.build.build_engine` besides the profile and the inspector switch."""
BUILD_OPTIONS = ("profiles", *SHAPE_OPTIONS, *ENGINE_OPTIONS)
"""What the ``tensorrt`` backend row accepts and :class:`~.loader.EngineFromOnnx` passes on to the build."""
EXPORT_OPTIONS = ("onnx", "opset", "exporter", *SHAPE_OPTIONS, *ENGINE_OPTIONS, "inspect")
"""What ``--format trt`` (:func:`edgekit.export.trt.export_engine`) takes: the ONNX step's options, then the build's."""
