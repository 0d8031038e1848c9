"""``edgekit debug`` on planted faults: every test asserts the exact module named."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgekit.backends.precision import TOLERANCES
from edgekit.debug.capture import capture_modules
from edgekit.debug.run import debug_artifact
from edgekit.intake.load import load_model
from tests.debug.conftest import perturb_initializer

FAST_RECIPES = ("mlp", "cnn", "rnn")  # dynamo with a fused Conv+BN, and the legacy exporter (rnn)
ALL_RECIPES = (
    "autoencoder",
    "cnn",
    "dcgan",
    "defect",
    "denoise",
    "gan",
    "gru",
    "lstm",
    "mlp",
    "rnn",
    "transformer",
    "vae",
)
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[object, Path]]:
    """Each recipe (random weights) exported to ONNX once, lazily."""
    from edgekit.export.onnx import export_onnx

    folder = tmp_path_factory.mktemp("debug exports")
    cache: dict[str, tuple[object, Path]] = {}

    class Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, name: str) -> tuple[object, Path]:
            model = load_model(name)
            path = folder / f"{name}.onnx"
            export_onnx(model, path)
            self[name] = (model, path)
            return self[name]

    return Lazy(cache)


def _ran(model: object, owner: str) -> str:
    """``owner``, or its nearest ancestor that eager actually called (MultiheadAttention uses out_proj's weight
    without calling out_proj)."""
    from edgekit.core.spec import random_inputs

    calls = capture_modules(model.module, model.tensors(random_inputs(model.inputs)))  # type: ignore[attr-defined]
    while owner not in calls and "." in owner:
        owner = owner.rsplit(".", 1)[0]
    return owner


def _planted(exports: dict, recipe: str, seed: int, tmp_path: Path) -> None:  # type: ignore[type-arg]
    model, path = exports[recipe]
    modules = {p for p, _ in model.module.named_modules() if p}
    bad = tmp_path / f"{recipe}.{seed}.onnx"
    name, owner = perturb_initializer(path, bad, seed, modules)
    report = debug_artifact(model, bad)  # type: ignore[arg-type]
    assert report.culprit is not None, f"{recipe}: perturbing {name} went unnoticed"
    assert report.culprit.path == _ran(model, owner), f"{recipe}: {name} belongs to {owner}"


@pytest.mark.parametrize("recipe", FAST_RECIPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_perturbed_initializer_names_its_module(exports: dict, recipe: str, seed: int, tmp_path: Path) -> None:  # type: ignore[type-arg]
    _planted(exports, recipe, seed, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ALL_RECIPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_perturbed_initializer_every_recipe(exports: dict, recipe: str, seed: int, tmp_path: Path) -> None:  # type: ignore[type-arg]
    _planted(exports, recipe, seed, tmp_path)


def test_clean_export_agrees_everywhere(exports: dict) -> None:  # type: ignore[type-arg]
    model, path = exports["cnn"]
    report = debug_artifact(model, path)  # type: ignore[arg-type]
    assert report.culprit is None and report.output_passed
    compared = [r for r in report.rows if r.compared]
    assert len(compared) >= 8 and all(r.passed for r in compared)
    fused = {r.path for r in report.rows if not r.compared}
    assert "module.0" in fused  # Conv folded into the BatchNorm's node by the optimizer


def test_fused_conv_is_named_by_its_weight(exports: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    """The exporter fused Conv+BN into one node scoped to the BatchNorm: the conv's perturbed weight still
    names the conv, with file:line of nn.Conv2d and the node it became."""
    import onnx
    from onnx import numpy_helper

    model, path = exports["cnn"]
    proto = onnx.load(str(path))
    init = next(t for t in proto.graph.initializer if t.name == "module.0.weight")
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 2, init.name))
    bad = tmp_path / "cnn.conv.onnx"
    onnx.save(proto, str(bad))
    c = debug_artifact(model, bad).culprit  # type: ignore[arg-type]
    assert c is not None and c.path == "module.0" and c.cls == "Conv2d"
    assert c.source.endswith(f"conv.py:{__import__('inspect').getsourcelines(torch.nn.Conv2d)[1]}")
    assert any("Conv" in n for n in c.region) and "module.0.weight" in c.reason


def test_wrong_symbolic_names_the_function_module(faulty_models: Path, tmp_path: Path) -> None:
    """A custom autograd Function whose ONNX symbolic drops the multiplication (legacy exporter: dynamo traces
    through Functions and ignores symbolics)."""
    from edgekit.export.onnx import _legacy

    model = load_model(f"{faulty_models}:wrong_symbolic", inputs=["x:2x6"])
    path = tmp_path / "swish.onnx"
    _legacy(model, path, 18)
    report = debug_artifact(model, path)
    assert report.culprit is not None
    assert (report.culprit.path, report.culprit.cls) == ("module.act", "Swish")
    line = faulty_models.read_text().splitlines().index("class Swish(nn.Module):") + 1
    assert report.culprit.source == f"{faulty_models}:{line}"
    rows = {r.path: r for r in report.rows}
    assert rows["module.fc1"].passed and not rows["module.act"].passed


def test_pt2_and_torchscript_name_the_changed_module(tmp_path: Path) -> None:
    from edgekit.export.pt2 import export_pt2
    from edgekit.export.torchscript import export_torchscript

    model = load_model("mlp")
    export_pt2(model, tmp_path / "m.pt2")
    ep = torch.export.load(str(tmp_path / "m.pt2"))
    with torch.no_grad():
        ep.state_dict["module.3.weight"].mul_(1.5)
    torch.export.save(ep, str(tmp_path / "bad.pt2"))
    assert debug_artifact(model, tmp_path / "m.pt2").culprit is None
    c = debug_artifact(model, tmp_path / "bad.pt2").culprit
    assert c is not None and c.path == "module.3"

    export_torchscript(model, tmp_path / "m.ts")
    ts = torch.jit.load(str(tmp_path / "m.ts"))
    with torch.no_grad():
        dict(ts.named_modules())["module.5"].weight.mul_(1.5)
    torch.jit.save(ts, str(tmp_path / "bad.ts"))
    assert debug_artifact(model, tmp_path / "m.ts").culprit is None
    c = debug_artifact(model, tmp_path / "bad.ts").culprit
    assert c is not None and c.path == "module.5"


def test_engine_is_refused_with_the_reason(tmp_path: Path) -> None:
    from edgekit.core.errors import BadInput

    engine = tmp_path / "m.engine"
    engine.write_bytes(b"not an engine")
    with pytest.raises(BadInput, match="mark_output"):
        debug_artifact(load_model("mlp"), engine)


@pytest.fixture(scope="module")
def int8_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object, Path, Path, dict]:  # type: ignore[type-arg]
    """The mlp quantized (PTQ min/max on random batches) and written in both INT8 encodings."""
    from edgekit.core.spec import random_inputs
    from edgekit.quant.onnx_int8 import export_qdq, make_ort_encoding
    from edgekit.quant.ptq import calibrate

    model = load_model("mlp")
    batches = [random_inputs(model.inputs, {"x": {0: 32}}, i) for i in range(4)]
    qmodel = calibrate(model, batches, "minmax")
    folder = tmp_path_factory.mktemp("int8")
    trt, ort = folder / "m.int8.trt.onnx", folder / "m.int8.ort.onnx"
    export_qdq(qmodel.model, trt)
    make_ort_encoding(trt, ort, batches)
    return model, qmodel.model, trt, ort, batches[0]


@pytest.mark.parametrize("encoding", ["trt", "ort"])
def test_int8_encodings_agree_with_the_qdq_reference_and_name_a_perturbed_scale(
    int8_files: tuple,
    encoding: str,
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    model, reference, trt, ort, feed = int8_files
    path = trt if encoding == "trt" else ort
    clean = debug_artifact(model, path, reference=reference, feeds=[feed])
    assert clean.precision == "int8" and "Q/DQ" in clean.reference
    assert clean.culprit is None and clean.output_passed
    against_fp32 = debug_artifact(model, path, feeds=[feed])
    assert "eager fp32" in against_fp32.reference
    assert against_fp32.tolerance["min_cosine"] == TOLERANCES["int8"].min_cosine  # the one tolerance table
    modules = {p for p, _ in model.module.named_modules() if p}
    for seed in SEEDS:  # weight scales (DequantizeLinear inputs the exporter left unscoped) and biases
        name, owner = perturb_initializer(path, tmp_path / "bad.onnx", seed, modules)
        c = debug_artifact(model, tmp_path / "bad.onnx", reference=reference, feeds=[feed]).culprit
        assert c is not None and c.path == owner, f"{encoding}: {name} belongs to {owner}"
