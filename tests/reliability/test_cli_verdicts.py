"""Catalogue, class "a pass that checked nothing" (issue 12, point 6) and "error at that shape" (point 8): verdicts
judged by cosine as well as atol, outputs that cannot be checked said so, artifacts that fail to run at a shape
reported as such. Each case: the exit code and the one line that says why."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgekit.artifacts.verify import compare_arrays
from edgekit.cli.main import app

MODELS = textwrap.dedent(
    '''
    import torch
    from torch import nn


    class Small(nn.Module):
        """Random weights scaled by 1e-6: outputs peak far below atol (the issue's tiny-output models)."""

        def __init__(self, seed):
            super().__init__()
            torch.manual_seed(seed)
            self.fc1 = nn.Linear(8, 16)
            self.fc2 = nn.Linear(16, 4)
            with torch.no_grad():
                self.fc2.weight.mul_(1e-6)
                self.fc2.bias.mul_(1e-6)

        def forward(self, x):
            return self.fc2(self.fc1(x).relu())


    def small_seed0():
        return Small(0)


    def small_seed1():
        return Small(1)


    class Zeros(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(x) * 0.0


    def zeros():
        return Zeros()


    def normal():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


    def example_inputs():
        return (torch.randn(2, 8),)
    '''
)

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def stderr_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One bare .onnx per model (copied away from its manifest, as a file from elsewhere), and the models file."""
    root = tmp_path_factory.mktemp("verdicts")
    models = root / "verdict_models.py"
    models.write_text(MODELS)
    out: dict[str, Path] = {"models": models}
    for name in ("small_seed0", "small_seed1", "zeros", "normal"):
        result = invoke("export", f"{models}:{name}", "-f", "onnx", "-o", root / name)
        assert result.exit_code == 0, result.output
        bare = root / "bare" / name
        bare.mkdir(parents=True)
        out[name] = bare / "model.onnx"
        shutil.copy(root / name / "model.onnx", out[name])
    return out


@pytest.mark.parametrize(
    ("model", "artifact", "code", "words"),
    [
        ("small_seed0", "small_seed1", 1, ("differs from eager", "cosine")),  # another seed, outputs below atol
        ("small_seed0", "zeros", 1, ("differs from eager", "cosine")),  # a module returning zeros
        ("normal", "zeros", 1, ("takes inputs", "not exported from this model")),  # another forward signature
        ("small_seed0", "small_seed0", 1, ("checked nothing", "--data")),  # the right file, but nothing provable
        ("zeros", "zeros", 1, ("checked nothing", "all zeros")),
        ("normal", "normal", 0, ("1 artifacts match eager",)),
    ],
)
def test_compare_cannot_pass_on_nothing(exported: dict[str, Path], model: str, artifact: str, code: int, words):
    result = invoke("compare", f"{exported['models']}:{model}", exported[artifact], "--samples", "1")
    assert result.exit_code == code, result.output
    text = result.stderr if code else result.stdout
    last = stderr_lines(text)[-1]
    for w in words:
        assert w in text, text
    if code:
        assert last.startswith(("error:", "mismatch:")), result.stderr
        assert "Traceback" not in result.output


def test_tiny_outputs_are_not_checked_with_the_fix_in_export(exported: dict[str, Path], tmp_path: Path):
    result = invoke("export", f"{exported['models']}:small_seed0", "-f", "onnx", "-o", tmp_path / "o")
    assert result.exit_code == 0, result.output  # the file is written; the verdict says it proved nothing
    assert "not checked" in result.stdout and "pass" not in result.stdout.split("Export")[-1]
    (warning,) = stderr_lines(result.stderr)
    assert warning.startswith("warning:") and "--data" in warning and "--checkpoint" in warning


def test_compare_gate_in_a_subprocess(exported: dict[str, Path]):
    done = subprocess.run(
        [sys.executable, "-m", "edgekit.cli.main", "compare", f"{exported['models']}:small_seed0", exported["zeros"]],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 1, done.stderr
    (line,) = stderr_lines(done.stderr)
    assert line.startswith("mismatch:") and "cosine" in line


@pytest.mark.parametrize(
    ("got", "ref", "status"),
    [
        (np.zeros(4), np.zeros(4), "not checked"),  # all-zero reference
        (np.zeros((0, 4)), np.zeros((0, 4)), "not checked"),  # empty (a detector with no boxes)
        (np.full(4, 1e-7), np.full(4, 1e-7), "not checked"),  # below atol everywhere
        (np.array([1e-7, -1e-7, 1e-7, -1e-7]), np.array([1e-7, 1e-7, -1e-7, -1e-7]), "FAIL"),  # cosine 0
        (np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]), "pass"),
        (np.array([1e-3, 2e-3, 3e-3]), np.array([1e-3, 2e-3, 3.09e-3]), "FAIL"),  # within atol, 3 % of the scale
        (np.array([1, 2], np.int64), np.array([1, 3], np.int64), "FAIL"),
    ],
)
def test_compare_arrays_statuses(got: np.ndarray, ref: np.ndarray, status: str):
    check = compare_arrays("y", got, ref, 1e-4, 1e-3, min_cosine=0.99999, scale_fraction=1e-2)
    assert check.status == status, check
    assert check.passed is (status == "pass")


RES = textwrap.dedent(
    '''
    import torch
    from torch import nn


    class Res(nn.Module):
        """A residual block whose .pt2 bounds H and W (a guard), as resnet18's does: it refuses H=1."""

        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.c1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.c2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            y = self.c1(x).relu()
            z = self.c2(y).relu().repeat_interleave(2, 2).repeat_interleave(2, 3)
            y = y + z[:, :, : y.shape[2], : y.shape[3]]
            return self.fc(nn.functional.adaptive_avg_pool2d(y, 1).flatten(1))


    def res():
        return Res()
    '''
)


def test_pt2_refusing_a_shape_is_an_error_at_that_shape_not_a_difference(tmp_path: Path):
    models = tmp_path / "res_models.py"
    models.write_text(RES)
    # a declared range that admits 1 makes verification try H=1 (the plan stays near the example otherwise)
    args = ["-i", "x:1x3x16x16", "--dynamic", "x:2=h:1-64", "--dynamic", "x:3=w:1-64"]
    result = invoke("export", f"{models}:res", *args, "-f", "pt2", "-o", tmp_path / "o")
    assert result.exit_code == 1, result.output
    (line,) = stderr_lines(result.stderr)
    assert line.startswith("error: model.pt2: error at shape h=1") and "--dynamic" in line, line
    assert "loosen --atol" not in line and "differ" not in line
