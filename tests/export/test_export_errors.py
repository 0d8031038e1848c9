import onnx
import pytest

from edgekit.artifacts.formats import parse_formats
from edgekit.core.errors import BadInput
from edgekit.export.driver import export_all
from edgekit.export.onnx import export_onnx, opset_of
from edgekit.intake.load import load_model


def test_unsupported_operator_is_named_and_leaves_no_file(user_models, tmp_path):
    m = load_model(f"{user_models}:unsupported", inputs=["x:2x6x6"], static=True)
    with pytest.raises(BadInput, match="ONNX export failed") as info:
        export_onnx(m, tmp_path / "out" / "m.onnx")
    assert "linalg_svd" in str(info.value)
    assert list((tmp_path / "out").iterdir()) == []


def test_failed_format_leaves_no_partial_file_and_others_go_on(user_models, tmp_path):
    m = load_model(f"{user_models}:unsupported", inputs=["x:2x6x6"], static=True)
    results = export_all(m, parse_formats("onnx,torchscript"), tmp_path / "out")
    assert results[0].error is not None and results[1].error is None
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [".manifest.json.lock", "manifest.json", "model.ts"]  # the lock file of the manifest merge stays


def test_opset_band_and_checker(user_models, tmp_path):
    m = load_model(f"{user_models}:two_head")
    with pytest.raises(BadInput, match="opset 21"):
        export_onnx(m, tmp_path / "m.onnx", opset=21)
    for opset in (17, 18, 20):
        details = export_onnx(m, tmp_path / "m.onnx", opset=opset)
        model = onnx.load(str(tmp_path / "m.onnx"))
        assert opset_of(model) == opset, details
    assert export_onnx(m, tmp_path / "m.onnx")["exporter"] == "dynamo"
    assert [i.name for i in model.graph.input] == ["image", "meta"]
    assert [o.name for o in model.graph.output] == ["logits", "feat"]


def test_legacy_exporter_on_request(user_models, tmp_path):
    m = load_model(f"{user_models}:tagger", inputs=["ids:2x7:int64"], dynamic=["ids:1"])
    assert export_onnx(m, tmp_path / "m.onnx", exporter="legacy")["exporter"] == "legacy"
    with pytest.raises(BadInput, match="unknown exporter"):
        export_onnx(m, tmp_path / "n.onnx", exporter="fast")


def test_an_option_no_requested_format_takes_is_refused(tmp_path):
    from edgekit.artifacts.formats import FORMATS

    m = load_model("mlp")
    with pytest.raises(BadInput, match=r"export option\(s\) \['opset'\] apply to none of the formats \['pt2'\]"):
        export_all(m, [FORMATS["pt2"]], tmp_path / "out", options={"opset": 17})
    assert not (tmp_path / "out").exists()
    with pytest.raises(BadInput, match=r"\['speed'\]"):
        export_all(m, [FORMATS["onnx"]], tmp_path / "out", options={"opset": 17, "speed": "max"})
