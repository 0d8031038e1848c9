"""Quantization-aware training: fake quantization trains, converts to the same Q/DQ graph, keeps accuracy;
the checkpoint loads back; families without a forward-only loss fine-tune by distillation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from edgekit.core.errors import BadInput
from edgekit.intake.checkpoint import apply_checkpoint
from edgekit.intake.load import load_model
from edgekit.quant.qat import quantization_aware_training, run_qat, state_hash


def test_qat_trains_converts_and_keeps_accuracy(mlp_fp32) -> None:  # type: ignore[no-untyped-def]
    loaded, recipe, data = mlp_fp32
    before = state_hash(loaded.module)
    q, state = quantization_aware_training(loaded, data, recipe, epochs=1)
    assert state_hash(loaded.module) == before  # the fp32 model is not trained in place
    assert q.method == "qat" and q.details["loss"] == "task (Classification)"
    assert q.details["world_size"] == 1 and q.details["ranks_identical"]
    assert q.details["lr"] == pytest.approx(recipe.task.lr * 0.1)
    fp32 = recipe.task.evaluate(loaded.predict, data, recipe)["top1"]
    int8 = recipe.task.evaluate(q.model.predict, data, recipe)["top1"]
    assert int8 >= fp32 - 0.03
    # the fine-tuned float weights load into a fresh recipe model under their own names
    fresh = recipe.build()
    apply_checkpoint(fresh, {k: v for k, v in state.items() if not k.startswith("quant.")}, "qat")
    assert any(k.startswith("quant.") for k in state)
    assert not torch.equal(fresh.state_dict()["0.weight"], loaded.module.module.state_dict()["0.weight"])


def test_qat_distills_when_the_task_needs_more_than_forward() -> None:
    loaded = load_model("vae")
    recipe = loaded.recipe
    data = recipe.data()
    small = dataclasses.replace(data, train={k: v[:256] for k, v in data.train.items()})
    q, _ = quantization_aware_training(loaded, small, recipe, epochs=1)
    assert q.details["loss"].startswith("distillation")
    assert q.float_layers["logvar"].endswith("(used in training only)")
    feed = {"x": data.val["x"][:32]}
    ref, got = loaded.predict(feed), q.model.predict(feed)
    assert np.abs(ref["reconstruction"] - got["reconstruction"]).max() < 0.1


def test_run_qat_writes_checkpoint_and_report(mlp_checkpoint: Path, tmp_path: Path) -> None:
    report = run_qat("mlp", tmp_path, checkpoint=mlp_checkpoint, epochs=1, max_drop=0.05)
    assert report is not None and report["gate"]["status"] == "pass"
    assert Path(report["checkpoint"]).is_file()
    saved = torch.load(report["checkpoint"], weights_only=True)
    assert saved["method"] == "qat" and "0.weight" in saved["state_dict"]
    assert load_model("mlp", checkpoint=report["checkpoint"]).module is not None
    assert all(a["verification"] == "pass" for a in report["artifacts"].values())


def test_qat_needs_a_recipe(tiny_models: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="--recipe"):
        run_qat(f"{tiny_models}:conv_net", tmp_path, inputs=("x:2x1x8x8",))
    with pytest.raises(BadInput, match="epochs"):
        run_qat("mlp", tmp_path, epochs=0)


@pytest.mark.slow
def test_cnn_qat_folds_batchnorm(tmp_path: Path) -> None:
    """Conv-BN QAT (torchao's conv-bn fusion pattern matching takes ~20 s on a CPU)."""
    from edgekit.training.recipe import get_recipe
    from edgekit.training.train import save_checkpoint, train_recipe

    model, metrics = train_recipe(get_recipe("cnn"), epochs=3)
    ckpt = save_checkpoint(model, tmp_path / "cnn.pt", "cnn", metrics)
    report = run_qat("cnn", tmp_path, checkpoint=ckpt, epochs=1, max_drop=0.03)
    assert report is not None and report["gate"]["status"] == "pass"
    assert "BatchNorm" in report["float_layers"]["1"]
    assert not any("BatchNormalization" in q for q in report["artifacts"]["trt"]["qdq_nodes"])
