"""Bug class: right code, wrong advice (the files' share). Each message says what failed, expected vs got, and the
fix: an artifact of another model says so with both input specs; a state_dict given as MODEL is recognised; a
refused checkpoint names the global (see test_files_untrusted); a keyword-only forward is bound by keyword
(see test_binding_inputs)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from files_support import cli, write_models


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("advice cases")
    models = write_models(root)
    out = root / "tiny out"
    done = cli("export", f"{models}:tiny", "-i", "x:2x4", "-f", "onnx", "-o", out)
    assert done.rc == 0, done.stderr
    return {"root": root, "models": models, "out": out}


# (case id, MODEL factory, extra args, exit code, fragments of the one stderr line)
OTHER_MODEL = [
    ("other-inputs", "pair", ["-i", "a:2x4", "-i", "b:2x4"], 2, ["exported from another model", "x:Nx4:float32"]),
    ("same-inputs-other-source", "tiny_other", ["-i", "x:2x4"], 1, ["exported from another model", ":tiny with"]),
]


@pytest.mark.parametrize(
    ("case", "factory", "extra", "code", "fragments"), OTHER_MODEL, ids=[c[0] for c in OTHER_MODEL]
)
def test_artifact_of_another_model_says_so(
    exported: dict[str, Path], case: str, factory: str, extra: list[str], code: int, fragments: list[str]
) -> None:
    done = cli("compare", f"{exported['models']}:{factory}", exported["out"], *extra)
    assert done.rc == code, done.stderr
    assert len(done.lines) == 1, done.stderr
    for fragment in fragments:
        assert fragment in done.lines[0], done.lines[0]
    assert "--dynamic" not in done.lines[0] and "loosen" not in done.lines[0]


@pytest.mark.parametrize("suffix", [".pt", ".pth"])
def test_state_dict_as_model(tmp_path: Path, suffix: str) -> None:
    sd = tmp_path / f"weights{suffix}"
    torch.save(torch.nn.Linear(4, 3).state_dict(), sd)
    done = cli("compare", sd, tmp_path, cwd=tmp_path)
    assert done.rc == 2 and len(done.lines) == 1, done.stderr
    assert "a state_dict, not a model" in done.lines[0] and "--checkpoint" in done.lines[0]
