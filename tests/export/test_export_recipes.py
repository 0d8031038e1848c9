"""Every recipe through every format, verified against eager at several sizes per dynamic axis, from a checkpoint
trained for one epoch (so the weights are not the initialisation)."""

from __future__ import annotations

import json

import pytest

from edgekit.artifacts.formats import parse_formats
from edgekit.export.driver import export_all
from edgekit.intake.load import load_model
from edgekit.training.recipe import get_recipe, recipe_names
from edgekit.training.train import save_checkpoint, train_recipe


@pytest.mark.parametrize("name", recipe_names())
def test_recipe_exports_and_verifies_in_every_format(name, tmp_path):
    recipe = get_recipe(name)
    model, _ = train_recipe(recipe, epochs=1)
    ckpt = tmp_path / "ckpt.pt"
    save_checkpoint(model, ckpt, recipe, {})
    loaded = load_model(name, checkpoint=ckpt)
    results = export_all(loaded, parse_formats("torchscript,pt2,onnx"), tmp_path / "out")
    for r in results:
        assert r.error is None, f"{name} {r.format}: {r.error}"
        assert r.verification is not None and r.verification.passed, (name, r.format, r.verification.failures())
        # the example shape plus two other sizes on every dynamic axis the artifact keeps
        dynamic = sum(len(s.dynamic) for s in loaded.inputs) - len(r.details.get("frozen_axes", []))
        assert len(r.verification.checks) >= 1 + 2 * min(dynamic, 1)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [a["format"] for a in manifest["artifacts"]] == ["torchscript", "pt2", "onnx"]
    assert all(len(a["sha256"]) == 64 for a in manifest["artifacts"])
    onnx_entry = manifest["artifacts"][2]
    assert onnx_entry["details"]["exporter"] in ("dynamo", "legacy") and onnx_entry["details"]["opset"] <= 20
    assert {"torch", "onnx", "onnxruntime", "edgekit"} <= set(manifest["versions"])
    assert manifest["inputs"][0]["dynamic_axes"][0] == 0


def test_onnx_keeps_every_declared_dynamic_axis_of_sequence_models(tmp_path):
    """TRAPS.md: dynamo freezes nn.RNN's time axis; the ONNX file must still accept other lengths."""
    loaded = load_model("rnn")
    [result] = export_all(loaded, parse_formats("onnx"), tmp_path)
    assert result.verification.passed
    labels = {c.label for c in result.verification.checks}
    assert {"x_axis1=4", "x_axis1=12"} <= labels, labels
