"""QAT under torchrun with 2 CPU processes (gloo): it finishes, both ranks end with identical weights, rank 0
alone writes, and the result passes the gate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest


def test_torchrun_two_processes(mlp_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "edgekit.cli.quant",
        "qat",
        "mlp",
        "--checkpoint",
        str(mlp_checkpoint),
        "--epochs",
        "1",
        "--max-drop",
        "0.05",
        "-o",
        str(out),
    ]
    # its own process group, so that a hung rendezvous can be killed whole (workers included)
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"torchrun did not finish in 240 s: {stderr[-3000:]}")
    assert proc.returncode == 0, stdout[-2000:] + stderr[-4000:]
    report = json.loads((out / "mlp.qat.quant.json").read_text())
    details = report["details"]
    assert details["world_size"] == 2 and details["backend"] == "gloo"
    weights = details["rank_weight_sha256"]
    assert len(weights) == 2 and weights[0] == weights[1]  # DDP kept the trained weights identical
    assert len(set(details["rank_state_sha256"])) == 1
    assert report["gate"]["status"] == "pass"
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(
        ["mlp.qat.int8.trt.onnx", "mlp.qat.int8.ort.onnx", "mlp.qat.pth", "mlp.qat.quant.json", "mlp.qat.quant.md"]
    )
