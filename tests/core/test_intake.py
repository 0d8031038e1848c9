import pytest
import torch

from edgekit.core.errors import BadInput
from edgekit.intake.load import load_model


def test_factory_with_inputs_multi_input_multi_output(user_models):
    m = load_model(f"{user_models}:two_head", inputs=["image:1x3x16x16", "meta:1x4"])
    assert m.input_names == ["image", "meta"]
    assert m.outputs == ["logits", "feat"]
    assert m.source.startswith("factory:")


def test_factory_example_inputs_named_after_forward(user_models):
    m = load_model(f"{user_models}:two_head")
    assert [(s.name, s.shape) for s in m.inputs] == [("image", (1, 3, 16, 16)), ("meta", (1, 4))]


def test_recipe_by_name_and_path_give_the_same_seeded_weights():
    a, b = load_model("cnn"), load_model("recipes/cnn.py")
    assert a.recipe is not None and a.recipe.name == "cnn"
    for (ka, va), (kb, vb) in zip(a.module.state_dict().items(), b.module.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)


def test_package_module_factory(monkeypatch, user_models):
    monkeypatch.syspath_prepend(str(user_models.parent))
    m = load_model("user_models:tagger", inputs=["ids:2x7:int64"], dynamic=["ids:1"])
    assert m.inputs[0].dtype == "int64" and m.inputs[0].dynamic == (0, 1)


@pytest.mark.parametrize(
    "ref, fragment",
    [
        ("no_such_recipe", "not a recipe"),
        ("missing/file.py:make", "does not exist"),
        ("{models}:nothing_here", "has no callable 'nothing_here'"),
        ("{models}:not_a_module", "returned a int; expected a torch.nn.Module"),
        ("no_such_pkg_xyz:make", "cannot import module"),
        ("missing.pt2", "does not exist"),
    ],
)
def test_bad_model_references(ref, fragment, user_models):
    with pytest.raises(BadInput, match=fragment):
        load_model(ref.format(models=user_models), inputs=["x:1x4"])


def test_inputs_that_do_not_fit_the_model(user_models):
    with pytest.raises(BadInput, match="failed on example inputs"):
        load_model(f"{user_models}:two_head", inputs=["image:1x1x16x16", "meta:1x4"])


def test_torchscript_file_needs_inputs_unless_a_manifest_is_beside_it(tmp_path):
    m = load_model("mlp")
    traced = torch.jit.trace(
        m.module, m.tensors({s.name: s.random(__import__("numpy").random.default_rng(0)) for s in m.inputs})
    )
    path = tmp_path / "m.ts"
    traced.save(str(path))
    with pytest.raises(BadInput, match="pass --input"):
        load_model(str(path))
    spec = m.inputs[0]
    loaded = load_model(str(path), inputs=[f"{spec.name}:{'x'.join(map(str, spec.shape))}"])
    assert loaded.source.startswith("torchscript:")
