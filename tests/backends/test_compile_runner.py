"""torch.compile as a row: compiled once per shape (timed apart), then matching eager."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.backends.registry import create_runner
from edgekit.core.errors import BadInput
from edgekit.core.spec import random_inputs
from edgekit.intake.load import load_model


def test_bad_mode_is_refused_before_compiling():
    with pytest.raises(BadInput, match="mode"):
        create_runner("torch-compile", load_model("mlp"), mode="fastest")


@pytest.mark.slow
def test_compiled_mlp_matches_eager_and_reports_compile_time():
    model = load_model("mlp")
    runner = create_runner("torch-compile", model, inputs=model.input_names, outputs=model.outputs)
    with runner:
        feed = random_inputs(model.inputs, {"x": {0: 4}})
        np.testing.assert_allclose(runner.infer(feed)["logits"], model.predict(feed)["logits"], atol=1e-5)
        fn = runner.timed_call(feed)
        with runner.timing_context():
            fn()
    assert list(runner.details["compile_s"]) == ["4x64"] and runner.details["compile_s"]["4x64"] > 0
    assert runner.details["backend"] == "inductor"
