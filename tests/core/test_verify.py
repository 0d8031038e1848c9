import numpy as np

from edgekit.artifacts.verify import compare_arrays, verify_runner
from edgekit.backends.torch_runner import EagerRunner, ModuleFromModel
from edgekit.intake.load import load_model


def test_compare_arrays_metrics():
    ref = np.array([1.0, -2.0, 4.0], np.float32)
    ok = compare_arrays("y", ref + 1e-6, ref, atol=1e-5, rtol=0)
    assert ok.passed and ok.max_abs < 2e-6 and ok.cosine > 0.999999
    bad = compare_arrays("y", ref * np.array([1, 1, 1.1], np.float32), ref, atol=1e-3, rtol=1e-3)
    assert not bad.passed and abs(bad.max_abs - 0.4) < 1e-5 and abs(bad.max_rel - 0.1) < 1e-5
    shape = compare_arrays("y", ref[:2], ref, 1, 1)
    assert not shape.passed and "shape" in shape.note
    nan = compare_arrays("y", ref * np.nan, ref, 1, 1)
    assert not nan.passed and "non-finite" in nan.note


def test_eager_against_itself_passes_at_every_planned_shape():
    m = load_model("lstm")
    with EagerRunner(ModuleFromModel(m)) as runner:
        v = verify_runner(m, runner, "eager", "eager", samples=2)
    assert v.passed and v.status == "pass"
    labels = {c.label.split("#")[0] for c in v.checks}
    assert labels == {"example", "batch=2", "batch=5", "x_axis1=4", "x_axis1=12"}


def test_nondeterministic_model_is_reported_as_such(user_models):
    m = load_model(f"{user_models}:noisy", inputs=["x:1x4"])
    with EagerRunner(ModuleFromModel(m)) as runner:
        v = verify_runner(m, runner, "eager", "eager")
    assert v.nondeterministic and v.status == "nondeterministic" and not v.passed


PAIRED = '''
import torch
from torch import nn


class Paired(nn.Module):
    """ids and mask must have one length (as every transformers text model's do)."""

    def forward(self, ids, mask):
        return (ids.float() * mask).sum(1, keepdim=True)


def paired():
    return Paired()
'''


def test_eager_failure_names_the_varied_dim_and_suggests_the_link(tmp_path):
    import pytest

    from edgekit.core.errors import BadInput

    (tmp_path / "paired.py").write_text(PAIRED)
    m = load_model(
        f"{tmp_path / 'paired.py'}:paired",
        inputs=["ids:1x16:int64", "mask:1x16:float32"],
        dynamic=["ids:1=a", "mask:1=b"],  # named apart: edgekit must not link them
    )
    with (
        EagerRunner(ModuleFromModel(m), inputs=m.input_names, outputs=m.outputs) as runner,
        pytest.raises(BadInput) as info,
    ):
        verify_runner(m, runner, "eager", "eager")
    text = str(info.value)
    assert "dim 'a' = ids:1 set to 8" in text
    assert "link them: --dynamic ids:1=NAME --dynamic mask:1=NAME" in text and "MIN-MAX" in text


def test_unnamed_equal_axes_are_verified_linked_with_a_note(tmp_path):
    (tmp_path / "paired.py").write_text(PAIRED)
    m = load_model(
        f"{tmp_path / 'paired.py'}:paired", inputs=["ids:1x16:int64", "mask:1x16:float32"], dynamic=["ids:1", "mask:1"]
    )
    with EagerRunner(ModuleFromModel(m), inputs=m.input_names, outputs=m.outputs) as runner:
        v = verify_runner(m, runner, "eager", "eager")
    assert v.passed and "ids:1, mask:1 have no dim name and equal example sizes (16)" in v.details["notes"][0]
