"""GPU probes: do CUDA graphs and ONNX Runtime's CUDA EP *work* on this machine? Each probe tries the real thing on
a tiny workload (capture and replay an op; create a CUDA EP session and run it) and returns ``(ok, reason)``;
``get_available_providers()`` lists compiled-in providers, not working ones (TRAPS.md), so nothing is guessed.

On a machine without a CUDA GPU every probe returns at once with the reason, without touching CUDA. ``require_cuda``
is what ``--device cuda`` calls: it raises :class:`~edgekit.core.errors.BackendUnavailable` (exit 3) with the reason.

The GPU branches of these probes have not been run on a GPU in this repository yet (written against the PyTorch
and ONNX Runtime documentation); the CPU branches are tested.
"""

from __future__ import annotations

from typing import Any

from edgekit.core.errors import BackendUnavailable, one_line

NO_CUDA = "no CUDA GPU: torch.cuda.is_available() is False"

Probe = tuple[bool, str]


def cuda_status() -> Probe:
    """``(True, "<GPU name>, compute capability X.Y, torch <version> CUDA <version>")`` or ``(False, reason)``."""
    try:
        import torch
    except ImportError:
        return False, "torch is not installed"
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        return False, f"{NO_CUDA} (torch {torch.__version__}, {build})"
    major, minor = torch.cuda.get_device_capability()
    return True, (
        f"{torch.cuda.get_device_name()}, compute capability {major}.{minor}, torch {torch.__version__} "
        f"CUDA {torch.version.cuda}"
    )


def require_cuda(what: str = "--device cuda") -> str:
    """Return the GPU description, or raise when there is no usable CUDA GPU.

    Raises:
        BackendUnavailable: no CUDA GPU (exit 3), with the reason and the fix.
    """
    ok, reason = cuda_status()
    if not ok:
        raise BackendUnavailable(
            f"{what} needs a CUDA GPU, but {reason}; run on a machine with an NVIDIA GPU and "
            f"a CUDA build of torch, or use --device cpu"
        )
    return reason


def cuda_graphs_work() -> Probe:
    """Capture ``y = x * 2 + 1`` in a CUDA graph, refill ``x``, replay, and check ``y``."""
    ok, reason = cuda_status()
    if not ok:
        return False, reason
    import torch

    try:
        x = torch.zeros(16, device="cuda")
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):  # warm up on a side stream, as PyTorch's CUDA-graph notes do
            y = x * 2 + 1
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=torch.cuda.graph_pool_handle()):
            y = x * 2 + 1
        x.copy_(torch.arange(16.0, device="cuda"))
        graph.replay()
        torch.cuda.synchronize()
        expected = torch.arange(16.0) * 2 + 1
        if not torch.equal(y.cpu(), expected):
            return False, f"CUDA graph replay gave wrong values: {y.cpu()[:4].tolist()} != {expected[:4].tolist()}"
    except Exception as exc:  # any failure of capture or replay is the answer
        return False, f"CUDA graph capture/replay failed: {one_line(exc)}"
    return True, f"captured and replayed a CUDA graph on {reason}"


