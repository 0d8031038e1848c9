"""``make gpu-check`` (benchmarks/gpu_check.py): its path on a machine without CUDA (exit 3, one line, nothing
written), and its plan and summary (every step bounded, the whole run within 8 minutes). The CUDA path itself runs
only on a GPU machine (docs/gpu.md)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def load() -> Any:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU: the no-GPU path does not apply")
def test_without_cuda_it_exits_3_with_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "gpu-check"
    assert load().main(["--out", str(out), "--wheels", str(tmp_path)]) == 3  # sys.exit(main()) is the script
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("gpu-check needs a CUDA GPU, but no CUDA GPU")
    assert not out.exists()


def test_the_plan_runs_the_gpu_tests_the_table_and_bench_auto_within_8_minutes(tmp_path: Path) -> None:
    gc = load()
    steps = gc.plan(tmp_path, ("cnn", "mlp", "transformer"), python="py")
    assert [s.name for s in steps] == ["doctor", "pytest", "gpu_table", "bench cnn", "bench mlp", "bench transformer"]
    assert sum(s.limit_s for s in steps) <= gc.BUDGET_S <= 8 * 60
    pytest_step = steps[1].argv
    assert pytest_step[pytest_step.index("-m", 3) + 1] == "cuda or trt or gpu"
    for s in steps[3:]:
        assert s.argv[s.argv.index("--device") + 1] == "cuda" and s.argv[s.argv.index("--backend") + 1] == "auto"
        assert str(tmp_path) in " ".join(s.argv)  # its reports land in the one folder
    assert {s.log for s in steps} == {f"{s.name.replace(' ', '-')}.log" for s in steps}


def test_summary_says_which_step_failed_and_what_auto_picked(tmp_path: Path) -> None:
    gc = load()
    steps = gc.plan(tmp_path, ("cnn", "mlp", "transformer"))
    steps[0].status, steps[1].status = "ok", "timed out after 180 s"
    (tmp_path / "bench-cnn.json").write_text(
        json.dumps({"picks": [{"batch": 1, "backend": "tensorrt", "precision": "fp16", "explanation": "fastest"}]})
    )
    summary = gc.summarize(steps, tmp_path, ("cnn", "mlp", "transformer"), "Fake GPU")
    assert summary["ok"] is False
    assert summary["picks"] == {"cnn": ["b1: tensorrt/fp16 (fastest)"]}
    text = (tmp_path / "summary.md").read_text()
    assert "| pytest | timed out after 180 s |" in text and "auto on cnn:" in text
    assert json.loads((tmp_path / "summary.json").read_text())["gpu"] == "Fake GPU"


def test_a_step_past_its_limit_is_stopped_and_reported(tmp_path: Path) -> None:
    gc = load()
    gc.MIN_STEP_S = 0.5
    step = gc.Step("sleep", [sys.executable, "-c", "import time; time.sleep(30)"], 30.0, "sleep.log")
    gc.run_step(step, tmp_path, {}, left_s=0.4)
    assert step.status == "skipped: the budget is spent"  # less left than the floor: not started
    gc.run_step(step, tmp_path, {}, left_s=1.0)
    assert step.status == "timed out after 1 s" and step.seconds < 15
    assert (tmp_path / "sleep.log").read_text().startswith("$ ")
