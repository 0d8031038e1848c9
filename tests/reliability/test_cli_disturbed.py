"""Catalogue, class "a benchmark figure printed under load without a warning" (issue 12, point 7): other
processes' CPU use is sampled around every timed block, not only at the start, and a row timed while cores were
taken is marked disturbed in the table, the JSON, the Markdown and the HTML; auto says when its pick rests on it.
The busy neighbour is a real busy-loop subprocess on one core, started after the run began."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgekit.bench.host import CpuSpan, cpu_reading
from edgekit.bench.timing import Candidate, time_interleaved
from edgekit.cli.main import app

runner = CliRunner()
SPIN = "import time\nend = time.time() + 60\nwhile time.time() < end:\n    pass\n"


@pytest.fixture
def busy_core() -> Iterator[subprocess.Popen[bytes]]:
    """A process spinning on one core (at most 60 s; killed after the test)."""
    import psutil

    proc = subprocess.Popen([sys.executable, "-c", SPIN])
    spinner, deadline = psutil.Process(proc.pid), time.time() + 10
    while sum(spinner.cpu_times()[:2]) < 0.3 and time.time() < deadline:  # in its loop, not still starting up
        time.sleep(0.05)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_cpu_span_counts_only_other_processes():
    span = CpuSpan()
    span.add((0.0, 10.0, 4.0), (2.0, 13.0, 5.0))  # 2 s: the machine busy 3 CPU-s, this process 1 CPU-s
    assert span.other_cores == pytest.approx(1.0) and span.blocks == 1
    assert CpuSpan().other_cores is None
    wall, busy, own = cpu_reading()
    assert wall > 0 and busy >= own >= 0


def test_a_busy_neighbour_is_seen_during_the_timed_blocks(busy_core: subprocess.Popen[bytes]):
    # sleeping calls: this process uses almost no CPU, so what the span sees is the neighbour (and other tenants)
    load = [CpuSpan()]
    time_interleaved([Candidate(lambda: time.sleep(0.001))], seconds=0.5, warmup=1, load=load)
    assert load[0].blocks >= 3
    assert load[0].other_cores is not None and load[0].other_cores >= 0.7, load[0]


def test_bench_marks_rows_timed_beside_a_busy_core(tmp_path: Path, busy_core: subprocess.Popen[bytes]):
    out = tmp_path / "out"
    assert runner.invoke(app, ["export", "mlp", "-f", "onnx", "-o", str(out)]).exit_code == 0
    reports = {"--json": tmp_path / "r.json", "--markdown": tmp_path / "r.md", "--html": tmp_path / "r.html"}
    args = ["bench", "mlp", str(out), "--seconds", "0.3", "--threads", str(os.cpu_count() or 1)]
    result = runner.invoke(app, args + [str(a) for kv in reports.items() for a in kv])
    assert result.exit_code == 0, result.output
    report = json.loads(reports["--json"].read_text())
    timed = [r for r in report["rows"] if r.get("latency_ms")]
    assert timed and all(r["disturbed"] for r in timed), [(r["name"], r["details"].get("other_cores")) for r in timed]
    assert all(r["details"]["other_cores"] >= 0.7 for r in timed)
    assert "disturbed" in result.stdout and "disturbed: other processes took up to" in result.stdout
    assert "disturbed (" in reports["--markdown"].read_text()
    assert 'class=" disturbed"' in reports["--html"].read_text() or "pick disturbed" in reports["--html"].read_text()
    assert any("disturbed rows" in p["explanation"] or p["disturbed"] for p in report["picks"])
