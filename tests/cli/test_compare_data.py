"""``compare --data`` / ``export --data``: real samples catch what random inputs miss (a planted artifact)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgekit.cli.main import app

GATE = textwrap.dedent('''
    import torch
    from torch import nn


    class Gate(nn.Module):
        """Unit 0 fires only when x[:, 0] > 6: never on standard-normal inputs, always on the real samples."""

        def __init__(self, drift=0.0):
            super().__init__()
            self.fc = nn.Linear(8, 4)
            self.out = nn.Linear(4, 2)
            with torch.no_grad():
                self.fc.weight.copy_(torch.eye(4, 8))
                self.fc.bias.fill_(-6.0)
                self.out.weight[:, 0] += drift  # the weights reading unit 0: what a drifted artifact got wrong

        def forward(self, x):
            return self.out(torch.relu(self.fc(x)))


    def gate():
        return Gate()


    def gate_drifted():
        return Gate(drift=0.5)


    def example_inputs():
        return (torch.randn(1, 8),)
''')


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture()
def planted(tmp_path: Path) -> tuple[str, Path, Path]:
    """The model, an ONNX file of a drifted copy of it (passes on random inputs), and real samples."""
    import torch

    (tmp_path / "gate.py").write_text(GATE)
    sys.path.insert(0, str(tmp_path))
    try:
        import gate as module  # noqa: PLC0415
    finally:
        sys.path.remove(str(tmp_path))
    onnx_path = tmp_path / "drifted" / "gate.onnx"
    onnx_path.parent.mkdir()
    torch.manual_seed(0)  # intake builds factories under seed 0: the same weights but for the drift
    torch.onnx.export(
        module.gate_drifted(),
        (torch.randn(2, 8),),
        str(onnx_path),
        dynamo=False,
        input_names=["x"],
        output_names=["output"],
        dynamic_axes={"x": {0: "batch"}},
    )
    x = np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)
    x[:, 0] = 10.0  # the real samples cross the gate
    data = tmp_path / "real.npz"
    np.savez(data, x=x)
    sys.modules.pop("gate", None)
    return f"{tmp_path / 'gate.py'}:gate", onnx_path, data


def test_compare_data_fails_an_artifact_that_passes_on_random_inputs(planted, tmp_path):
    model, onnx_path, data = planted
    random_only = invoke("compare", model, onnx_path)
    assert random_only.exit_code == 0, random_only.output  # the blind spot: random inputs never open the gate
    with_data = invoke("compare", model, onnx_path, "--data", data, "--json", tmp_path / "c.json")
    assert with_data.exit_code == 1, with_data.output
    [result] = json.loads((tmp_path / "c.json").read_text())["results"]
    passed = {c["label"]: c["error"] is None and all(o["passed"] for o in c["outputs"]) for c in result["checks"]}
    assert all(ok for label, ok in passed.items() if not label.startswith("data#")), passed  # random: still pass
    assert passed["data#1"] is False and passed["data#2"] is False
    assert result["details"]["verified_on"]["data"].startswith("real.npz (16 samples")


def test_compare_data_exits_1_in_a_real_process(planted):
    model, onnx_path, data = planted
    exe = shutil.which("edgekit") or str(Path(sys.executable).parent / "edgekit")
    proc = subprocess.run(
        [exe, "compare", model, str(onnx_path), "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert "mismatch" in proc.stderr and "Traceback" not in proc.stderr


def test_export_data_records_the_samples_in_the_manifest(planted, tmp_path):
    model, _, data = planted
    out = tmp_path / "out"
    result = invoke("export", model, "-f", "onnx", "-o", out, "--data", data)
    assert result.exit_code == 0, result.output
    [entry] = json.loads((out / "manifest.json").read_text())["artifacts"]
    checks = entry["verification"]["checks"]
    assert [c["label"] for c in checks if c["label"].startswith("data#")] == ["data#1", "data#2"]
    assert entry["verification"]["details"]["verified_on"] == {"random": 3, "data": "real.npz (16 samples, no labels)"}


def test_data_with_a_wrong_array_name_is_one_line(planted, tmp_path):
    model, onnx_path, _ = planted
    bad = tmp_path / "bad.npz"
    np.savez(bad, pixels=np.zeros((2, 8), np.float32))
    result = invoke("compare", model, onnx_path, "--data", bad)
    assert result.exit_code == 2
    assert "has no array 'x'" in result.stderr
