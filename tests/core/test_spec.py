import numpy as np
import pytest

from edgekit.core.errors import BadInput
from edgekit.core.spec import (
    InputSpec,
    apply_dynamic,
    dim_groups,
    dynamic_dims,
    link_notes,
    parse_dynamic,
    parse_input,
    random_inputs,
    shape_plan,
    shape_plan_named,
)


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
    assert {p["x"][1] for p in time} == {4, 12}  # around the example (8), never 1 without a range allowing it
    assert len(plan) == 5


def test_random_inputs_respect_dtype_range_and_sizes():
    specs = [InputSpec("ids", (2, 5), "int64", low=3, high=7), InputSpec("x", (2, 4))]
    feed = random_inputs(specs, {"ids": {1: 9}}, seed=1)
    assert feed["ids"].dtype == np.int64 and feed["ids"].shape == (2, 9)
    assert feed["ids"].min() >= 3 and feed["ids"].max() < 7
    assert feed["x"].dtype == np.float32
    again = random_inputs(specs, {"ids": {1: 9}}, seed=1)
    assert np.array_equal(feed["x"], again["x"])


def test_parse_dynamic_forms():
    assert parse_dynamic("x:1") == parse_dynamic("x:1")
    m = parse_dynamic("input_values:1=samples:400-16000")
    assert (m.input, m.axis, m.dim, m.range) == ("input_values", 1, "samples", (400, 16000))
    assert parse_dynamic("ids:1:2-").range == (2, None)
    for bad in ("x", "x:a", "x:1=9bad", "x:1:5", "x:1:9-3", "x:1=s:0-4", "x:1:a:b"):
        with pytest.raises(BadInput, match="--dynamic"):
            parse_dynamic(bad)


def test_named_axes_form_one_dim_with_one_range_and_vary_together():
    specs = [InputSpec("input_ids", (1, 16), "int64"), InputSpec("attention_mask", (1, 16), "int64")]
    specs = apply_dynamic(specs, ["input_ids:1=seq:4-64", "attention_mask:1=seq"])
    assert specs[1].ranges == {1: (4, 64)}  # the range given once applies to every axis of the dim
    groups = dim_groups(specs)
    assert set(groups) == {"batch", "seq"} and groups["seq"].members == [("input_ids", 1), ("attention_mask", 1)]
    for label, sizes in shape_plan_named(specs)[1:]:
        if label.startswith("seq="):
            assert sizes["input_ids"] == sizes["attention_mask"] and 4 <= sizes["input_ids"][1] <= 64
    seq_sizes = sorted(int(label.split("=")[1]) for label, _ in shape_plan_named(specs) if label.startswith("seq="))
    assert seq_sizes == [4, 8, 24, 64]  # around the example plus the declared ends
    assert specs[0].to_json()["dims"] == {"1": "seq"} and specs[0].to_json()["dynamic_axes"] == [0, 1]
    assert InputSpec.from_json(specs[0].to_json()) == specs[0]


def test_unnamed_equal_axes_are_linked_and_said_so():
    specs = apply_dynamic(
        [InputSpec("input_ids", (1, 16), "int64"), InputSpec("attention_mask", (1, 16), "int64")],
        ["input_ids:1", "attention_mask:1"],
    )
    assert dynamic_dims(specs)["attention_mask"][1] == "input_ids_axis1"
    assert dynamic_dims(specs, link=False)["attention_mask"][1] == "attention_mask_axis1"
    assert "input_ids:1, attention_mask:1" in link_notes(specs)[0]
    for _, sizes in shape_plan_named(specs):
        if "input_ids" in sizes and 1 in sizes["input_ids"]:
            assert sizes["attention_mask"][1] == sizes["input_ids"][1]


def test_ranges_and_sizes_are_checked_at_parse_time():
    with pytest.raises(BadInput, match="elements"):
        parse_input("x:1024x1024x1024x1024")
    with pytest.raises(BadInput, match="example"):
        apply_dynamic([InputSpec("w", (1, 100))], ["w:1:400-16000"])
    with pytest.raises(BadInput, match="sizes differ"):
        apply_dynamic([InputSpec("a", (1, 4)), InputSpec("b", (1, 5))], ["a:1=t", "b:1=t"])
    wav = apply_dynamic([InputSpec("w", (1, 4000))], ["w:1=samples:400-16000"])
    sizes = [int(label.split("=")[1]) for label, _ in shape_plan_named(wav) if label.startswith("samples=")]
    assert min(sizes) == 400 and max(sizes) == 16000


def test_old_manifest_entries_still_read():
    spec = InputSpec.from_json({"name": "x", "shape": [1, 8], "dtype": "float32", "dynamic_axes": [0, 1]})
    assert spec.dynamic == (0, 1) and spec.dims == {} and spec.ranges == {}


def test_replacing_dynamic_drops_the_names_of_axes_made_static():
    import dataclasses

    spec = InputSpec("ids", (1, 16), "int64", (0, 1), dims={1: "seq"}, ranges={1: (4, 64)})
    assert spec.dims == {1: "seq"} and spec.ranges == {1: (4, 64)}
    frozen = dataclasses.replace(spec, dynamic=(0,))
    assert frozen.dynamic == (0,) and frozen.dims == {} and frozen.ranges == {}
    assert InputSpec("x", (1, 8), dims={1: "t"}).dims == {}  # only axes listed in dynamic are named
