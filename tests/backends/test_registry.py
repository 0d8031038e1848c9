"""The registry and format tables agree with each other, and every row's references resolve (GPU-free)."""

from __future__ import annotations

import inspect

import pytest

from edgekit.artifacts.formats import FORMATS
from edgekit.backends.base import Runner
from edgekit.backends.registry import BACKENDS, EAGER, create_runner, ranked
from edgekit.core.errors import BadInput


def test_every_row_names_formats_of_the_format_table() -> None:
    for row in BACKENDS.values():
        unknown = [f for f in row.formats if f != EAGER and f not in FORMATS]
        assert not unknown, f"{row.name} declares formats {unknown} that artifacts.formats.FORMATS does not have"


def test_every_format_is_verified_by_a_backend_that_declares_it() -> None:
    for fmt in FORMATS.values():
        assert fmt.backend in BACKENDS, f"format {fmt.name}: unknown verifying backend {fmt.backend}"
        assert fmt.name in BACKENDS[fmt.backend].formats, f"{fmt.backend} does not declare format {fmt.name}"


def test_rows_resolve_and_follow_one_constructor_contract() -> None:
    for row in BACKENDS.values():
        cls = row.runner_cls()
        assert issubclass(cls, Runner) and cls.backend == row.name
        params = inspect.signature(cls.__init__).parameters
        assert list(params)[:2] == ["self", "loader"], f"{row.name}: {list(params)}"
        assert {"device", "threads", "inputs", "outputs"} <= set(params)
        assert not any(p.kind is p.VAR_KEYWORD for p in params.values()), f"{row.name} swallows **kwargs"
        loader = inspect.signature(row.loader_fn()).parameters
        assert {"device", "threads"} <= set(loader), f"{row.name}'s loader: {list(loader)}"
        assert callable(row.unavailable_reason)
        assert set(row.devices) <= {"cpu", "cuda"} and "fp32" in row.precisions


def test_ranks_are_unique_and_eager_is_first() -> None:
    ranks = [r.rank for r in BACKENDS.values()]
    assert len(set(ranks)) == len(ranks)
    assert ranked()[0].name == "torch"


def test_create_runner_refuses_an_undeclared_option() -> None:
    with pytest.raises(BadInput, match=r"onnxruntime does not take option\(s\) \['precision'\]; it accepts: none"):
        create_runner("onnxruntime", "m.onnx", precision="fp16")
    with pytest.raises(BadInput, match="accepts: precision, precision_mode"):
        create_runner("torch-cudagraph", object(), device="cuda", graphs=3)
