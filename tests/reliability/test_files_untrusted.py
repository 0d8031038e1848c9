"""Bug class: files from elsewhere. A crafted ``.pt2`` or checkpoint must not run code under any command; the
refusal is one line naming what was found; nothing is written. Every case runs the real CLI in a subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from files_support import cli, evil_checkpoint, evil_pt2, good_pt2, leftovers, write_models

from edgekit.artifacts.archive import check_file


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("untrusted files")
    marker = root / "MARKER"
    return {
        "root": root,
        "marker": marker,
        "models": write_models(root),
        "evil": evil_pt2(root / "evil.pt2", marker),
        "evil_inputs": evil_pt2(root / "evil inputs.pt2", marker, where="sample_inputs"),
        "ckpt": evil_checkpoint(root / "evil ckpt.pt", marker),
    }


# (case id, argv with {placeholders}, exit code, fragment of the one stderr line)
CASES = [
    ("export-evil-pt2", ["export", "{evil}", "-o", "{out}"], 2, "weight 'w' is a pickle"),
    ("export-evil-sample-inputs", ["export", "{evil_inputs}", "-o", "{out}"], 2, "data/sample_inputs/model.pt"),
    ("compare-evil-pt2", ["compare", "{models}:tiny", "{evil}", "-i", "x:2x4"], 2, "posix.system"),
    ("bench-evil-pt2-alone", ["bench", "{evil}", "--iters", "2", "--warmup", "0"], 2, "posix.system"),
    ("bench-model-and-evil", ["bench", "{models}:tiny", "{evil}", "--iters", "2"], 2, "weights_only=False"),
    ("checkpoint-global-named", ["export", "mlp", "-c", "{ckpt}", "-o", "{out}"], 2, "the Python global posix.system"),
]


@pytest.mark.parametrize(("case", "argv", "code", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_crafted_file_is_refused_and_runs_nothing(
    place: dict[str, Path], tmp_path: Path, case: str, argv: list[str], code: int, fragment: str
) -> None:
    out = tmp_path / "out"
    args = [a.format(out=out, **{k: str(v) for k, v in place.items()}) for a in argv]
    done = cli(*args, cwd=tmp_path)
    assert done.rc == code, done.stderr
    assert len(done.lines) == 1, done.stderr  # one line, no traceback, no torch warning
    assert fragment in done.lines[0] and "--trust-files" in done.lines[0], done.lines
    assert not place["marker"].exists(), "the payload ran"
    assert not out.exists() and not leftovers(tmp_path)


def test_state_dict_given_as_model_is_recognised(tmp_path: Path) -> None:
    sd = tmp_path / "weights.pt"
    torch.save(torch.nn.Linear(4, 3).state_dict(), sd)
    done = cli("export", sd, "-o", tmp_path / "out", cwd=tmp_path)
    assert done.rc == 2 and len(done.lines) == 1, done.stderr
    assert "a state_dict, not a model" in done.lines[0] and "--checkpoint" in done.lines[0]


def test_truncated_pt2_is_one_line(tmp_path: Path) -> None:
    good = good_pt2(tmp_path / "good.pt2")
    cut = tmp_path / "cut.pt2"
    cut.write_bytes(good.read_bytes()[:700])
    done = cli("export", cut, "-o", tmp_path / "out", cwd=tmp_path)
    assert done.rc == 2 and len(done.lines) == 1, done.stderr
    assert "not a .pt2 archive" in done.lines[0]


def test_gate_passes_clean_files_and_reports_under_trust(place: dict[str, Path], tmp_path: Path) -> None:
    assert check_file(good_pt2(tmp_path / "clean.pt2")) == []
    found = check_file(place["evil"], trust=True)  # reported, not refused; nothing loaded
    assert len(found) == 1 and "posix.system" in found[0]
    assert not place["marker"].exists()


@pytest.mark.parametrize("flag", [None, "--trust-files", "--trust-checkpoint"])
def test_trust_flag_and_its_old_name_allow_a_harmless_pickle(tmp_path: Path, flag: str | None) -> None:
    """A checkpoint holding an ``argparse.Namespace`` beside its state_dict (common in training scripts): refused
    by default naming the global, loaded under ``--trust-files`` or its old name ``--trust-checkpoint``."""
    import argparse

    from edgekit.training.recipe import get_recipe

    ckpt = tmp_path / "with args.pt"
    torch.save({"state_dict": get_recipe("mlp").build().state_dict(), "args": argparse.Namespace(lr=0.1)}, ckpt)
    out = tmp_path / "out"
    done = cli("export", "mlp", "-c", ckpt, "-f", "onnx", "-o", out, *([flag] if flag else []), cwd=tmp_path)
    if flag is None:
        assert done.rc == 2 and len(done.lines) == 1, done.stderr
        assert "argparse.Namespace" in done.lines[0] and not out.exists()
    else:
        assert done.rc == 0, done.stderr
        assert (out / "model.onnx").is_file() and not leftovers(out)
