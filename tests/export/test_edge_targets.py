"""OpenVINO, ExecuTorch and NCNN: each exporter's artifact loads in its runner (through the registry) and matches
eager at every size of the shape plan; names, companions, frozen/bounded axes and refusals are checked."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edgekit.artifacts.verify import verify_runner
from edgekit.backends.registry import create_runner
from edgekit.core.errors import BackendUnavailable, BadInput
from edgekit.core.spec import random_inputs
from edgekit.export.driver import without_axes
from edgekit.intake.load import load_model

TARGETS = {  # format -> (module, exporter, backend, suffix)
    "openvino": ("openvino", "export_openvino", "openvino", ".xml"),
    "executorch": ("executorch", "export_executorch", "executorch", ".pte"),
    "ncnn": ("ncnn", "export_ncnn", "ncnn", ".ncnn.param"),
}


def _export(fmt: str, model, tmp_path, **options):
    import importlib

    mod, fn, backend, suffix = TARGETS[fmt]
    pytest.importorskip({"openvino": "openvino", "executorch": "executorch.runtime", "ncnn": "pnnx"}[fmt])
    path = tmp_path / f"model{suffix}"
    details = getattr(importlib.import_module(f"edgekit.export.{mod}"), fn)(model, path, **options)
    return path, details, backend


def _verify(model, path, details, backend):
    checked = without_axes(model, details.get("frozen_axes", []))
    runner = create_runner(backend, str(path), inputs=checked.input_names, outputs=checked.outputs)
    with runner:
        return verify_runner(checked, runner, str(path), "x"), dict(runner.details)


@pytest.mark.parametrize("fmt", list(TARGETS))
def test_cnn_exports_and_verifies_at_the_shape_plan(fmt, tmp_path):
    model = load_model("cnn")
    path, details, backend = _export(fmt, model, tmp_path)
    assert path.is_file() and all((tmp_path / c).is_file() for c in details.get("companions", []))
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary file left"
    assert details["precision"] == "fp32"
    verification, ran = _verify(model, path, details, backend)
    assert verification.passed, verification.failures()
    assert {c.shapes["x"][0] for c in verification.checks} == {1, 2, 5}, "batch 1, the example and a larger one"
    if fmt == "openvino":
        assert ran["precision_hint"] == "f32" and "CPU" in ran["execution_devices"][0]


def test_multi_input_dict_output_model_keeps_names(user_models, tmp_path):
    model = load_model(f"{user_models}:two_head", inputs=["image:1x3x16x16", "meta:1x4"])
    for fmt in TARGETS:
        path, details, backend = _export(fmt, model, tmp_path / fmt)
        verification, _ = _verify(model, path, details, backend)
        assert verification.passed, (fmt, verification.failures())
        runner = create_runner(backend, str(path), inputs=model.input_names, outputs=model.outputs)
        with runner:
            out = runner.infer(random_inputs(model.inputs, {"image": {0: 3}, "meta": {0: 3}}))
        assert list(out) == ["logits", "feat"] and out["logits"].shape == (3, 5), fmt


def test_openvino_keeps_weights_fp32_and_refuses_bad_options(tmp_path):
    model = load_model("mlp")
    path, details, _ = _export("openvino", model, tmp_path)
    assert details["companions"] == ["model.bin"]
    assert (tmp_path / "model.bin").stat().st_size > 4 * 64 * 32, "fp32 weights (not compressed to fp16)"
    with pytest.raises(BadInput, match="precision_hint"):
        create_runner("openvino", str(path), precision_hint="f64")
    with pytest.raises(BackendUnavailable, match="NPU"):
        create_runner("openvino", str(path), ov_device="NPU").activate()
    (tmp_path / "model.bin").write_bytes(b"0")
    with pytest.raises(BadInput, match="OpenVINO cannot load"):
        create_runner("openvino", str(path)).activate()


def test_ncnn_loops_over_the_batch_and_names_its_blobs(tmp_path):
    model = load_model("transformer")
    path, details, backend = _export("ncnn", model, tmp_path)
    assert details["companions"] == ["model.ncnn.bin", "model.ncnn.json"] and "frozen_axes" not in details
    verification, ran = _verify(model, path, details, backend)
    assert verification.passed, verification.failures()
    assert "per-sample loop" in ran["batch"]
    times = {c.shapes["x"][1] for c in verification.checks}
    assert len(times) >= 3 and 8 in times, f"the time axis stays dynamic (verified at T={sorted(times)})"
    (tmp_path / "model.ncnn.json").unlink()
    with pytest.raises(BadInput, match="model.ncnn.json' is missing"):
        create_runner("ncnn", str(path)).activate()


def test_ncnn_names_a_layer_it_cannot_run(tmp_path):
    model = load_model("gru")
    path, details, backend = _export("ncnn", model, tmp_path)
    assert details["frozen_axes"] == ["x:1"], "the zero state's shape arithmetic makes pnnx freeze time"
    from edgekit.export.ncnn import _unsupported

    line = _unsupported(model, [("Tensor.new_zeros", "Tensor.new_zeros_1")])
    assert "ncnn has no layer for Tensor.new_zeros" in line and "\n" not in line


def test_executorch_bounds_its_dynamic_batch(tmp_path):
    model = load_model("mlp")
    path, details, backend = _export("executorch", model, tmp_path, max_size=8)
    assert details["bounded_axes"] == {"x:0": [1, 8]} and details["xnnpack_delegates"] >= 1
    runner = create_runner(backend, str(path), inputs=model.input_names, outputs=model.outputs)
    with runner:
        feed = random_inputs(model.inputs, {"x": {0: 8}})
        np.testing.assert_allclose(runner.infer(feed)["logits"], model.predict(feed)["logits"], atol=1e-5)
        big = random_inputs(model.inputs, {"x": {0: 20}})
        np.testing.assert_allclose(runner.infer(big)["logits"], model.predict(big)["logits"], atol=1e-5)
        assert "chunks of 8" in runner.details["chunked"]
        with pytest.raises(BadInput, match="planned size 8"):
            runner.timed_call(big)  # the timed call runs the program as is: beyond its plan it is refused up front


def test_executorch_names_the_unsupported_operator_and_module(tmp_path):
    with pytest.raises(BadInput) as err:
        _export("executorch", load_model("defect"), tmp_path)
    line = str(err.value)
    assert "aten.adaptive_max_pool2d" in line and "AdaptiveMaxPool2d" in line and "\n" not in line
    assert not list(tmp_path.iterdir()), "nothing left behind"


@pytest.mark.parametrize("fmt,module", [("openvino", "openvino"), ("executorch", "executorch"), ("ncnn", "pnnx")])
def test_missing_runtime_is_backend_unavailable_with_the_pip_line(fmt, module, tmp_path, monkeypatch):
    import importlib

    monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setitem(sys.modules, f"{module}.exir", None) if module == "executorch" else None
    mod, fn, _, suffix = TARGETS[fmt]
    with pytest.raises(BackendUnavailable, match=rf"pip install 'edgekit\[{fmt}\]'"):
        getattr(importlib.import_module(f"edgekit.export.{mod}"), fn)(load_model("mlp"), tmp_path / f"m{suffix}")


@pytest.mark.parametrize("fmt", list(TARGETS))
def test_a_relative_output_folder_works(fmt, tmp_path, monkeypatch):
    """`edgekit pipeline cnn -o runs/cnn` passes a relative path (pnnx runs from inside its folder: it broke)."""
    import importlib

    mod, fn, _backend, suffix = TARGETS[fmt]
    pytest.importorskip({"openvino": "openvino", "executorch": "executorch.runtime", "ncnn": "pnnx"}[fmt])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rel").mkdir()
    details = getattr(importlib.import_module(f"edgekit.export.{mod}"), fn)(load_model("mlp"), Path(f"rel/m{suffix}"))
    assert (tmp_path / "rel" / f"m{suffix}").is_file()
    assert all((tmp_path / "rel" / c).is_file() for c in details.get("companions", []))
