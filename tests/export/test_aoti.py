"""AOTInductor packages: one tiny model compiled once per session (the C++ compile costs seconds), verified at
its shape plan, refused outside its compiled ranges, listed by format, and benchmarked beside eager and .pt2."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgekit.artifacts.formats import FORMATS, format_of
from edgekit.backends.aoti_runner import check_ranges
from edgekit.backends.registry import create_runner
from edgekit.core.errors import BadInput
from edgekit.export.driver import export_all
from edgekit.intake.load import load_model

SEQ_MODEL = textwrap.dedent("""
    import torch
    from torch import nn


    class Pool(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 8)
            self.fc = nn.Linear(8, 3)

        def forward(self, ids, mask):
            h = self.emb(ids) * mask.unsqueeze(-1)
            return self.fc(h.sum(1) / mask.sum(1, keepdim=True).clamp(min=1))


    def pool():
        return Pool()
""")

pytestmark = pytest.mark.skipif(
    FORMATS["aoti"].unavailable_reason() is not None, reason=f"aoti: {FORMATS['aoti'].unavailable_reason()}"
)


@pytest.fixture(scope="session")
def aoti_export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("aoti")
    (root / "pool.py").write_text(SEQ_MODEL)
    model = load_model(
        f"{root / 'pool.py'}:pool",
        inputs=["ids:1x12:int64", "mask:1x12:float32"],
        dynamic=["ids:1=seq:4-32", "mask:1=seq"],
    )
    results = export_all(model, [FORMATS["pt2"], FORMATS["aoti"]], root / "out")
    return {"model": model, "results": {r.format: r for r in results}, "dir": root / "out"}


def test_package_verifies_within_its_ranges_and_reports_compile_time_apart(aoti_export: dict[str, Any]) -> None:
    result = aoti_export["results"]["aoti"]
    assert result.error is None, result.error
    assert result.path.name == "model.aoti.pt2" and format_of(result.path).name == "aoti"
    assert result.verification.passed, result.verification.failures()
    labels = [c.label for c in result.verification.checks]
    assert labels == ["example", "batch=2", "batch=5", "seq=4", "seq=6", "seq=18", "seq=32"]
    details = result.details
    assert details["compile_seconds"] > 0 and details["export_seconds"] > 0
    assert details["input_ranges"]["ids"][1] == [4, 32] and details["input_ranges"]["mask"][1] == [4, 32]
    manifest = json.loads((aoti_export["dir"] / "manifest.json").read_text())
    entry = next(a for a in manifest["artifacts"] if a["format"] == "aoti")
    assert entry["status"] == "pass" and entry["details"]["compile_seconds"] == details["compile_seconds"]


def test_package_refuses_sizes_outside_its_ranges(aoti_export: dict[str, Any]) -> None:
    model = aoti_export["model"]
    path = aoti_export["results"]["aoti"].path
    with create_runner("aoti", path, inputs=model.input_names, outputs=model.outputs) as runner:
        assert runner.details["checked_ranges"] is True
        ok = runner.infer({"ids": np.ones((1, 8), np.int64), "mask": np.ones((1, 8), np.float32)})
        ref = model.predict({"ids": np.ones((1, 8), np.int64), "mask": np.ones((1, 8), np.float32)})
        assert np.allclose(ok["output"], ref["output"], atol=1e-5)
        with pytest.raises(BadInput, match=r"axis 1 has size 40, outside .* \(4\.\.32\); re-export"):
            runner.infer({"ids": np.ones((1, 40), np.int64), "mask": np.ones((1, 40), np.float32)})


def test_check_ranges_names_input_axis_and_fix() -> None:
    ranges = {"x": [[1, None], [3, 3]], "w": [[1, None], [400, 16000]]}
    assert check_ranges(ranges, {"x": (7, 3), "w": (2, 400)}) is None
    assert "input 'x' axis 1 has size 4" in (check_ranges(ranges, {"x": (1, 4)}) or "")
    assert "rank 3" in (check_ranges(ranges, {"x": (1, 3, 1)}) or "")
    assert "(400..16000)" in (check_ranges(ranges, {"w": (1, 399)}) or "")


def test_a_broken_package_is_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "m.aoti.pt2"
    bad.write_bytes(b"not a zip")
    with pytest.raises(BadInput, match="cannot load AOTInductor package"):
        create_runner("aoti", bad, inputs=["x"]).activate()


def test_bench_times_the_package_beside_eager_and_pt2(aoti_export: dict[str, Any]) -> None:
    from edgekit.bench.run import BenchConfig, run_bench

    files = [aoti_export["results"][f].path for f in ("pt2", "aoti")]
    config = BenchConfig(batches=(1,), iters=8, warmup=2, threads=1)
    with pytest.raises(BadInput, match="AOTInductor package is compiled native code"):  # native code: not by default
        run_bench(aoti_export["model"], files, config)
    result = run_bench(aoti_export["model"], files, config, trust_checkpoint=True)
    rows = {r.name: r for r in result.rows}
    assert set(rows) == {"eager", "model.pt2", "model.aoti.pt2"}
    aoti = rows["model.aoti.pt2"]
    assert aoti.status == "ok" and aoti.backend == "aoti" and aoti.verification == "pass", aoti.reason
    assert aoti.speedup is not None and aoti.speedup > 0 and aoti.agreement["within_tolerance"] is True
