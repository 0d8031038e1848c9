"""Catalogue, class "the one-line promise leaks" (issue 12, point 5): every failure prints exactly one line on
stderr with the right exit code, whatever raised it (torch's loggers and warnings, Typer's parameter checks, Ctrl-C,
rich markup in a path, edgekit's own bug). Cases run through Typer's CliRunner and through a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgekit.cli.main import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]

MODELS = textwrap.dedent(
    '''
    import logging
    import time
    import warnings

    import torch
    from torch import nn

    warnings.warn("a library warning raised while the model file loads")
    logging.getLogger("torch.some_component").warning("a torch log record")


    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            y = self.fc(x)
            if y.sum() > 0:
                return y
            return -y


    def data_dependent():
        return DataDependent()


    class Slow(nn.Module):
        """Sleeps in forward so that a signal lands while edgekit verifies the first artifact."""

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            if not torch.compiler.is_compiling() and not torch.jit.is_tracing():
                time.sleep(0.2)
            return self.fc(x)


    def slow():
        return Slow()


    def plain():
        torch.manual_seed(0)
        return nn.Linear(4, 4)
    '''
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("oneline") / "oneline_models.py"
    path.write_text(MODELS)
    return path


def lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def cli(*args: object, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "edgekit.cli.main", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["export", "cnn", "--samples", "0"], ("--samples", "got '0'", "greater than or equal to 1")),
        (["quantize", "cnn", "--method", "nope"], ("--method", "nope", "minmax")),
        (["quantize", "cnn", "--conv-transpose", "half"], ("--conv-transpose", "half", "per-tensor")),
        (["export"], ("Missing argument", "MODEL")),
        (["export", "cnn", "--sampels", "2"], ("--sampels", "--samples")),
        (["bench", "cnn", "--batch", "1", "--threads", "x"], ("--threads", "'x'")),
    ],
)
def test_typer_parameter_errors_are_one_line_exit_2(args: list[str], words: tuple[str, ...]):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    (line,) = lines(result.stderr)
    assert line.startswith("error:") and "--help" in line, line
    for w in words:
        assert w in line, line
    assert "╭" not in result.output and "Usage:" not in result.output


def test_typer_parameter_error_in_a_subprocess():
    done = cli("export", "cnn", "--samples", "0", timeout=60)
    assert done.returncode == 2
    (line,) = lines(done.stderr)
    assert "--samples" in line and done.stdout == ""


def test_truncated_pt2_prints_exactly_one_line(models: Path, tmp_path: Path):
    good = tmp_path / "good"
    assert runner.invoke(app, ["export", f"{models}:plain", "-i", "x:1x4", "-f", "pt2", "-o", str(good)]).exit_code == 0
    truncated = tmp_path / "truncated.pt2"
    truncated.write_bytes((good / "model.pt2").read_bytes()[:3000])
    done = cli("export", truncated, "-f", "onnx", "-o", tmp_path / "o")  # a fresh process: torch's own handlers
    assert done.returncode == 2, done.stderr
    (line,) = lines(done.stderr)
    assert line.startswith("error:") and "truncated.pt2" in line, line
    bench = runner.invoke(app, ["bench", str(truncated), "--iters", "1"])
    assert bench.exit_code == 2, bench.output
    (line,) = lines(bench.stderr)
    assert line.startswith("error:") and "truncated.pt2" in line, line


def test_data_dependent_if_prints_no_symbolic_shapes_lines(models: Path, tmp_path: Path):
    done = cli("export", f"{models}:data_dependent", "-i", "x:1x4", "-f", "pt2", "-o", tmp_path / "o")
    assert done.returncode == 2, done.stderr
    (line,) = lines(done.stderr)
    assert line.startswith("error:") and "symbolic_shapes" not in done.stderr
    assert "library warning" not in done.stderr and "torch log record" not in done.stderr


def test_verbose_lets_library_output_through(models: Path, tmp_path: Path):
    done = cli("--verbose", "export", f"{models}:data_dependent", "-i", "x:1x4", "-f", "pt2", "-o", tmp_path / "o")
    assert done.returncode == 2
    assert "library warning" in done.stderr and "symbolic_shapes" in done.stderr and len(lines(done.stderr)) > 1


def test_bracket_in_output_path_is_printed_not_eaten(models: Path, tmp_path: Path):
    out = tmp_path / "out[bold]" / "[x]"
    result = runner.invoke(app, ["export", f"{models}:plain", "-i", "x:1x4", "-f", "onnx", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"manifest: {out / 'manifest.json'}" in " ".join(result.stdout.split())
    assert (out / "model.onnx").is_file()


def test_bracket_in_error_path_is_printed(tmp_path: Path):
    missing = tmp_path / "[red]missing[/].pt2"
    result = runner.invoke(app, ["export", str(missing)])
    assert result.exit_code == 2
    (line,) = lines(result.stderr)
    assert "[red]missing[/].pt2" in line


def test_an_unexpected_exception_is_an_internal_error_exit_4(monkeypatch: pytest.MonkeyPatch):
    import edgekit.export.driver as driver

    def broken(*_a: object, **_k: object) -> None:
        raise ZeroDivisionError("division by zero in edgekit")

    monkeypatch.setattr(driver, "export_all", broken)
    result = runner.invoke(app, ["export", "mlp", "-f", "onnx"])
    assert result.exit_code == 4, result.output
    (line,) = lines(result.stderr)
    assert line.startswith("error: internal error: ZeroDivisionError") and "--verbose" in line and "report" in line


def test_ctrl_c_says_what_was_written_and_what_was_not(models: Path, tmp_path: Path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "edgekit.cli.main", "export", f"{models}:slow", "-i", "x:1x4"]
    proc = subprocess.Popen(
        [*cmd, "-f", "onnx,torchscript", "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 120
    while not (out / "model.onnx").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert (out / "model.onnx").exists(), "the first artifact was never written"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    (line,) = lines(stderr)
    assert line.startswith("interrupted:") and "model.onnx" in line.split("not written")[0], line
    assert "not written" in line and "manifest.json" in line.split("not written")[1] and "model.ts" in line
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx"]  # no .partial file, no half manifest


def test_ctrl_c_through_clirunner_is_one_line_exit_130(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import edgekit.export.driver as driver

    def interrupted(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(driver, "export_all", interrupted)
    result = runner.invoke(app, ["export", "mlp", "-f", "onnx", "-o", str(tmp_path / "o")])
    assert result.exit_code == 130, result.output
    (line,) = lines(result.stderr)
    assert line.startswith("interrupted: Ctrl-C: wrote nothing; not written:") and "model.onnx" in line


def test_library_loggers_are_restored_after_a_command():
    import logging

    before = logging.getLogger("torch").level
    assert runner.invoke(app, ["export", "cnn", "--samples", "0"]).exit_code == 2
    assert runner.invoke(app, ["recipes"]).exit_code == 0
    assert logging.getLogger("torch").level == before


def test_bracket_in_an_artifact_name_survives_bench(models: Path, tmp_path: Path):
    out = tmp_path / "o[x]"
    assert runner.invoke(app, ["export", f"{models}:plain", "-i", "x:1x4", "-f", "onnx", "-o", str(out)]).exit_code == 0
    odd = tmp_path / "b[x]" / "m[bold].onnx"  # a bare file, away from its manifest
    odd.parent.mkdir()
    odd.write_bytes((out / "model.onnx").read_bytes())
    result = runner.invoke(app, ["bench", f"{models}:plain", str(odd), "-i", "x:1x4", "--iters", "20"])
    assert result.exit_code == 0, result.output
    assert "m[bold].onnx" in result.stdout
