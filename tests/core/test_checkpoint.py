import pytest
import torch
from torch import nn

from edgekit.core.errors import BadInput
from edgekit.intake.checkpoint import apply_checkpoint, read_checkpoint
from edgekit.intake.load import load_model


class Custom:
    """Not a tensor: weights_only loading refuses to unpickle it."""


def test_state_dict_under_usual_keys(tmp_path):
    net = nn.Linear(3, 2)
    for key in ("state_dict", "model", "model_state_dict"):
        path = tmp_path / f"{key}.pt"
        torch.save({key: net.state_dict(), "epoch": 3}, path)
        assert set(read_checkpoint(path)) == {"weight", "bias"}


def test_pickle_needing_more_names_trust_checkpoint(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": nn.Linear(3, 2).state_dict(), "extra": Custom()}, path)
    with pytest.raises(BadInput, match="--trust-files") as info:
        read_checkpoint(path)
    assert "Custom" in str(info.value) and "the Python global" in str(info.value)
    assert "weight" in read_checkpoint(path, trust=True)


def test_mismatched_checkpoint_lists_missing_unexpected_and_misshaped(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    state = {"0.weight": torch.zeros(5, 3), "0.bias": torch.zeros(2), "9.weight": torch.zeros(1)}
    with pytest.raises(BadInput) as info:
        apply_checkpoint(model, state, "ckpt.pt")
    msg = str(info.value)
    assert "missing: 1.bias, 1.weight" in msg
    assert "unexpected: 9.weight" in msg
    assert "mis-shaped: 0.weight (model (2, 3), checkpoint (5, 3))" in msg


def test_ddp_prefix_is_stripped_and_checkpoint_loads_into_a_recipe(tmp_path):
    m = load_model("mlp")
    state = {f"module.{k}": v + 1 for k, v in m.module.module.state_dict().items()}
    path = tmp_path / "ddp.pt"
    torch.save(state, path)
    loaded = load_model("mlp", checkpoint=path)
    first = next(iter(loaded.module.module.state_dict().values()))
    assert torch.equal(first, next(iter(state.values())))


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        read_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(BadInput, match="cannot read checkpoint"):
        read_checkpoint(bad)
