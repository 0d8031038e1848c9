"""Every recipe in each edge format: exports and verifies, or fails with one line naming the operator (slow)."""

from __future__ import annotations

import pytest

from edgekit.artifacts.formats import parse_formats
from edgekit.export.driver import export_all
from edgekit.intake.load import load_model
from edgekit.training.recipe import recipe_names

# What this machine showed (torch 2.13.0 CPU; openvino 2026.4.1, executorch 1.5.1, pnnx/ncnn 20261020):
# every recipe passes in every edge format except these, which must fail with the operator and its module.
EXPECTED_FAILURES = {("defect", "executorch"): ("aten.adaptive_max_pool2d", "AdaptiveMaxPool2d")}


@pytest.mark.slow
@pytest.mark.parametrize("name", recipe_names())
def test_recipe_in_every_edge_format(name, tmp_path):
    pytest.importorskip("openvino")
    pytest.importorskip("executorch.runtime")
    pytest.importorskip("pnnx")
    results = export_all(load_model(name), parse_formats("openvino,executorch,ncnn"), tmp_path)
    for r in results:
        expected = EXPECTED_FAILURES.get((name, r.format))
        if expected:
            assert r.error is not None and all(w in str(r.error) for w in expected), (name, r.format, r.error)
            assert "\n" not in str(r.error)
            continue
        assert r.error is None, f"{name} {r.format}: {r.error}"
        assert r.verification is not None and r.verification.passed, (name, r.format, r.verification.failures())
