"""``edgekit doctor``: what this machine can do, checked rather than assumed.

Python, torch (CUDA or not), ONNX Runtime and the execution providers that *actually* create a session and run
(``get_available_providers`` lists what was compiled in, not what works), the GPU and its compute capability,
TensorRT and pycuda (or why they are missing), Jetson (``/etc/nv_tegra_release``, DLA cores), and from all that
the export formats and backends available here.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata as md
import os
import platform
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgekit.core.errors import one_line

TEGRA_RELEASE = Path("/etc/nv_tegra_release")


@dataclasses.dataclass
class Check:
    """One finding: ``status`` is ``ok``, ``missing`` (not installed / not present) or ``warn`` (present but not
    working); ``detail`` says what was found or why not, with the fix."""

    name: str
    status: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def _guard(name: str, fn: Callable[[], Check]) -> Check:
    try:
        return fn()
    except Exception as exc:  # a probe must never crash the doctor: report what broke
        return Check(name, "warn", f"check failed: {one_line(exc, 200)}")


def check_python() -> Check:
    return Check(
        "python",
        "ok",
        f"{platform.python_version()} ({sys.executable}) on {platform.platform()}, {os.cpu_count()} logical cores",
    )


def check_torch() -> Check:
    try:
        import torch
    except ImportError as exc:
        return Check("torch", "missing", f"not importable ({exc}); install torch (the CPU or a CUDA build)")
    cuda = torch.version.cuda
    if torch.cuda.is_available():
        return Check("torch", "ok", f"{torch.__version__}, CUDA {cuda}, {torch.cuda.device_count()} GPU(s) visible")
    build = f"CUDA {cuda} build, but no GPU is visible" if cuda else "CPU-only build"
    return Check("torch", "ok", f"{torch.__version__} ({build}); eager runs on cpu")


def check_gpu() -> Check:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        names = []
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            names.append(f"{i}: {p.name}, compute capability {p.major}.{p.minor}, {p.total_memory / 2**30:.1f} GiB")
        return Check("gpu", "ok", "; ".join(names))
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run(
                [smi, "--query-gpu=name,compute_cap,driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as exc:
            out = f"nvidia-smi failed: {exc}"
        if out:
            return Check("gpu", "warn", f"nvidia-smi sees {out}, but torch does not: install a CUDA build of torch")
    return Check("gpu", "missing", "no NVIDIA GPU visible (torch.cuda and nvidia-smi); GPU backends unavailable")


def tiny_onnx() -> bytes:
    """A one-node ONNX model (``y = x + x``) for probing execution providers."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"])],
        "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # old enough for every onnxruntime edgekit supports
    return bytes(model.SerializeToString())


@functools.lru_cache(maxsize=1)
def working_providers() -> tuple[tuple[str, ...], dict[str, str]]:
    """The execution providers that create a session on :func:`tiny_onnx` *and* run it, and for the others why
    not. Each provider is tried alone, so a silent fallback to CPU is caught."""
    import numpy as np
    import onnxruntime as ort

    model = tiny_onnx()
    ok: list[str] = []
    failed: dict[str, str] = {}
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    for provider in ort.get_available_providers():
        try:
            with warnings.catch_warnings():  # the verdict below says it; no stray UserWarning
                warnings.simplefilter("ignore")
                session = ort.InferenceSession(model, opts, providers=[provider])
            used = session.get_providers()
            if provider not in used:
                failed[provider] = f"session fell back to {used}"
                continue
            y = session.run(None, {"x": np.ones((1, 4), np.float32)})[0]
            if not np.allclose(y, 2.0):
                failed[provider] = f"wrong result {y.tolist()}"
                continue
            ok.append(provider)
        except Exception as exc:  # each provider fails in its own way (missing CUDA/cuDNN/TensorRT libraries)
            failed[provider] = one_line(exc, 200, kind=False)
    return tuple(ok), failed


