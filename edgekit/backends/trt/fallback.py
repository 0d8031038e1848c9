"""What runs when TensorRT cannot: probes for TensorRT, pycuda, a CUDA GPU and ONNX Runtime's CUDA EP, and the
decision ``bench --backend auto`` and the pipeline act on.

The order is TensorRT (needs all three of the ``tensorrt`` module, pycuda and a visible CUDA GPU), else ONNX
Runtime with the CUDA EP when a session really runs on it (``get_available_providers()`` lists compiled-in
providers, not working ones: TRAPS.md), else ONNX Runtime on the CPU EP. The decision records every probe and the
reason in one line, so each report can say which backend actually ran and why.

Every probe is cheap and never raises: a failure is a :class:`Probe` with ``ok=False`` and the fix in ``detail``.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from edgekit.core.errors import BackendUnavailable, one_line

TRT_FIX = (
    "pip install 'edgekit[trt]' on a machine with an NVIDIA GPU, or use JetPack's system TensorRT "
    "(JetPack 6: TensorRT 10; JetPack 7.2.2+: TensorRT 11); or use --format onnx / --fallback"
)
PYCUDA_FIX = (
    "pip install 'edgekit[trt]' (pycuda builds from source against the CUDA toolkit's headers; on "
    "Jetson install nvidia-jetpack first); or use --fallback to run ONNX Runtime instead"
)
GPU_FIX = "TensorRT needs an NVIDIA GPU and its driver; use --format onnx, or --fallback to run ONNX Runtime"


@dataclasses.dataclass(frozen=True)
class Probe:
    """One capability check: ``detail`` is the version/device when ``ok``, else what is missing and the fix."""

    name: str
    ok: bool
    detail: str
    info: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, **dict(self.info)}


def probe_tensorrt() -> Probe:
    """The ``tensorrt`` module: importable, really TensorRT (not the stubs' empty namespace), version >= 10."""
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError as exc:
        return Probe(
            "tensorrt", False, f"TensorRT is not installed ({exc.name or 'tensorrt'} does not import): {TRT_FIX}"
        )
    except Exception as exc:  # a broken install (missing libnvinfer) raises OSError and others at import
        return Probe("tensorrt", False, f"TensorRT fails to import ({type(exc).__name__}: {str(exc)[:160]}): {TRT_FIX}")
    version = getattr(trt, "__version__", None)
    if not isinstance(version, str) or not hasattr(trt, "Builder"):
        # tensorrt-stubs installs a bare `tensorrt/` folder of .pyi files: it imports as an empty namespace
        return Probe(
            "tensorrt",
            False,
            f"TensorRT is not installed (the 'tensorrt' found is only the type stubs of tensorrt-stubs): {TRT_FIX}",
        )
    major = version.split(".")[0]
    if not major.isdigit() or int(major) < 10:
        return Probe(
            "tensorrt",
            False,
            f"TensorRT {version} is too old: edgekit needs TensorRT 10 or 11 (the tensor-name API): {TRT_FIX}",
        )
    return Probe("tensorrt", True, version, (("version", version),))


def probe_pycuda() -> Probe:
    """pycuda's driver module imports (its build links the CUDA driver library)."""
    try:
        importlib.import_module("pycuda.driver")
    except ImportError as exc:
        missing = exc.name or "pycuda"
        what = "pycuda is not installed" if missing.startswith("pycuda") else f"pycuda fails to import ({exc})"
        return Probe("pycuda", False, f"{what}: {PYCUDA_FIX}")
    except Exception as exc:  # e.g. undefined symbol in a pycuda built against a stub libcuda (TRAPS.md)
        return Probe(
            "pycuda",
            False,
            f"pycuda fails to load ({type(exc).__name__}: {str(exc)[:160]}): "
            f"rebuild it on this machine against the CUDA toolkit; {PYCUDA_FIX}",
        )
    pycuda = importlib.import_module("pycuda")
    return Probe("pycuda", True, str(getattr(pycuda, "VERSION_TEXT", "installed")))


def probe_gpu() -> Probe:
    """A CUDA GPU is visible: through pycuda's driver API when it imports, else through torch."""
    try:
        cuda = importlib.import_module("pycuda.driver")
    except Exception:  # pycuda missing or broken: probe_pycuda reports that; ask torch instead
        return _probe_gpu_torch()
    try:
        cuda.init()
        count = int(cuda.Device.count())
    except Exception as exc:  # pycuda.driver.Error / LogicError when there is no driver or no device
        return Probe("gpu", False, f"no CUDA GPU is visible (cuInit: {str(exc)[:120]}): {GPU_FIX}")
    if count == 0:
        return Probe("gpu", False, f"no CUDA GPU is visible (the driver reports 0 devices): {GPU_FIX}")
    dev = cuda.Device(0)
    cc = ".".join(str(v) for v in dev.compute_capability())
    name = str(dev.name())
    return Probe("gpu", True, f"{name} (compute capability {cc})", (("name", name), ("compute_capability", cc)))


def _probe_gpu_torch() -> Probe:
    try:
        import torch
    except ImportError:
        return Probe(
            "gpu", False, f"cannot tell whether a CUDA GPU is present (neither pycuda nor torch imports): {GPU_FIX}"
        )
    if not torch.cuda.is_available():
        build = (
            f"torch {torch.__version__} built without CUDA"
            if torch.version.cuda is None
            else f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no device"
        )
        return Probe("gpu", False, f"no CUDA GPU is visible ({build}): {GPU_FIX}")
    name = torch.cuda.get_device_name(0)
    cc = ".".join(str(v) for v in torch.cuda.get_device_capability(0))
    return Probe("gpu", True, f"{name} (compute capability {cc})", (("name", name), ("compute_capability", cc)))


def probe_ort_cuda() -> Probe:
    """ONNX Runtime's CUDA EP runs a one-node session (not merely listed as available)."""
    try:
        ort = importlib.import_module("onnxruntime")
    except ImportError:
        return Probe("onnxruntime-cuda", False, "onnxruntime is not installed: pip install onnxruntime-gpu")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return Probe(
            "onnxruntime-cuda",
            False,
            f"onnxruntime {ort.__version__} is a CPU build (providers "
            f"{ort.get_available_providers()}): for the CUDA EP install "
            f"onnxruntime-gpu instead of onnxruntime",
        )
    if "torch" not in sys.modules:
        try:  # importing torch first loads the CUDA libraries the CUDA EP needs (TRAPS.md)
            importlib.import_module("torch")
        except ImportError:
            pass
    try:
        sess = ort.InferenceSession(_tiny_onnx(), providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
        used = list(sess.get_providers())
    except Exception as exc:  # onnxruntime raises its own types when the EP's libraries are missing
        return Probe(
            "onnxruntime-cuda",
            False,
            f"the CUDA EP failed to start ({one_line(exc, 160, kind=False)}): "
            f"check the CUDA and cuDNN versions onnxruntime-gpu needs",
        )
    if not used or used[0] != "CUDAExecutionProvider":
        return Probe(
            "onnxruntime-cuda",
            False,
            f"the CUDA EP did not load (session providers {used}): check the "
            f"CUDA and cuDNN libraries onnxruntime-gpu {ort.__version__} needs",
        )
    return Probe("onnxruntime-cuda", True, f"onnxruntime {ort.__version__} CUDA EP")


def _tiny_onnx() -> bytes:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def trt_probes() -> list[Probe]:
    """The three probes TensorRT needs, in the order they are reported."""
    return [probe_tensorrt(), probe_pycuda(), probe_gpu()]


def trt_unavailable_reason(probes: Sequence[Probe] | None = None) -> str | None:
    """None when TensorRT can build and run here, else the first missing piece with its fix (one line).

    Without ``probes`` it stops at the first failing probe (no torch import just to say TensorRT is missing).
    """
    if probes is None:
        for probe in (probe_tensorrt, probe_pycuda, probe_gpu):
            result = probe()
            if not result.ok:
                return result.detail
        return None
    return next((p.detail for p in probes if not p.ok), None)


@dataclasses.dataclass(frozen=True)
class BackendDecision:
    """What will run, and why.

    Args:
        requested: what the user asked for (``tensorrt`` or ``auto``).
        backend: the registry name that will run (``tensorrt`` or ``onnxruntime``).
        device: ``cuda`` or ``cpu``.
        fallback: True when ``backend`` is not what was requested.
        reason: one line: why this backend (what is missing for the better ones).
        probes: every probe made.
    """

    requested: str
    backend: str
    device: str
    fallback: bool
    reason: str
    probes: tuple[Probe, ...]

    @property
    def artifact_format(self) -> str:
        """The format the chosen backend runs best: an engine for TensorRT, else ONNX."""
        return "trt" if self.backend == "tensorrt" else "onnx"

    def runner_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`edgekit.backends.registry.create_runner`."""
        return {"device": self.device}

    def describe(self) -> str:
        """``onnxruntime on cpu (fallback from tensorrt: TensorRT is not installed ...)``."""
        tail = f" (fallback from {self.requested}: {self.reason})" if self.fallback else f" ({self.reason})"
        return f"{self.backend} on {self.device}{tail}"

    def to_json(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "backend": self.backend,
            "device": self.device,
            "fallback": self.fallback,
            "reason": self.reason,
            "probes": [p.to_json() for p in self.probes],
        }


def decide(
    requested: str = "auto", *, allow_fallback: bool = True, probes: Sequence[Probe] | None = None
) -> BackendDecision:
    """Choose the backend for ``requested`` (``tensorrt`` or ``auto``).

    Args:
        allow_fallback: when False and TensorRT was requested but cannot run, raise instead of falling back.
        probes: probe results to decide from (default: probe now; the ORT CUDA probe runs only when needed).

    Raises:
        BackendUnavailable: ``requested == "tensorrt"`` without fallback and TensorRT cannot run (exit 3).
    """
    trt = list(probes) if probes is not None else trt_probes()
    reason = trt_unavailable_reason([p for p in trt if p.name in ("tensorrt", "pycuda", "gpu")])
    if reason is None:
        return BackendDecision(
            requested, "tensorrt", "cuda", False, "TensorRT, pycuda and a CUDA GPU are present", tuple(trt)
        )
    if requested == "tensorrt" and not allow_fallback:
        raise BackendUnavailable(reason)
    ort_probe = next((p for p in trt if p.name == "onnxruntime-cuda"), None) or probe_ort_cuda()
    all_probes = tuple(p for p in trt if p.name != "onnxruntime-cuda") + (ort_probe,)
    if ort_probe.ok:
        return BackendDecision(
            requested, "onnxruntime", "cuda", True, f"{short(reason)}; ONNX Runtime's CUDA EP works", all_probes
        )
    return BackendDecision(
        requested,
        "onnxruntime",
        "cpu",
        True,
        f"{short(reason)}; no working ONNX Runtime CUDA EP ({short(ort_probe.detail)})",
        all_probes,
    )


def short(detail: str) -> str:
    """The head of a probe's message, before its parenthesis or its fix: ``TensorRT is not installed``."""
    cut = min((i for i in (detail.find(" ("), detail.find(":")) if i >= 0), default=len(detail))
    return detail[:cut]
