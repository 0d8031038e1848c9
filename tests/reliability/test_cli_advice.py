"""Catalogue, class "right code, wrong advice" (issue 12, point 8, the CLI's share) and the MODEL option group:
each case's message says what failed, expected vs got, and the fix that fits (not a generic one)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from edgekit.cli.main import app

runner = CliRunner()

MODELS = textwrap.dedent(
    '''
    import torch
    from torch import nn


    class PerImage(nn.Module):
        """A detector-like head returning one tensor per image: its output count follows the batch."""

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return tuple(self.fc(x).unbind(0))


    def per_image():
        return PerImage()


    class NoBoxes(nn.Module):
        """A detector that found nothing: every output is empty."""

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x)[:, :0]


    def no_boxes():
        return NoBoxes()


    def plain():
        torch.manual_seed(0)
        return nn.Linear(4, 4)
    '''
)

MODEL_GROUP = {"--checkpoint", "--input", "--dynamic", "--static", "--trust-files", "--trust-checkpoint"}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("advice") / "advice_models.py"
    path.write_text(MODELS)
    return path


def one_line(text: str) -> str:
    (line,) = [ln for ln in text.splitlines() if ln.strip()]
    return line


def options_of(name: str) -> set[str]:
    command = get_command(app).commands[name]  # type: ignore[attr-defined]
    return {opt for p in command.params for opt in p.opts}


@pytest.mark.parametrize("name", ["export", "compare", "qat", "quantize", "bench"])
def test_every_model_command_takes_the_one_option_group(name: str):
    assert MODEL_GROUP <= options_of(name), MODEL_GROUP - options_of(name)
    if name in ("export", "compare"):
        assert {"--atol", "--rtol"} <= options_of(name)


def test_output_count_that_follows_the_batch_is_named_not_blamed_on_eager(models: Path, tmp_path: Path):
    result = runner.invoke(app, ["export", f"{models}:per_image", "-i", "x:1x4", "-f", "onnx", "-o", str(tmp_path)])
    assert result.exit_code == 2, result.output
    line = one_line(result.stderr)
    assert "number of outputs changes with the input" in line and "returns 2 outputs" in line, line
    assert "zip()" not in line and "eager PyTorch fails" not in line


def test_all_empty_outputs_are_not_checked_and_compare_fails(models: Path, tmp_path: Path):
    out = tmp_path / "o"
    result = runner.invoke(
        app, ["export", f"{models}:no_boxes", "-i", "x:1x4", "--static", "-f", "onnx", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "empty output" in result.stderr and "pass" not in result.stdout.split("Export")[-1]
    gate = runner.invoke(app, ["compare", f"{models}:no_boxes", str(out), "-i", "x:1x4", "--static"])
    assert gate.exit_code == 1, gate.output
    assert "checked nothing" in gate.stderr.splitlines()[-1]


def test_bench_accepts_input_and_says_what_eager_is(models: Path, tmp_path: Path):
    out = tmp_path / "o"
    assert runner.invoke(app, ["export", f"{models}:plain", "-i", "x:1x4", "-f", "pt2", "-o", str(out)]).exit_code == 0
    report = tmp_path / "r.json"
    done = subprocess.run(
        [sys.executable, "-m", "edgekit.cli.main", "bench", str(out / "model.pt2"), "--iters", "20", "--json"]
        + [str(report)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    eager = json.loads(report.read_text())["model"]["eager"]
    assert "ExportedProgram model.pt2 run by torch" in eager and "not the original nn.Module" in eager
    assert "eager = the ExportedProgram model.pt2" in " ".join(done.stdout.split())
    shaped = runner.invoke(app, ["bench", f"{models}:plain", str(out), "--input", "x:1x4", "--iters", "20"])
    assert shaped.exit_code == 0, shaped.output
    assert "pass --input" not in shaped.output


@pytest.mark.parametrize("flag", ["--trust-files", "--trust-checkpoint"])
def test_trust_files_and_its_old_name_are_one_option(models: Path, tmp_path: Path, flag: str):
    result = runner.invoke(app, ["export", f"{models}:plain", "-i", "x:1x4", "-f", "onnx", flag, "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output


def test_app_help_documents_every_exit_code():
    text = " ".join(runner.invoke(app, ["--help"]).stdout.split())
    for code in ("0 ok", "1 verification", "2 bad input", "3 backend unavailable", "4 internal error", "130"):
        assert code in text, code
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "**4** an internal error" in readme