def check_onnxruntime() -> Check:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        return Check(
            "onnxruntime", "missing", f"not importable ({exc}); pip install onnxruntime (or onnxruntime-gpu, not both)"
        )
    dists = [d for d in ("onnxruntime", "onnxruntime-gpu") if _dist_version(d)]
    ok, failed = working_providers()
    detail = f"{ort.__version__} ({', '.join(dists) or 'unknown package'}); working providers: {', '.join(ok)}"
    if failed:
        detail += "; not working: " + "; ".join(f"{p} ({why})" for p, why in failed.items())
    if len(dists) > 1:
        return Check(
            "onnxruntime",
            "warn",
            detail + "; onnxruntime and onnxruntime-gpu are both installed: uninstall both and install one",
        )
    return Check("onnxruntime", "ok" if ok else "warn", detail)


def check_tensorrt() -> Check:
    try:
        import tensorrt as trt  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError as exc:
        return Check(
            "tensorrt",
            "missing",
            f"not importable ({exc}); TensorRT needs an NVIDIA GPU: pip install "
            f"'edgekit[trt]' there (JetPack ships it as system packages)",
        )
    version = getattr(trt, "__version__", None)
    if version is None or not hasattr(trt, "Builder"):
        where = getattr(trt, "__file__", None) or list(getattr(trt, "__path__", []))
        return Check(
            "tensorrt",
            "missing",
            f"the 'tensorrt' importable here ({where}) is not TensorRT (type stubs "
            f"only, e.g. tensorrt-stubs); install TensorRT on a machine with an "
            f"NVIDIA GPU: pip install 'edgekit[trt]', or JetPack's system packages",
        )
    return Check("tensorrt", "ok", f"{version} (major {version.split('.')[0]})")


def check_pycuda() -> Check:
    try:
        import pycuda  # type: ignore[import-not-found,import-untyped,unused-ignore]
        import pycuda.driver as cuda  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError as exc:
        return Check(
            "pycuda",
            "missing",
            f"not importable ({exc}); pip install pycuda on the GPU machine (it builds against the CUDA toolkit)",
        )
    version = getattr(pycuda, "VERSION_TEXT", "?")
    try:
        cuda.init()
        return Check("pycuda", "ok", f"{version}, {cuda.Device.count()} CUDA device(s)")
    except Exception as exc:  # pycuda raises its own error types when the driver is missing
        return Check("pycuda", "warn", f"{version} installed but CUDA does not initialise: {exc}")


def dla_cores() -> int | None:
    """DLA cores from TensorRT's builder when it works, else from ``/dev/nvhost-nvdla*`` nodes; None unknown."""
    try:
        import tensorrt as trt  # type: ignore[import-not-found,import-untyped,unused-ignore]

        builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
        return int(builder.num_DLA_cores)
    except Exception:  # no TensorRT or no GPU: fall back to the device nodes
        nodes = list(Path("/dev").glob("nvhost-nvdla*")) if Path("/dev").is_dir() else []
        return len(nodes) if nodes or TEGRA_RELEASE.exists() else None


def gpu_probes() -> list[Check]:
    """CUDA graphs and ONNX Runtime's CUDA EP tried for real (:func:`edgekit.backends.probes.probe_all`); on a machine
    without a GPU they answer at once with the reason."""
    from edgekit.backends.probes import probe_all

    names = {"cuda_graphs": "cuda graphs", "ort_cuda": "onnxruntime cuda", "ort_cuda_graph": "onnxruntime cuda graph"}
    probes = probe_all()
    return [Check(label, "ok" if probes[key][0] else "missing", probes[key][1]) for key, label in names.items()]


def check_jetson() -> Check:
    if not TEGRA_RELEASE.exists():
        return Check("jetson", "missing", f"not a Jetson ({TEGRA_RELEASE} absent)")
    release = TEGRA_RELEASE.read_text(errors="replace").splitlines()[0].strip() if TEGRA_RELEASE.stat().st_size else ""
    return Check("jetson", "ok", f"{release or 'Jetson'}; DLA cores: {dla_cores()}")


