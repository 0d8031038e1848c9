"""Bug class: input binding. Names bind to ``forward``'s parameters by name (reordered, said so, recorded in the
manifest); duplicates, unknown names and missing required ones are refused before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from files_support import cli, leftovers, write_models


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_models(tmp_path_factory.mktemp("binding models"))


# (case id, argv after MODEL, exit code, fragment of the one stderr line)
REFUSED = [
    ("duplicate", ["{m}:pair", "-i", "a:1x4", "-i", "a:1x4"], 2, "input 'a' is given twice"),
    ("unknown-name", ["{m}:pair", "-i", "a:1x4", "-i", "c:1x4"], 2, "'c' is not a parameter of forward(a, b)"),
    ("missing-required", ["{m}:pair", "-i", "b:1x4"], 2, "required parameter 'a'"),
    ("keyword-only-missing", ["{m}:keyword_only", "-i", "x:1x4"], 2, "required parameter 'scale'"),
]


@pytest.mark.parametrize(("case", "argv", "code", "fragment"), REFUSED, ids=[c[0] for c in REFUSED])
def test_bad_binding_is_refused_before_anything_is_written(
    models: Path, tmp_path: Path, case: str, argv: list[str], code: int, fragment: str
) -> None:
    out = tmp_path / "out"
    done = cli("export", *[a.format(m=models) for a in argv], "-o", out, "-f", "onnx", cwd=tmp_path)
    assert done.rc == code, done.stderr
    assert len(done.lines) == 1 and fragment in done.lines[0], done.stderr
    assert not out.exists() and not leftovers(tmp_path)


# (case id, argv after MODEL, the order fed to forward, names passed by keyword)
BOUND = [
    ("swapped-inputs-reordered", ["{m}:pair", "-i", "b:1x4", "-i", "a:1x4"], ["a", "b"], []),
    ("example-inputs-dict-reordered", ["{m}:pair"], ["a", "b"], []),
    ("keyword-only-by-keyword", ["{m}:keyword_only", "-i", "scale:1x4", "-i", "x:1x4"], ["x", "scale"], ["scale"]),
]


@pytest.mark.parametrize(("case", "argv", "order", "keywords"), BOUND, ids=[c[0] for c in BOUND])
def test_inputs_bind_by_name(
    models: Path, tmp_path: Path, case: str, argv: list[str], order: list[str], keywords: list[str]
) -> None:
    out = tmp_path / "out"
    done = cli("export", *[a.format(m=models) for a in argv], "-o", out, "-f", "onnx,pt2", cwd=tmp_path)
    assert done.rc == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    binding = manifest["binding"]
    assert binding["order"] == order and binding["keywords"] == keywords
    assert [i["name"] for i in manifest["inputs"]] == order
    if binding["reordered"]:
        assert len(done.lines) == 1 and "reordered to forward's order" in done.lines[0], done.stderr
    else:
        assert done.lines == [], done.stderr
    assert not leftovers(out)


def test_reordered_onnx_feeds_each_name_to_its_parameter(models: Path, tmp_path: Path) -> None:
    """The file's input named ``a`` is forward's ``a``: fa(a) - 2 fa(b) with b = 0 and a = 0 differ."""
    import onnxruntime as ort
    import torch

    out = tmp_path / "out"
    assert cli("export", f"{models}:pair", "-i", "b:1x4", "-i", "a:1x4", "-o", out, "-f", "onnx").rc == 0
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["a", "b"]
    one, zero = np.ones((1, 4), np.float32), np.zeros((1, 4), np.float32)
    got = session.run(None, {"a": one, "b": zero})[0]
    torch.manual_seed(0)  # edgekit builds factory models under seed 0 (intake.load.INIT_SEED)
    import importlib.util

    spec = importlib.util.spec_from_file_location("user_models_copy", models)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    torch.manual_seed(0)
    eager = module.pair().eval()
    with torch.no_grad():
        want = eager(a=torch.from_numpy(one), b=torch.from_numpy(zero)).numpy()
        swapped = eager(a=torch.from_numpy(zero), b=torch.from_numpy(one)).numpy()
    assert np.allclose(got, want, atol=1e-5) and not np.allclose(got, swapped, atol=1e-3)
