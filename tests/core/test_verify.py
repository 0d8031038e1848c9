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
    assert labels == {"example", "axis0=2", "axis0=5", "axis1=1", "axis1=11"}


def test_nondeterministic_model_is_reported_as_such(user_models):
    m = load_model(f"{user_models}:noisy", inputs=["x:1x4"])
    with EagerRunner(ModuleFromModel(m)) as runner:
        v = verify_runner(m, runner, "eager", "eager")
    assert v.nondeterministic and v.status == "nondeterministic" and not v.passed
