"""OpenVINO: an IR (``.xml`` + ``.bin``) or an ONNX file (the Q/DQ int8 ones included) compiled by
``openvino.Core`` for a device (``CPU`` by default; ``GPU``/``NPU``/``AUTO`` are passed through, unverified here),
with an explicit precision hint: ``f32`` unless asked otherwise, because OpenVINO's CPU plugin otherwise runs in
bf16/fp16 where the CPU has it, which is not an fp32 result (TRAPS.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.backends.base import Arrays, Runner
from edgekit.core.errors import BackendUnavailable, BadInput, one_line

PIP = "pip install 'edgekit[openvino]'"
HINTS = ("f32", "f16", "bf16")
OV_DEVICES = ("CPU", "GPU", "NPU", "AUTO")


class CompiledFromOpenVino:
    """Loader: compiles ``path`` with ``openvino.Core`` when called.

    Args:
        path: an ``.xml`` IR (its ``.bin`` beside it) or an ``.onnx`` file.
        device: edgekit's device; only ``cpu`` maps to OpenVINO (``ov_device`` picks CPU/GPU/NPU/AUTO).
        threads: ``INFERENCE_NUM_THREADS``; default: OpenVINO's own (all cores).
        precision_hint: ``INFERENCE_PRECISION_HINT``: ``f32`` (default, the fp32 claim), ``f16`` or ``bf16``.
        ov_device: OpenVINO device name, default ``CPU``.

    Raises (on call):
        BackendUnavailable: openvino missing, or the OpenVINO device is not present here.
        BadInput: a bad option, or the file does not load.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        device: str = "cpu",
        threads: int | None = None,
        precision_hint: str = "f32",
        ov_device: str = "CPU",
    ) -> None:
        if device != "cpu":
            raise BadInput(f"openvino runs on --device cpu (got {device}); pick an OpenVINO device with ov_device")
        if precision_hint not in HINTS:
            raise BadInput(f"openvino precision_hint '{precision_hint}': expected one of {', '.join(HINTS)}")
        if ov_device.split(".")[0].split(":")[0] not in OV_DEVICES:
            raise BadInput(f"openvino ov_device '{ov_device}': expected one of {', '.join(OV_DEVICES)}")
        self.path, self.threads, self.hint, self.ov_device = str(path), threads, precision_hint, ov_device

    def config(self) -> dict[str, Any]:
        """The compile properties: the precision hint always, the thread count when given."""
        cfg: dict[str, Any] = {"INFERENCE_PRECISION_HINT": self.hint}
        if self.threads:
            cfg["INFERENCE_NUM_THREADS"] = self.threads
        return cfg

    def __call__(self) -> Any:
        try:
            import openvino as ov
        except ImportError as exc:
            raise BackendUnavailable(f"openvino is not installed: {PIP}") from exc
        core = ov.Core()
        if self.ov_device != "AUTO" and self.ov_device.split(".")[0] not in core.available_devices:
            raise BackendUnavailable(
                f"OpenVINO device {self.ov_device} is not present here (available: {core.available_devices}); "
                f"use ov_device=CPU or install the device's driver"
            )
        try:
            return core.compile_model(self.path, self.ov_device, self.config())
        except Exception as exc:  # openvino raises RuntimeError subclasses for bad files / properties
            raise BadInput(
                f"OpenVINO cannot load '{self.path}': {one_line(exc, kind=False)}; expected an OpenVINO IR "
                f"(.xml with its .bin beside it) or an .onnx file (edgekit export --format openvino)"
            ) from exc


def compiled_loader(
    artifact: Any, *, device: str = "cpu", threads: int | None = None, **options: Any
) -> CompiledFromOpenVino:
    """The registry's loader entry: ``artifact`` is a path; ``options``: precision_hint, ov_device."""
    return CompiledFromOpenVino(artifact, device=device, threads=threads, **options)


class OpenVinoRunner(Runner):
    """Runs an OpenVINO compiled model through one ``InferRequest`` (no per-call request creation)."""

    backend = "openvino"

    def activate_impl(self) -> None:
        import openvino as ov

        compiled = self.loaded
        self.request = compiled.create_infer_request()
        self.details.update(
            {
                "device": self.device,
                "ov_device": getattr(self.loader, "ov_device", "CPU"),
                "execution_devices": list(compiled.get_property("EXECUTION_DEVICES")),
                "precision_hint": _type_name(compiled.get_property("INFERENCE_PRECISION_HINT")),
                "threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
                "openvino": ov.__version__,
            }
        )

    def deactivate_impl(self) -> None:
        self.request = None

    def input_names(self) -> Sequence[str]:
        return [p.get_any_name() for p in self.loaded.inputs]

    def output_names(self) -> Sequence[str]:
        return [p.get_any_name() for p in self.loaded.outputs]

    def infer_impl(self, feed: Arrays) -> Arrays:
        try:
            result = self.request.infer({n: np.ascontiguousarray(feed[n]) for n in self.input_names()})
        except Exception as exc:  # a wrong shape/dtype surfaces as openvino's RuntimeError
            expected = {p.get_any_name(): str(p.get_partial_shape()) for p in self.loaded.inputs}
            got = {k: list(v.shape) for k, v in feed.items()}
            raise BadInput(
                f"OpenVINO failed: {one_line(exc, kind=False)} (expected inputs {expected}, got {got})"
            ) from exc
        return {p.get_any_name(): np.array(result[p]) for p in self.loaded.outputs}

    def timed_call(self, feed: Arrays) -> Callable[[], Any]:
        """``request.infer`` with the inputs prepared once (share_inputs: no copy per call), on a request of its
        own: a request bound to shared memory of one shape refuses later inputs of another."""
        self.infer(feed)
        request = self.loaded.create_infer_request()
        prepared = {n: np.ascontiguousarray(feed[n]) for n in self.input_names()}
        return lambda: request.infer(prepared, share_inputs=True)


def _type_name(value: Any) -> str:
    """``f32`` for OpenVINO's ``<Type: 'float32'>`` (its ``to_string()``), else ``str(value)``."""
    to_string = getattr(value, "to_string", None)
    return str(to_string()) if callable(to_string) else str(value)
