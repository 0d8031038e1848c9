"""ONNX Runtime: the CPU execution provider, or the CUDA EP with I/O binding where onnxruntime-gpu works.

OnnxRuntimeRunner(SessionFromOnnx("m.onnx", threads=2), threads=2)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.backends.base import Arrays, Runner
from edgekit.core.errors import BackendUnavailable, BadInput, one_line


def default_threads() -> int:
    """The machine's cores (the benchmark default, recorded in every report)."""
    return os.cpu_count() or 1


class SessionFromOnnx:
    """Creates an ``InferenceSession`` for an ONNX file with an explicit provider list and thread count.

    Args:
        path: the ``.onnx`` file.
        device: ``cpu`` (CPU EP) or ``cuda`` (CUDA EP, CPU EP behind it).
        threads: ``intra_op_num_threads``; default: the machine's cores.

    Raises (on call):
        BackendUnavailable: cuda without a working CUDA EP (exit 3).
        BadInput: the file does not load.
    """

    def __init__(self, path: str | Path, *, device: str = "cpu", threads: int | None = None) -> None:
        self.path, self.device, self.threads = str(path), device, threads
        self.details: dict[str, Any] = {}

    def __call__(self) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads or default_threads()
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        providers = ["CPUExecutionProvider"]
        if self.device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise BackendUnavailable(
                    f"onnxruntime on cuda: this onnxruntime ({ort.__version__}) has no CUDA execution provider "
                    f"(has {ort.get_available_providers()}); install onnxruntime-gpu instead of onnxruntime, "
                    f"or use --device cpu"
                )
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        try:
            session = ort.InferenceSession(self.path, opts, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise BadInput(
                f"ONNX Runtime cannot load '{self.path}': {one_line(exc, kind=False)}; "
                f"expected a valid .onnx file (edgekit export --format onnx)"
            ) from exc
        used = session.get_providers()
        if self.device == "cuda" and used[0] != "CUDAExecutionProvider":
            raise BackendUnavailable(
                f"onnxruntime on cuda: the CUDA EP did not load (session providers {used}); "
                f"check the CUDA and cuDNN libraries onnxruntime-gpu needs"
            )
        self.details = {"providers": used, "threads": opts.intra_op_num_threads, "device": self.device}
        return session


class OnnxRuntimeRunner(Runner):
    """Runs an ``InferenceSession`` (loader: :class:`SessionFromOnnx`); names come from the session."""

    backend = "onnxruntime"

    @property
    def session(self) -> Any:
        return self.loaded

    @property
    def path(self) -> str:
        return str(getattr(self.loader, "path", "<session>"))

    def input_names(self) -> Sequence[str]:
        return [i.name for i in self.session.get_inputs()]

    def output_names(self) -> Sequence[str]:
        return [o.name for o in self.session.get_outputs()]

    def infer_impl(self, feed: Arrays) -> Arrays:
        try:
            outs = self.session.run(None, feed)
        except Exception as exc:  # wrong shape/dtype surfaces as onnxruntime's own exception types
            expected = {i.name: (i.shape, i.type) for i in self.session.get_inputs()}
            got = {k: (list(v.shape), str(v.dtype)) for k, v in feed.items()}
            raise BadInput(
                f"ONNX Runtime failed on '{self.path}': {one_line(exc, kind=False)} "
                f"(expected inputs {expected}, got {got})"
            ) from exc
        return dict(zip(self.output_names(), outs, strict=True))

    def timed_call(self, feed: Arrays) -> Callable[[], Any]:
        """On CPU exactly ``session.run(None, feed)``: the bare loop; on CUDA, a run with I/O binding
        (inputs copied to the device once, outputs left on the device) and a synchronize."""
        self.infer(feed)
        if self.device != "cuda":
            run = self.session.run
            contiguous = {k: np.ascontiguousarray(v) for k, v in feed.items()}
            return lambda: run(None, contiguous)
        import onnxruntime as ort

        binding = self.session.io_binding()
        for name, arr in feed.items():
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(arr), "cuda", 0))
        for name in self.output_names():
            binding.bind_output(name, "cuda")
        session = self.session

        def run_bound() -> None:
            session.run_with_iobinding(binding)
            binding.synchronize_outputs()

        return run_bound
