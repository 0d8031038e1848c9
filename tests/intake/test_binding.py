"""bind(): by name, reordered, keywords after a gap or for keyword-only parameters, positional where naming
cannot be checked, refusals with the signature."""

from __future__ import annotations

from typing import Any

import pytest

from edgekit.core.errors import BadInput
from edgekit.core.spec import InputSpec
from edgekit.intake.binding import bind


def _specs(*names: str) -> list[InputSpec]:
    return [InputSpec(n, (1, 4)) for n in names]


def f_ab(a: Any, b: Any) -> None: ...
def f_gap(a: Any, b: Any = None, c: Any = None) -> None: ...
def f_kw(x: Any, *, mask: Any, scale: Any = None) -> None: ...
def f_args(*inputs: Any) -> None: ...
def f_one(input: Any) -> None: ...


@pytest.mark.parametrize(
    ("fn", "given", "order", "keywords", "mode", "reordered"),
    [
        (f_ab, ("b", "a"), ["a", "b"], [], "by name", True),
        (f_ab, ("a", "b"), ["a", "b"], [], "by name", False),
        (f_gap, ("c", "a"), ["a", "c"], ["c"], "by name", True),
        (f_kw, ("mask", "x"), ["x", "mask"], ["mask"], "by name", True),
        (f_args, ("q", "p"), ["q", "p"], [], "positional", False),
        (f_one, ("x",), ["x"], [], "positional", False),
    ],
)
def test_bind(
    fn: Any, given: tuple[str, ...], order: list[str], keywords: list[str], mode: str, reordered: bool
) -> None:
    b = bind(fn, _specs(*given), "--input")
    assert ([s.name for s in b.specs], b.keywords, b.mode, b.reordered) == (order, keywords, mode, reordered)


def test_declared_recipe_order() -> None:
    b = bind(f_one, _specs("y", "x"), "recipe", declared=["x", "y"])
    assert [s.name for s in b.specs] == ["x", "y"] and b.mode == "declared"


@pytest.mark.parametrize(
    ("fn", "given", "fragment"),
    [
        (f_ab, ("a", "a"), "input 'a' is given twice"),
        (f_ab, ("a", "bb"), "'bb' is not a parameter of forward(a, b)"),
        (f_kw, ("x",), "forward(x, *, mask, scale=...)'s required parameter 'mask'"),
    ],
)
def test_refusals(fn: Any, given: tuple[str, ...], fragment: str) -> None:
    with pytest.raises(BadInput) as info:
        bind(fn, _specs(*given), "--input")
    assert fragment in str(info.value)
