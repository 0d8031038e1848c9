"""Optimization profiles: trtexec's NAME:DIMS specs, defaults from input specs, validation and its messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgekit.backends.trt.profiles import (
    ShapeRange,
    broadcast_range,
    check_shape,
    default_range,
    derive_profile,
    describe_profile,
    format_dims,
    parse_shape_specs,
    profile_from_json,
    profile_to_json,
    specs_from_onnx,
)
from edgekit.core.errors import BadInput
from edgekit.core.spec import InputSpec, shape_plan

IMG = InputSpec("x", (1, 3, 32, 32))
SEQ = InputSpec("ids", (2, 20), "int64", dynamic=(0, 1))


def test_parse_single_repeated_and_comma_separated() -> None:
    got = parse_shape_specs(["x:1x3x32x32", "ids:4x20,mask:4x20"])
    assert got == {"x": (1, 3, 32, 32), "ids": (4, 20), "mask": (4, 20)}


def test_parse_quoted_name_with_colon_and_scalar() -> None:
    assert parse_shape_specs(["'input:0':1x3,s:scalar,t:"]) == {"input:0": (1, 3), "s": (), "t": ()}


@pytest.mark.parametrize(
    "bad, words",
    [
        ("x1x3", "no ':'"),
        ("x:1xAx3", "not integers"),
        ("x:0x3", ">= 1"),
        ("x:-1x3", ">= 1"),
        (":1x3", "empty input name"),
        ("'x:1x3", "unbalanced quote"),
    ],
)
def test_parse_errors_say_what_and_the_form(bad: str, words: str) -> None:
    with pytest.raises(BadInput) as exc:
        parse_shape_specs([bad], "--min-shape")
    assert words in str(exc.value) and "bad --min-shape" in str(exc.value)


def test_parse_rejects_conflicting_duplicates() -> None:
    with pytest.raises(BadInput, match="twice"):
        parse_shape_specs(["x:1x3", "x:2x3"])
    assert parse_shape_specs(["x:1x3", "x:1x3"]) == {"x": (1, 3)}


def test_default_range_batch_and_other_dynamic_axes() -> None:
    assert default_range(IMG) == ShapeRange((1, 3, 32, 32), (1, 3, 32, 32), (8, 3, 32, 32))
    assert default_range(SEQ) == ShapeRange((1, 1), (2, 20), (8, 40))
    assert default_range(InputSpec("z", (4, 7), dynamic=())) == ShapeRange((4, 7), (4, 7), (4, 7))
    assert default_range(InputSpec("b", (16, 3))).max == (64, 3)


@pytest.mark.parametrize(
    "spec", [IMG, SEQ, InputSpec("t", (3, 5, 8), dynamic=(0, 1)), InputSpec("u", (1, 1), dynamic=(0, 1))]
)
def test_default_range_covers_every_verification_shape(spec: InputSpec) -> None:
    rng = default_range(spec)
    for sizes in shape_plan([spec]):
        shape = spec.with_sizes(sizes.get(spec.name, {})).shape
        assert rng.contains(shape), (shape, rng)


def test_trtexec_broadcasting() -> None:
    assert broadcast_range({"opt": (4, 3)}) == ShapeRange((4, 3), (4, 3), (4, 3))
    assert broadcast_range({"min": (1, 3), "max": (8, 3)}) == ShapeRange((1, 3), (8, 3), (8, 3))
    assert broadcast_range({"min": (2, 3)}) == ShapeRange((2, 3), (2, 3), (2, 3))
    assert broadcast_range({"max": (8, 3)}) == ShapeRange((8, 3), (8, 3), (8, 3))
    assert broadcast_range({"min": (1, 3), "opt": (2, 3)}) == ShapeRange((1, 3), (2, 3), (2, 3))


def test_derive_profile_mixes_user_ranges_and_defaults() -> None:
    prof = derive_profile([IMG, SEQ], min_shapes=["ids:1x5"], opt_shapes=["ids:4x20"], max_shapes=["ids:16x64"])
    assert prof["ids"] == ShapeRange((1, 5), (4, 20), (16, 64))
    assert prof["x"] == default_range(IMG)
    assert list(prof) == ["x", "ids"]


def test_unknown_input_name_suggests_the_closest() -> None:
    with pytest.raises(BadInput) as exc:
        derive_profile([IMG], opt_shapes=["xx:1x3x32x32"])
    assert "--opt-shape names input 'xx'" in str(exc.value) and "Did you mean 'x'?" in str(exc.value)


def test_min_greater_than_opt_names_input_axis_and_range() -> None:
    with pytest.raises(BadInput) as exc:
        derive_profile([IMG], min_shapes=["x:4x3x32x32"], opt_shapes=["x:2x3x32x32"], max_shapes=["x:8x3x32x32"])
    msg = str(exc.value)
    assert "input 'x'" in msg and "axis 0" in msg and "min 4x3x32x32, opt 2x3x32x32, max 8x3x32x32" in msg


def test_static_axis_change_is_refused_with_the_fix() -> None:
    with pytest.raises(BadInput) as exc:
        derive_profile([IMG], max_shapes=["x:8x3x64x64"], min_shapes=["x:1x3x32x32"], opt_shapes=["x:1x3x32x32"])
    msg = str(exc.value)
    assert "static axis 2 from 32 to 64" in msg and "--dynamic x:2" in msg


def test_rank_mismatch() -> None:
    with pytest.raises(BadInput, match="rank 2"):
        derive_profile([IMG], opt_shapes=["x:1x3"])


def test_check_shape_messages_name_the_range_and_the_fix() -> None:
    rng = default_range(IMG)
    check_shape("x", (8, 3, 32, 32), rng)
    with pytest.raises(BadInput) as exc:
        check_shape("x", (16, 3, 32, 32), rng)
    msg = str(exc.value)
    assert "input 'x' has shape 16x3x32x32" in msg and "max 8x3x32x32" in msg
    assert "--max-shape x:16x3x32x32" in msg
    with pytest.raises(BadInput, match="--min-shape"):
        check_shape("ids", (1, 2), ShapeRange((2, 2), (2, 2), (4, 2)))
    with pytest.raises(BadInput, match="expected rank 4"):
        check_shape("x", (1, 3, 32), rng)


def test_json_round_trip_and_description() -> None:
    prof = derive_profile([IMG, SEQ])
    assert profile_from_json(profile_to_json(prof)) == prof
    assert describe_profile(prof).startswith("x: min 1x3x32x32, opt 1x3x32x32, max 8x3x32x32; ids: ")
    assert format_dims(()) == "scalar"


def test_specs_from_onnx_batch_default(tmp_path: Path, make_onnx: Any) -> None:
    path = make_onnx(tmp_path / "m.onnx")
    (spec,) = specs_from_onnx(path)
    assert (spec.name, spec.shape, spec.dynamic, spec.dtype) == ("x", (1, 3), (0,), "float32")
    assert derive_profile([spec])["x"] == ShapeRange((1, 3), (1, 3), (8, 3))


def test_specs_from_onnx_uses_user_shapes_and_checks_static_axes(tmp_path: Path, make_onnx: Any) -> None:
    path = make_onnx(tmp_path / "m.onnx")
    (spec,) = specs_from_onnx(path, opt_shapes=["x:4x3"])
    assert spec.shape == (4, 3)
    with pytest.raises(BadInput, match="changes static axis 1"):
        specs_from_onnx(path, opt_shapes=["x:4x5"])
    static = make_onnx(tmp_path / "s.onnx", dynamic=False)
    (fixed,) = specs_from_onnx(static)
    assert fixed.dynamic == () and derive_profile([fixed])["x"] == ShapeRange((2, 3), (2, 3), (2, 3))


def test_specs_from_onnx_needs_a_size_for_non_batch_dynamic_axes(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", "T"])
    y = helper.make_tensor_value_info("y", TensorProto.INT64, ["N", "T"])
    model = helper.make_model(
        helper.make_graph([helper.make_node("Identity", ["ids"], ["y"])], "g", [x], [y]),
        opset_imports=[helper.make_opsetid("", 18)],
    )
    onnx.save(model, str(tmp_path / "seq.onnx"))
    with pytest.raises(BadInput) as exc:
        specs_from_onnx(tmp_path / "seq.onnx")
    assert "dynamic axis 1" in str(exc.value) and "--opt-shape ids:1x1" in str(exc.value)
    (spec,) = specs_from_onnx(tmp_path / "seq.onnx", max_shapes=["ids:8x64"], min_shapes=["ids:1x1"])
    assert spec.shape == (8, 64) and spec.dtype == "int64"


def test_specs_from_onnx_bad_file(tmp_path: Path) -> None:
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(BadInput, match="cannot read ONNX"):
        specs_from_onnx(tmp_path / "junk.onnx")


def test_align_with_onnx_reports_frozen_axes(tmp_path: Path, make_onnx: Any) -> None:
    from edgekit.backends.trt.profiles import align_with_onnx

    spec = InputSpec("x", (1, 3))
    same, frozen = align_with_onnx([spec], make_onnx(tmp_path / "d.onnx"))
    assert same == [spec] and frozen == []
    (fixed,), frozen = align_with_onnx([spec], make_onnx(tmp_path / "s.onnx", dynamic=False))
    assert frozen == ["x:0"] and fixed.shape == (2, 3) and fixed.dynamic == ()


def test_default_range_takes_a_declared_range_shared_by_its_dim():
    from edgekit.core.spec import apply_dynamic

    specs = apply_dynamic(
        [InputSpec("ids", (1, 16), "int64"), InputSpec("mask", (1, 16), "int64")], ["ids:1=seq:4-64", "mask:1=seq"]
    )
    for spec in specs:
        rng = default_range(spec)
        assert (rng.min[1], rng.opt[1], rng.max[1]) == (4, 16, 64) and rng.min[0] == 1
    wav = apply_dynamic([InputSpec("w", (1, 4000))], ["w:1=samples:400-"])[0]
    assert default_range(wav).min[1] == 400 and default_range(wav).max[1] == 8000  # open max: the default one
