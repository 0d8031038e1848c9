"""The benchmark library: cases, baseline, accuracy, unavailable backends, bad input. Few iterations; nothing here
asserts how fast anything runs."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgekit.backends.base import Runner
from edgekit.backends.registry import BACKENDS, BackendInfo
from edgekit.bench.config import BenchConfig
from edgekit.bench.run import picks, resolve_model, run_bench, split_refs
from edgekit.bench.subjects import BenchRow, read_artifact
from edgekit.bench.timing import Candidate, LatencyStats
from edgekit.core.errors import BackendUnavailable, BadInput, VerificationFailed

FAST = {"iters": 8, "warmup": 2}


def rows_by(result: Any, **match: Any) -> list[BenchRow]:
    return [r for r in result.rows if all(getattr(r, k) == v for k, v in match.items())]


def test_every_artifact_and_eager_at_every_batch(tiny_export: dict[str, Any]) -> None:
    result = run_bench(tiny_export["model"], [tiny_export["dir"]], BenchConfig(batches=(1, 4), threads=1, **FAST))
    assert [(r.name, r.batch) for r in result.rows] == [
        (n, b) for b in (1, 4) for n in ("eager", "model.onnx", "model.pt2", "model.ts")
    ]
    for r in result.rows:
        assert r.status == "ok", r.reason
        assert r.latency is not None and r.latency.count == 8 and r.throughput and r.throughput > 0
        assert r.load_ms is not None and r.cold_ms is not None and r.peak_rss_mb and r.peak_rss_mb > 0
        assert r.agreement["max_abs_diff"] < 1e-4 and r.agreement["within_tolerance"] is True
        assert r.accuracy == {}  # no recipe, no --data: agreement only
    assert all(r.speedup == 1.0 for r in rows_by(result, name="eager"))
    assert {r.backend for r in result.rows} == {"torch", "onnxruntime", "pt2", "torchscript"}
    onnx = rows_by(result, name="model.onnx")[0]
    assert onnx.verification == "pass" and onnx.details["providers"] == ["CPUExecutionProvider"]
    assert onnx.details["threads"] == 1 and onnx.details["exporter"] in ("dynamo", "legacy")
    assert result.settings["threads"] == 1 and result.settings["iters"] == 8
    assert result.evaluation["source"].startswith("random inputs")
    host = result.host
    assert host["cores_logical"] and host["cpu"] and "torch" in host["versions"]
    assert {p["batch"] for p in result.picks} == {1, 4}
    data = json.loads(json.dumps(result.to_json()))
    assert data["schema"] == "edgekit.bench/1" and len(data["rows"]) == 8


def test_data_file_scores_top1_for_every_artifact(tiny_export: dict[str, Any], tmp_path: Path) -> None:
    model = tiny_export["model"]
    x = np.random.default_rng(0).standard_normal((50, 6)).astype(np.float32)
    labels = np.argmax(model.predict({"x": x})["logits"], -1)
    labels[:10] = (labels[:10] + 1) % 4  # 80 % accuracy by construction
    npz = tmp_path / "val data.npz"
    np.savez(npz, x=x, labels=labels)
    config = BenchConfig(batches=(2,), data=npz, **FAST)
    result = run_bench(model, [tiny_export["dir"] / "model.onnx"], config)
    assert result.evaluation["metric"] == "top1" and result.evaluation["samples"] == 50
    for r in result.rows:
        assert r.accuracy["top1"] == pytest.approx(0.8)
        assert r.agreement["top1_pct"] == 100.0 and r.agreement["samples"] == 50


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"y": np.zeros((4, 6), np.float32)}, "has no array 'x'"),
        ({"x": np.zeros((4, 7), np.float32)}, "expected Nx6"),
        ({"x": np.zeros((4, 6), np.float32), "labels": np.zeros(3, np.int64)}, "different numbers of samples"),
        ({"x": np.zeros((4, 6), np.float32), "extra": np.zeros(4)}, "unexpected arrays"),
    ],
)
def test_data_file_that_does_not_fit_is_bad_input(
    tiny_export: dict[str, Any], tmp_path: Path, arrays: dict[str, np.ndarray], message: str
) -> None:
    npz = tmp_path / "d.npz"
    np.savez(npz, **arrays)
    with pytest.raises(BadInput, match=message):
        run_bench(tiny_export["model"], [tiny_export["dir"] / "model.onnx"], BenchConfig(data=npz, **FAST))


@pytest.mark.parametrize(
    "config, error, message",
    [
        (BenchConfig(batches=(0,)), BadInput, "batch size must be >= 1"),
        (BenchConfig(backend="onnxrt"), BadInput, "Did you mean 'onnxruntime'"),
        (BenchConfig(iters=3, seconds=1.0), BadInput, "not both"),
        (BenchConfig(device="gpu"), BadInput, "unknown device"),
        (BenchConfig(precisions=("fp8",)), BadInput, "unknown precision"),
    ],
)
def test_bad_options(config: BenchConfig, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        config.validate()


def test_cuda_without_a_gpu_is_unavailable() -> None:
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(BackendUnavailable, match="--device cuda"):
        BenchConfig(device="cuda").validate()


def test_artifact_that_does_not_load_is_bad_input(tiny_export: dict[str, Any], tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx file")
    with pytest.raises(BadInput, match="cannot load"):
        run_bench(tiny_export["model"], [broken], BenchConfig(**FAST))


def test_unavailable_backends_give_rows_not_crashes(
    tiny_export: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Refusing(Runner):
        backend = "refusing"

        def activate_impl(self) -> None:
            raise BackendUnavailable("refusing: needs hardware this machine lacks")

        def infer_impl(self, feed: Any) -> Any:
            raise AssertionError

        def input_names(self) -> list[str]:
            return ["x"]

        def output_names(self) -> list[str]:
            return ["logits"]

    @dataclasses.dataclass(frozen=True)
    class Info(BackendInfo):
        def runner_cls(self) -> type[Runner]:
            return Refusing

        def loader_fn(self) -> Any:
            return lambda artifact, **_: lambda: artifact

    no_probe = "edgekit.backends.probes:torch_reason"
    monkeypatch.setitem(BACKENDS, "refusing", Info("refusing", "-", "-", ("onnx",), ("cpu",), no_probe, 90))
    ghost = BackendInfo(
        "ghost", "edgekit.no_such_module:Ghost", "edgekit.no_such_module:load", ("onnx",), ("cpu",), no_probe, 91
    )
    monkeypatch.setitem(BACKENDS, "ghost", ghost)
    config = BenchConfig(backend="onnxruntime,tensorrt,refusing,ghost,pt2", **FAST)
    result = run_bench(tiny_export["model"], [tiny_export["dir"] / "model.onnx"], config)
    status = {r.backend: (r.status, r.reason) for r in result.rows if r.batch == 1}
    assert status["onnxruntime"][0] == "ok" and status["torch"][0] == "ok"
    assert status["tensorrt"] == ("unavailable", "tensorrt runs on cuda, not cpu")
    assert status["refusing"] == ("unavailable", "refusing: needs hardware this machine lacks")
    assert status["ghost"][0] == "unavailable" and "cannot be imported" in status["ghost"][1]
    assert status["pt2"] == ("skipped", "pt2 does not run onnx artifacts")
    chosen = result.picks[0]
    assert chosen["backend"] in ("onnxruntime", "torch")
    excluded = [c for c in chosen["candidates"] if c["status"] == "excluded"]
    assert len(excluded) == 4


def test_static_batch_artifacts_are_skipped_at_other_batches(tiny_export: dict[str, Any], tmp_path: Path) -> None:
    from edgekit.artifacts.formats import FORMATS
    from edgekit.export.driver import export_all
    from edgekit.intake.load import load_model

    model = load_model(tiny_export["ref"], static=True)  # batch fixed at the example's 2
    export_all(model, [FORMATS["onnx"]], tmp_path / "static")
    result = run_bench(tiny_export["model"], [tmp_path / "static"], BenchConfig(batches=(2, 3), **FAST))
    onnx = {r.batch: r for r in result.rows if r.name == "model.onnx"}
    assert onnx[2].status == "ok" and onnx[3].status == "skipped" and "static batch 2" in onnx[3].reason
    # scoring splits the evaluation set into chunks of the fixed batch
    assert onnx[2].agreement["samples"] == 64 and onnx[2].agreement["within_tolerance"]


def test_recipe_metric_for_every_artifact(tmp_path: Path) -> None:
    from edgekit.artifacts.formats import FORMATS
    from edgekit.export.driver import export_all
    from edgekit.intake.load import load_model

    model = load_model("mlp")
    export_all(model, [FORMATS["onnx"]], tmp_path / "mlp")
    result = run_bench(model, [tmp_path / "mlp"], BenchConfig(batches=(1,), **FAST))
    assert result.evaluation["metric"] == "top1" and "val split" in result.evaluation["source"]
    eager, onnx = result.rows
    assert 0.0 <= eager.accuracy["top1"] <= 1.0 and onnx.accuracy["top1"] == pytest.approx(eager.accuracy["top1"])
    assert onnx.agreement["top1_pct"] == 100.0


def test_baseline_from_artifacts_alone(tiny_export: dict[str, Any], tmp_path: Path) -> None:
    d = tmp_path / "only onnx and pt2"
    d.mkdir()
    for name in ("model.onnx", "model.pt2", "manifest.json"):
        shutil.copy(tiny_export["dir"] / name, d / name)
    arts = [read_artifact(d / "model.onnx"), read_artifact(d / "model.pt2")]
    baseline = resolve_model(None, arts, None)
    assert baseline.source.startswith("pt2:") and baseline.input_names == ["x"]
    with pytest.raises(VerificationFailed, match="model.ts is listed in .* but missing"):
        run_bench(None, [d], BenchConfig(**FAST))  # the copied manifest lists model.ts, which is not there
    result = run_bench(None, [d / "model.onnx", d / "model.pt2"], BenchConfig(**FAST))
    assert all(r.status == "ok" for r in result.rows)
    assert rows_by(result, name="model.onnx")[0].agreement["max_abs_diff"] < 1e-4
    (d / "model.pt2").unlink()
    with pytest.raises(BadInput, match="no eager baseline"):
        resolve_model(None, [read_artifact(d / "model.onnx")], None)


def test_split_refs(tiny_export: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cnn").mkdir()
    assert split_refs(["cnn", "./cnn"]) == ("cnn", [Path("cnn")])
    assert split_refs([str(tiny_export["dir"]), tiny_export["ref"]]) == (tiny_export["ref"], [tiny_export["dir"]])
    with pytest.raises(BadInput, match="two models"):
        split_refs(["cnn", "mlp"])
    with pytest.raises(BadInput, match="does not exist"):
        split_refs(["missing.onnx"])


def test_reference_loops_are_timed_with_their_subject(tiny_export: dict[str, Any]) -> None:
    def bare(subject: Any, batch: int) -> Candidate | None:
        if subject.backend != "onnxruntime":
            return None
        session, feed = subject.runner.session, subject.feed(batch)
        return Candidate(lambda: session.run(None, feed), "bare")

    result = run_bench(tiny_export["model"], [tiny_export["dir"] / "model.onnx"], BenchConfig(**FAST), reference=bare)
    onnx = rows_by(result, name="model.onnx")[0]
    assert onnx.details["bare_loop"]["count"] == 8 and onnx.details["bare_loop"]["p50_ms"] > 0
    assert "bare_loop" not in rows_by(result, name="eager")[0].details


def _row(
    name: str, backend: str, p50: float | None, batch: int = 1, verification: str | None = "pass", status: str = "ok"
) -> BenchRow:
    lat = LatencyStats.from_ns([int(p50 * 1e6)] * 3) if p50 is not None else None
    return BenchRow(
        name,
        None,
        "eager" if name == "eager" else "onnx",
        backend,
        "fp32",
        batch,
        status,
        latency=lat,
        verification=None if name == "eager" else verification,
    )


def test_picks_never_slower_than_eager_and_only_verified() -> None:
    rows = [_row("eager", "torch", 1.0), _row("a.onnx", "onnxruntime", 2.0), _row("b.ts", "torchscript", 1.5)]
    assert picks(rows)[0]["name"] == "eager" and "eager" in picks(rows)[0]["explanation"]
    rows.append(_row("c.onnx", "onnxruntime", 0.1, verification="FAIL"))
    rows.append(_row("d.onnx", "onnxruntime", 0.5))
    chosen = picks(rows)[0]
    assert chosen["name"] == "d.onnx"
    assert any(c["status"] == "excluded" and "FAIL" in c["why"] for c in chosen["candidates"])


def test_auto_measures_every_candidate_backend(tiny_export: dict[str, Any]) -> None:
    result = run_bench(tiny_export["model"], [tiny_export["dir"]], BenchConfig(backend="auto", **FAST))
    assert result.settings["backend"] == "auto"
    ran = {(r.name, r.backend) for r in result.rows if r.status == "ok"}
    expected = {("eager", "torch"), ("model.onnx", "onnxruntime"), ("model.pt2", "pt2"), ("model.ts", "torchscript")}
    # and every other backend that runs these formats here: torch.compile of the module, OpenVINO on the .onnx
    from edgekit.backends.registry import BACKENDS

    for backend, name in (("torch-compile", "eager"), ("openvino", "model.onnx")):
        if BACKENDS[backend].unavailable_reason() is None:
            expected.add((name, backend))
    assert ran == expected
    pick = result.picks[0]
    eager_p50 = rows_by(result, name="eager")[0].latency.p50  # type: ignore[union-attr]
    assert pick["p50_ms"] <= eager_p50


def test_disturbed_rows_and_a_busy_machine_are_flagged() -> None:
    from edgekit.bench.run import stability_notes

    steady = _row("eager", "torch", 1.0)
    disturbed = BenchRow(
        "m.onnx",
        None,
        "onnx",
        "onnxruntime",
        "fp32",
        1,
        "ok",
        latency=LatencyStats.from_ns([100_000] * 3 + [5_000_000] * 7),
    )
    notes = stability_notes([steady, disturbed], busy=0.0, threads=2)
    assert "unstable" in disturbed.details and "unstable" not in steady.details
    assert len(notes) == 1 and "m.onnx [onnxruntime] b1" in notes[0]
    import os

    busy = stability_notes([steady], busy=float(os.cpu_count() or 1), threads=os.cpu_count() or 1)
    assert len(busy) == 1 and "cores busy" in busy[0]
