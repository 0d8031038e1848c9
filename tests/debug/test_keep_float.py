"""INT8 per-layer sensitivity and --keep-float on the planted activation outlier: plain per-tensor INT8 misses
--max-drop 0.5, auto keep-float picks the layer reading the outlier and meets it with <= 2 float layers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgekit.intake.load import load_model


@pytest.fixture(scope="module")
def outlier(faulty_models: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, list, Path]:  # type: ignore[type-arg]
    rng = np.random.default_rng(0)
    data = tmp_path_factory.mktemp("outlier data") / "calib.npz"
    np.savez(data, x=rng.standard_normal((128, 8)).astype(np.float32))
    batches = [{"x": rng.standard_normal((32, 8)).astype(np.float32)} for _ in range(4)]
    return load_model(f"{faulty_models}:outlier", inputs=["x:2x8"]), batches, data


def test_quantize_cli_keep_float_auto_writes_the_trade(outlier: tuple, tmp_path: Path) -> None:  # type: ignore[type-arg]
    from typer.testing import CliRunner

    from edgekit.cli.main import app

    model, _, data = outlier
    ref = model.source.split(":", 1)[1]
    args = ["quantize", ref, "-i", "x:2x8", "--data", str(data), "--calibrate", "4", "-o", str(tmp_path)]
    result = CliRunner().invoke(app, [*args, "--keep-float", "auto", "--max-drop", "0.5"])
    assert result.exit_code == 0, result.output
    assert "float: fc2" in result.output and "meets --max-drop 0.5" in result.output
    report = json.loads((tmp_path / "model.ptq.quant.json").read_text())
    kf = report["keep_float"]
    assert kf["drop_all_int8"] > 0.5  # plain per-tensor INT8 misses the drop
    top = kf["sensitivity"][0]  # fc2 reads fc1's outlier channel through one per-tensor scale
    assert top["layer"] == "fc2" and top["drop_only_this_int8"] > 0.5 > top["drop_kept_float"]
    assert kf["chosen"] == ["fc2"] and kf["met"] and len(kf["chosen"]) <= 2
    assert kf["steps"][-1]["drop"] <= 0.5 and kf["steps"][-1]["bought"] > 0.5
    assert "fc2" in report["float_layers"] and "fc2" not in report["quantized_layers"]
    assert {a["verification"] for a in report["artifacts"].values()} == {"pass"}  # both encodings
    assert "Keep-float (auto)" in (tmp_path / "model.ptq.quant.md").read_text()


def test_keep_float_names_and_typos(outlier: tuple, tmp_path: Path) -> None:  # type: ignore[type-arg]
    from typer.testing import CliRunner

    from edgekit.cli.main import app

    model, _, data = outlier
    ref = model.source.split(":", 1)[1]
    args = ["quantize", ref, "-i", "x:2x8", "--data", str(data), "--calibrate", "2", "-o", str(tmp_path)]
    ok = CliRunner().invoke(app, [*args, "--keep-float", "fc2,fc3"])
    assert ok.exit_code == 0, ok.output
    report = json.loads((tmp_path / "model.ptq.quant.json").read_text())
    assert list(report["quantized_layers"]) == ["fc1"]
    bad = CliRunner().invoke(app, [*args, "--keep-float", "fc9"])
    assert bad.exit_code == 2 and "fc9 names no quantizable layer" in bad.output
    no_drop = CliRunner().invoke(app, [*args, "--keep-float", "auto"])
    assert no_drop.exit_code == 2 and "needs --max-drop" in no_drop.output


@pytest.mark.slow
def test_qat_keep_float_auto_and_names(tmp_path: Path) -> None:
    """QAT chooses its float layers with PTQ measurements, then fine-tunes once with them (mlp, 1 epoch)."""
    from edgekit.quant.qat import run_qat
    from edgekit.training.recipe import get_recipe
    from edgekit.training.train import save_checkpoint, train_recipe

    trained, metrics = train_recipe(get_recipe("mlp"), epochs=3, seed=0)
    ckpt = save_checkpoint(trained, tmp_path / "mlp.pt", "mlp", metrics)
    auto = run_qat("mlp", tmp_path / "auto", checkpoint=ckpt, epochs=1, max_drop=0.05, keep_float="auto")
    assert auto is not None and auto["keep_float"]["mode"] == "auto" and auto["keep_float"]["met"]
    assert len(auto["keep_float"]["sensitivity"]) == 3
    assert set(auto["keep_float"]["chosen"]) <= set(auto["float_layers"])
    named = run_qat("mlp", tmp_path / "named", checkpoint=ckpt, epochs=1, keep_float="3")
    assert named is not None and "3" in named["float_layers"] and list(named["quantized_layers"]) == ["0", "5"]
