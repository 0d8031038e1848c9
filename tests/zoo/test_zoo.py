"""The model zoo (tests/zoo/models.py) through every format, as a user's ``export MODEL.py:FACTORY --input ...
--dynamic ...`` would go: ``slow`` for the whole zoo, a couple of quick ones in the default suite.
``benchmarks/zoo_table.py`` writes the table from the same entries."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from edgekit.artifacts.formats import parse_formats
from edgekit.export.driver import export_all
from edgekit.intake.load import load_model

MODELS_PY = Path(__file__).with_name("models.py")
_spec = importlib.util.spec_from_file_location("edgekit_zoo_models", MODELS_PY)
assert _spec is not None and _spec.loader is not None
zoo: Any = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = zoo  # dataclasses look their module up while the file runs
_spec.loader.exec_module(zoo)

pytest.importorskip("transformers", reason="the zoo builds its models from transformers configs")

ALL_FORMATS = "torchscript,pt2,onnx,aoti"
QUICK_FORMATS = "torchscript,pt2,onnx"  # aoti's C++ compile takes ~30 s a model: slow suite only


def export_entry(entry: Any, formats: str, out: Path) -> list[Any]:
    model = load_model(f"{MODELS_PY}:{entry.ref_factory}", inputs=entry.inputs, dynamic=entry.dynamic)
    return export_all(model, parse_formats(formats), out)


def check(entry: Any, results: list[Any]) -> None:
    """Every format verified at every size of its plan, or refused with the one-line error the entry expects."""
    expected = dict(entry.expect_error)
    for r in results:
        if r.format in expected:
            assert r.error is not None and expected[r.format] in str(r.error), (r.format, r.error)
            assert "\n" not in str(r.error) and "Traceback" not in str(r.error)
            continue
        assert r.error is None, f"{entry.name} / {r.format}: {r.error}"
        assert r.verification.passed, f"{entry.name} / {r.format}: {r.verification.failures()[:3]}"
        sizes = {c.label for c in r.verification.checks}
        assert "example" in sizes and len(sizes) >= 3, sizes  # the example and other sizes of every dim


@pytest.mark.parametrize("entry", [z for z in zoo.ZOO if z.fast], ids=lambda z: z.name)
def test_quick_zoo_models_export_and_verify(entry: Any, tmp_path: Path) -> None:
    check(entry, export_entry(entry, QUICK_FORMATS, tmp_path))


def test_unnamed_ids_and_mask_are_linked_and_varied_together(tmp_path: Path) -> None:
    """The issue's failing command: ``--dynamic input_ids:1 --dynamic attention_mask:1`` with nothing named."""
    entry = zoo.by_name("bert_unnamed")
    [result] = export_entry(entry, "onnx", tmp_path)
    v = result.verification
    assert v.passed, v.failures()
    assert "input_ids:1, attention_mask:1" in v.details["notes"][0]
    varied = [c for c in v.checks if c.label.startswith("input_ids_axis1=")]
    assert len(varied) == 2 and all(c.shapes["input_ids"] == c.shapes["attention_mask"] for c in varied)
    assert all(c.shapes["input_ids"][1] > 1 for c in varied)


def test_a_named_seq_dim_is_one_onnx_dim_name(tmp_path: Path) -> None:
    import onnx

    [result] = export_entry(zoo.by_name("bert"), "onnx", tmp_path)
    assert result.verification.passed, result.verification.failures()
    graph = onnx.load(str(result.path)).graph
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert dims == {"input_ids": ["batch", "seq"], "attention_mask": ["batch", "seq"]}


@pytest.mark.slow
@pytest.mark.parametrize("entry", list(zoo.ZOO), ids=lambda z: z.name)
def test_every_zoo_model_in_every_format(entry: Any, tmp_path: Path) -> None:
    check(entry, export_entry(entry, ALL_FORMATS, tmp_path))
