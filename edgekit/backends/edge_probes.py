"""Probes of the edge runtimes: each really runs something tiny (an OpenVINO Relu model compiled and run on CPU,
an ncnn Mat round trip, ExecuTorch's runtime created, inductor's C++ toolchain found) and returns None when the
backend works here, else why not with the pip line. ``doctor`` and ``bench`` call them through the registry."""

from __future__ import annotations

import shutil

from edgekit.core.errors import one_line
from edgekit.core.quiet import native_quiet


def openvino_reason() -> str | None:
    """Compile a one-Relu OpenVINO model for CPU and run it."""
    try:
        import numpy as np
        import openvino as ov
        import openvino.opset13 as ops
    except ImportError as exc:
        return f"openvino does not import ({exc.name}): pip install 'edgekit[openvino]'"
    try:
        x = ops.parameter([2], np.float32, name="x")
        compiled = ov.Core().compile_model(ov.Model([ops.relu(x)], [x]), "CPU")
        out = compiled([np.array([-1.0, 2.0], np.float32)])[0]
    except Exception as exc:  # openvino raises RuntimeError subclasses
        return f"openvino cannot compile for CPU here: {one_line(exc)}"
    return None if list(out) == [0.0, 2.0] else f"openvino's CPU plugin returned {list(out)} for relu([-1, 2])"


def executorch_reason() -> str | None:
    """Import ``executorch.runtime`` and create its Runtime (the kernels registered in the wheel)."""
    try:
        with native_quiet():
            from executorch.runtime import Runtime

            Runtime.get()
    except ImportError as exc:
        return f"executorch does not import ({exc.name}): pip install 'edgekit[executorch]'"
    except Exception as exc:  # the runtime's native init failing
        return f"the ExecuTorch runtime does not start here: {one_line(exc)}"
    return None


def ncnn_reason() -> str | None:
    """Import ncnn and pnnx (the converter), create a Net and round-trip an array through an ``ncnn.Mat``. (A net
    built in memory from a hand-written two-layer param segfaulted in ``extract`` with ncnn 1.0.20261020, so the
    probe runs no layer; the export's verification runs the real model.)"""
    try:
        import ncnn
        import numpy as np
        import pnnx  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} does not import: pip install 'edgekit[ncnn]'"
    try:
        ncnn.Net()
        data = np.array([[-1.0, 2.0]], np.float32)
        back = np.array(ncnn.Mat(data))
    except Exception as exc:  # the binding raises RuntimeError/TypeError
        return f"ncnn does not work here: {one_line(exc)}"
    return None if back.tolist() == data.tolist() else f"ncnn.Mat round trip returned {back.tolist()}"


def torch_compile_reason() -> str | None:
    """torch's inductor imports and a C++ compiler is on PATH (inductor's CPU backend compiles C++). A real compile
    takes 10-40 s here, too slow for a probe: the first ``bench`` row pays it and reports it as compile time."""
    try:
        import torch._inductor  # noqa: F401
    except ImportError as exc:
        return f"torch's inductor does not import: {exc}"
    if not any(shutil.which(cc) for cc in ("g++", "c++", "clang++")):
        return "torch.compile's inductor needs a C++ compiler on PATH (g++ or clang++): apt-get install g++"
    return None