def tiny_onnx_model() -> bytes:
    """Serialized ONNX model ``y = x + x`` (float32, shape [N, 4]) for the probes, built with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "edgekit_probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime edgekit supports
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def ort_cuda_works(graph: bool = False) -> Probe:
    """Create an ONNX Runtime session on the CUDA EP for :func:`tiny_onnx_model` and run it with I/O binding.

    Args:
        graph: also ask for ``enable_cuda_graph`` and run three times (capture, then replay).
    """
    ok, reason = cuda_status()
    if not ok:
        return False, reason
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as exc:
        return False, f"{exc.name} is not installed"
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False, (
            f"onnxruntime {ort.__version__} has no CUDAExecutionProvider (has "
            f"{ort.get_available_providers()}); install onnxruntime-gpu instead of onnxruntime"
        )
    options: dict[str, Any] = {"enable_cuda_graph": "1"} if graph else {}
    try:
        session = ort.InferenceSession(tiny_onnx_model(), providers=[("CUDAExecutionProvider", options)])
        if session.get_providers()[0] != "CUDAExecutionProvider":
            return False, f"the CUDA EP did not load (session providers {session.get_providers()})"
        x = np.arange(8, dtype=np.float32).reshape(2, 4)
        x_dev = ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0)
        y_dev = ort.OrtValue.ortvalue_from_shape_and_type([2, 4], np.float32, "cuda", 0)
        binding = session.io_binding()
        binding.bind_ortvalue_input("x", x_dev)
        binding.bind_ortvalue_output("y", y_dev)
        for _ in range(3 if graph else 1):
            session.run_with_iobinding(binding)
        x_dev.update_inplace(x + 1)
        session.run_with_iobinding(binding)
        if not np.array_equal(y_dev.numpy(), (x + 1) * 2):
            return False, f"the CUDA EP returned wrong values: {y_dev.numpy().ravel()[:4].tolist()}"
    except Exception as exc:  # onnxruntime raises its own types; any failure is the answer
        return False, f"onnxruntime CUDA EP{' with CUDA graph' if graph else ''} failed: {one_line(exc, kind=False)}"
    return True, f"onnxruntime {ort.__version__} CUDA EP{' + CUDA graph' if graph else ''} ran on {reason}"


def probe_all() -> dict[str, Probe]:
    """Every probe, for ``edgekit doctor``: cuda, cuda_graphs, ort_cuda, ort_cuda_graph."""
    return {
        "cuda": cuda_status(),
        "cuda_graphs": cuda_graphs_work(),
        "ort_cuda": ort_cuda_works(),
        "ort_cuda_graph": ort_cuda_works(graph=True),
    }


# -- the registry rows' probes: () -> None when the backend can run here, else why not and the fix ---------------


def torch_reason() -> str | None:
    """Import torch and run one op on the CPU."""
    try:
        import torch

        if int((torch.ones(2) + 1).sum().item()) != 4:
            return "torch computed 1 + 1 wrongly on the CPU; reinstall torch"
    except ImportError as exc:
        return f"torch cannot be imported ({one_line(exc, kind=False)}); pip install torch (the build for your machine)"
    return None


def torch_export_reason() -> str | None:
    """:func:`torch_reason`, and ``torch.export.load`` exists (torch >= 2.1)."""
    reason = torch_reason()
    if reason is not None:
        return reason
    import torch

    if not hasattr(getattr(torch, "export", None), "load"):
        return f"torch {torch.__version__} has no torch.export.load; pip install 'torch>=2.6'"
    return None


def onnxruntime_reason() -> str | None:
    """Import onnxruntime and run :func:`tiny_onnx_model` in a CPU session."""
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as exc:
        return f"onnxruntime cannot be imported ({one_line(exc, kind=False)}); pip install 'onnxruntime>=1.20'"
    try:
        session = ort.InferenceSession(tiny_onnx_model(), providers=["CPUExecutionProvider"])
        x = np.ones((1, 4), np.float32)
        (y,) = session.run(None, {"x": x})
        if not np.array_equal(y, x + x):
            return f"onnxruntime {ort.__version__} computed x + x wrongly; reinstall onnxruntime"
    except Exception as exc:  # onnxruntime/onnx raise their own types; any failure is the answer
        return f"onnxruntime {ort.__version__} cannot run a one-node model: {one_line(exc, kind=False)}"
    return None


def cuda_graphs_reason() -> str | None:
    """:func:`cuda_graphs_work` as a registry probe."""
    ok, reason = cuda_graphs_work()
    return None if ok else reason


def ort_cuda_reason() -> str | None:
    """:func:`ort_cuda_works` (plain I/O binding: a refused graph falls back per shape) as a registry probe."""
    ok, reason = ort_cuda_works()
    return None if ok else reason