def _dist_version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def format_availability() -> list[Check]:
    """Every export format of :data:`edgekit.artifacts.formats.FORMATS`: available, or its check's reason."""
    from edgekit.artifacts.formats import FORMATS

    out = []
    for f in FORMATS.values():
        try:
            reason = f.unavailable_reason()
        except Exception as exc:  # a format whose module is missing (e.g. not built yet) is unavailable
            reason = f"its capability check ({f.check}) failed: {type(exc).__name__}: {exc}"
        out.append(Check(f.name, "ok" if reason is None else "missing", f.description if reason is None else reason))
    return out


def backend_availability(gpu: bool, ort_providers: tuple[str, ...]) -> list[Check]:
    """Every registered backend: ok (with the devices it runs on here) only when its runner and loader import and
    its row's probe really ran what it needs; else missing, with the probe's reason and the fix."""
    from edgekit.backends.registry import BACKENDS

    out = []
    for b in BACKENDS.values():
        try:
            b.runner_cls()
            b.loader_fn()
        except (ImportError, AttributeError) as exc:
            out.append(Check(b.name, "missing", f"its runner or loader cannot be imported: {one_line(exc)}"))
            continue
        reason = b.unavailable_reason()
        if reason is not None:
            out.append(Check(b.name, "missing", reason))
            continue
        devices = [d for d in b.devices if d == "cpu" or (d == "cuda" and gpu and _cuda_ok(b.name, ort_providers))]
        if devices:
            out.append(Check(b.name, "ok", f"runs on {', '.join(devices)}: {b.description}"))
        else:
            out.append(Check(b.name, "missing", f"needs {'/'.join(b.devices)}; no CUDA GPU usable here"))
    return out


def _cuda_ok(backend: str, ort_providers: tuple[str, ...]) -> bool:
    """Whether a backend that also runs on the CPU (whose probe tried the CPU) has what CUDA needs here."""
    if backend == "onnxruntime":
        return "CUDAExecutionProvider" in ort_providers
    return True


def diagnose() -> dict[str, Any]:
    """Run every check. Returns ``{"checks": [...], "formats": [...], "backends": [...]}`` (each a list of
    :class:`Check` as JSON)."""
    checks = [
        _guard(name, fn)
        for name, fn in (
            ("python", check_python),
            ("torch", check_torch),
            ("gpu", check_gpu),
            ("onnxruntime", check_onnxruntime),
            ("tensorrt", check_tensorrt),
            ("pycuda", check_pycuda),
            ("jetson", check_jetson),
        )
    ]
    try:
        checks[3:3] = gpu_probes()
    except Exception as exc:  # the probes module belongs to the GPU work; its failure must not stop the doctor
        checks.insert(3, Check("gpu probes", "warn", f"check failed: {type(exc).__name__}: {exc}"))
    by_name = {c.name: c for c in checks}
    gpu = by_name["gpu"].status == "ok"
    try:
        providers = working_providers()[0] if by_name["onnxruntime"].status != "missing" else ()
    except Exception:  # already reported by check_onnxruntime
        providers = ()
    return {
        "checks": [c.to_json() for c in checks],
        "formats": [c.to_json() for c in format_availability()],
        "backends": [c.to_json() for c in backend_availability(gpu, providers)],
    }


def render(report: dict[str, Any]) -> list[Any]:
    """Rich tables for :func:`diagnose`'s report."""
    from rich.markup import escape
    from rich.table import Table

    colours = {"ok": "green", "missing": "yellow", "warn": "red"}
    tables = []
    for key, title in (("checks", "This machine"), ("formats", "Export formats"), ("backends", "Backends")):
        table = Table(title=title, title_justify="left")
        table.add_column("name")
        table.add_column("status")
        table.add_column("detail", overflow="fold")
        for c in report[key]:
            table.add_row(
                escape(c["name"]), f"[{colours.get(c['status'], 'white')}]{c['status']}[/]", escape(c["detail"])
            )
        tables.append(table)
    return tables
