"""What runs when TensorRT cannot: probes, the backend decision, and the one-line exit-3 errors (measured on this
machine, which has no TensorRT, no pycuda and no GPU)."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from edgekit.backends.trt import fallback
from edgekit.backends.trt.fallback import BackendDecision, Probe, decide
from edgekit.core.errors import BackendUnavailable

OK = {
    "tensorrt": Probe("tensorrt", True, "10.13.0"),
    "pycuda": Probe("pycuda", True, "2026.1"),
    "gpu": Probe("gpu", True, "Orin (compute capability 8.7)"),
}
NO_TRT = Probe("tensorrt", False, "TensorRT is not installed (tensorrt does not import): pip install ...")
ORT_CUDA = Probe("onnxruntime-cuda", True, "onnxruntime 1.32 CUDA EP")
NO_ORT_CUDA = Probe("onnxruntime-cuda", False, "onnxruntime 1.32.0 is a CPU build (providers [...]): install ...")


# The tests below that describe "this machine" hold where TensorRT / pycuda / the ORT CUDA EP are missing (here, CI);
# on a GPU machine with them they are skipped, and test_engine_integration.py takes over.
HAS_TRT = fallback.probe_tensorrt().ok
without_trt = pytest.mark.skipif(HAS_TRT, reason="TensorRT is installed here: the no-TensorRT paths cannot be seen")


def probes(**override: Probe) -> list[Probe]:
    return list({**OK, **override}.values())


def test_everything_present_picks_tensorrt() -> None:
    d = decide("auto", probes=probes())
    assert (d.backend, d.device, d.fallback, d.artifact_format) == ("tensorrt", "cuda", False, "trt")


def test_no_tensorrt_falls_back_to_ort_cuda_when_it_works() -> None:
    d = decide("auto", probes=probes(tensorrt=NO_TRT) + [ORT_CUDA])
    assert (d.backend, d.device, d.fallback) == ("onnxruntime", "cuda", True)
    assert d.reason == "TensorRT is not installed; ONNX Runtime's CUDA EP works"
    assert d.describe().startswith("onnxruntime on cuda (fallback from auto: TensorRT is not installed")
    assert d.runner_options() == {"device": "cuda"} and d.artifact_format == "onnx"


def test_no_gpu_anywhere_falls_back_to_cpu_and_says_why() -> None:
    no_gpu = Probe("gpu", False, "no CUDA GPU is visible (cuInit: no device): TensorRT needs ...")
    d = decide("tensorrt", probes=probes(gpu=no_gpu) + [NO_ORT_CUDA])
    assert (d.backend, d.device) == ("onnxruntime", "cpu")
    assert d.reason == "no CUDA GPU is visible; no working ONNX Runtime CUDA EP (onnxruntime 1.32.0 is a CPU build)"
    assert [p["name"] for p in d.to_json()["probes"]] == ["tensorrt", "pycuda", "gpu", "onnxruntime-cuda"]


def test_tensorrt_without_fallback_raises_exit_3() -> None:
    with pytest.raises(BackendUnavailable) as exc:
        decide("tensorrt", allow_fallback=False, probes=probes(pycuda=Probe("pycuda", False, "pycuda is missing")))
    assert str(exc.value) == "pycuda is missing" and exc.value.exit_code == 3


def test_short() -> None:
    assert fallback.short("no CUDA GPU is visible (cuInit: x): fix") == "no CUDA GPU is visible"
    assert fallback.short("pycuda is not installed: pip install") == "pycuda is not installed"
    assert fallback.short("plain") == "plain"


# -- the real probes, on this machine -----------------------------------------------------------------------------
@without_trt
def test_this_machine_has_no_tensorrt_and_says_how_to_fix() -> None:
    reason = fallback.trt_unavailable_reason()
    assert reason is not None and "\n" not in reason
    assert reason.startswith("TensorRT is not installed")
    assert "pip install 'edgekit[trt]'" in reason and "--fallback" in reason and "JetPack" in reason


def test_stub_namespace_is_not_mistaken_for_tensorrt(monkeypatch: pytest.MonkeyPatch) -> None:
    # tensorrt-stubs installs a bare tensorrt/ folder that imports as an empty namespace package
    monkeypatch.setitem(sys.modules, "tensorrt", types.ModuleType("tensorrt"))
    p = fallback.probe_tensorrt()
    assert not p.ok and "only the type stubs" in p.detail


def test_old_tensorrt_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    old = types.ModuleType("tensorrt")
    old.__version__ = "8.6.1"  # type: ignore[attr-defined]
    old.Builder = object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tensorrt", old)
    assert "8.6.1 is too old" in fallback.probe_tensorrt().detail


def test_pycuda_and_gpu_probes_here() -> None:
    pycuda = fallback.probe_pycuda()
    if pycuda.ok:
        pytest.skip("pycuda is installed here")
    assert "pip install 'edgekit[trt]'" in pycuda.detail
    gpu = fallback.probe_gpu()
    if gpu.ok:
        pytest.skip(f"a GPU is visible here: {gpu.detail}")
    assert "no CUDA GPU" in gpu.detail or "cannot tell" in gpu.detail
    assert "--fallback" in gpu.detail


def test_ort_cuda_probe_here() -> None:
    p = fallback.probe_ort_cuda()
    if p.ok:
        pytest.skip(f"ONNX Runtime's CUDA EP works here: {p.detail}")
    assert "onnxruntime-gpu" in p.detail or "CUDA EP" in p.detail


@without_trt
def test_decide_here_runs_onnxruntime_on_cpu() -> None:
    d = decide("auto")
    assert (d.backend, d.device, d.fallback) == ("onnxruntime", "cpu", True)
    assert "TensorRT is not installed" in d.describe()


# -- the entry points that must exit 3 here --------------------------------------------------------------------------
@without_trt
def test_format_trt_is_unavailable_with_the_reason() -> None:
    from edgekit.artifacts.formats import FORMATS
    from edgekit.backends.trt.build import unavailable_reason

    assert FORMATS["trt"].unavailable_reason() == unavailable_reason() == fallback.trt_unavailable_reason()


@without_trt
def test_export_engine_fails_before_exporting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgekit.export.trt import export_engine

    called: list[Any] = []
    monkeypatch.setitem(
        sys.modules, "edgekit.export.onnx", types.SimpleNamespace(export_onnx=lambda *a, **k: called.append(a))
    )
    with pytest.raises(BackendUnavailable) as exc:
        export_engine(object(), tmp_path / "m.engine")  # type: ignore[arg-type]
    assert exc.value.exit_code == 3 and "TensorRT is not installed" in str(exc.value)
    assert called == [] and list(tmp_path.iterdir()) == []


@without_trt
def test_runner_activation_fails_with_the_reason(tmp_path: Path) -> None:
    from edgekit.backends.registry import create_runner

    runner = create_runner("tensorrt", tmp_path / "m.engine")
    with pytest.raises(BackendUnavailable, match="TensorRT is not installed"):
        runner.activate()
    cpu = create_runner("tensorrt", tmp_path / "m.engine", device="cpu")
    with pytest.raises(BackendUnavailable, match="CUDA GPUs only"):
        cpu.activate()


def _cli() -> Any:
    import typer

    from edgekit.cli.trt import build

    app = typer.Typer()
    app.command()(build)
    app.command("noop")(lambda: None)  # two commands, so `build` is a subcommand as in the real app
    return app


@without_trt
def test_build_cli_exits_3_with_one_line(tmp_path: Path, make_onnx: Any) -> None:
    from typer.testing import CliRunner

    model = make_onnx(tmp_path / "m.onnx")
    result = CliRunner().invoke(_cli(), ["build", str(model), "-o", str(tmp_path / "m.engine")])
    assert result.exit_code == 3, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "TensorRT is not installed" in lines[0] and "--fallback" in lines[0]
    assert not (tmp_path / "m.engine").exists()


@without_trt
def test_build_cli_fallback_says_what_runs(tmp_path: Path, make_onnx: Any) -> None:
    from typer.testing import CliRunner

    model = make_onnx(tmp_path / "m.onnx")
    result = CliRunner().invoke(_cli(), ["build", str(model), "--fallback"])
    assert result.exit_code == 0, result.output
    assert "no engine written: onnxruntime on cpu (fallback from tensorrt: TensorRT is not installed" in result.output
    assert "CPUExecutionProvider" in result.output


def test_build_cli_missing_file_is_bad_input(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(_cli(), ["build", str(tmp_path / "nope.onnx")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_decision_is_a_frozen_record() -> None:
    d = BackendDecision("auto", "onnxruntime", "cpu", True, "r", ())
    with pytest.raises(AttributeError):
        d.backend = "tensorrt"  # type: ignore[misc]
