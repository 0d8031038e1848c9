import numpy as np
import pytest

from edgekit.core.errors import BadInput
from edgekit.core.spec import InputSpec, apply_dynamic, parse_input, random_inputs, shape_plan


def test_parse_input_forms():
    assert parse_input("x:1x3x32x32") == InputSpec("x", (1, 3, 32, 32), "float32", (0,))
    assert parse_input("ids:1x20:int64") == InputSpec("ids", (1, 20), "int64", (0,))
    assert parse_input("x:4x8", static=True).dynamic == ()


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ("x", "expected NAME:DIMS"),
        ("x:1xa", "not integers"),
        ("x:0x3", ">= 1"),
        ("x:1x3:flaot32", "float32"),
        (":1x3", "expected NAME:DIMS"),
        ("x:1:float32:extra", "expected NAME:DIMS"),
    ],
)
def test_parse_input_errors_say_the_fix(bad, fragment):
    with pytest.raises(BadInput, match=fragment):
        parse_input(bad)


def test_apply_dynamic_marks_axes_and_rejects_unknown_names():
    specs = [InputSpec("x", (1, 8, 8))]
    assert apply_dynamic(specs, ["x:1"])[0].dynamic == (0, 1)
    assert apply_dynamic(specs, ["x:-1"], static=True)[0].dynamic == (2,)
    with pytest.raises(BadInput, match="no input named 'y'"):
        apply_dynamic(specs, ["y:1"])
    with pytest.raises(BadInput, match="out of range"):
        apply_dynamic(specs, ["x:3"])


def test_shape_plan_covers_two_other_sizes_per_dynamic_dimension():
    specs = [InputSpec("x", (1, 8, 8), dynamic=(0, 1)), InputSpec("m", (1, 4))]
    plan = shape_plan(specs)
    assert plan[0] == {}
    batch = [p for p in plan if "m" in p]
    assert {p["x"][0] for p in batch} == {2, 5} and all(p["m"][0] == p["x"][0] for p in batch)
    time = [p for p in plan if "x" in p and 1 in p["x"]]
    assert {p["x"][1] for p in time} == {1, 11}
    assert len(plan) == 5


def test_random_inputs_respect_dtype_range_and_sizes():
    specs = [InputSpec("ids", (2, 5), "int64", low=3, high=7), InputSpec("x", (2, 4))]
    feed = random_inputs(specs, {"ids": {1: 9}}, seed=1)
    assert feed["ids"].dtype == np.int64 and feed["ids"].shape == (2, 9)
    assert feed["ids"].min() >= 3 and feed["ids"].max() < 7
    assert feed["x"].dtype == np.float32
    again = random_inputs(specs, {"ids": {1: 9}}, seed=1)
    assert np.array_equal(feed["x"], again["x"])
