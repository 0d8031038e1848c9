"""ExecuTorch INT8: XNNPACKQuantizer on edgekit's pt2e flow, lowered to an int8 .pte that matches its torch
reference."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.backends.registry import create_runner
from edgekit.core.spec import random_inputs
from edgekit.intake.load import load_model


@pytest.mark.slow
def test_xnnpack_ptq_pte_matches_the_int8_reference(tmp_path):
    pytest.importorskip("executorch.runtime")
    from edgekit.quant.xnnpack import calibrate_xnnpack, export_executorch_int8

    model = load_model("cnn")
    qmodel = calibrate_xnnpack(model, [random_inputs(model.inputs, {"x": {0: 32}}, i) for i in range(2)])
    details = export_executorch_int8(qmodel, tmp_path / "cnn.int8.pte")
    assert details["precision"] == "int8" and details["xnnpack_delegates"] >= 1
    runner = create_runner("executorch", str(tmp_path / "cnn.int8.pte"), inputs=["x"], outputs=["logits"])
    with runner:
        for batch in (1, 8):
            feed = random_inputs(model.inputs, {"x": {0: batch}}, 5)
            got, ref = runner.infer(feed)["logits"], qmodel.predict(feed)["logits"]
            assert np.abs(got - ref).max() < 0.05 * max(np.abs(ref).max(), 1e-6)  # int8 rounding, not a bug
