"""Every recipe and three real architectures (``benchmarks/edge_models.py``: ResNet-18, MobileNetV2, ViT-tiny from
``transformers`` configs) x {eager, torch.compile, ONNX Runtime, OpenVINO, ExecuTorch, NCNN} x batch 1 and 8.

Each model is exported to onnx, openvino, executorch and ncnn (every artifact verified at its shape plan; the
manifest's max abs diff is the one reported) and benchmarked with ``--backend auto`` through the library entry point
(:func:`edgekit.bench.run.run_bench`, ``isolate=True``): every engine is timed interleaved in one process and again
alone in a process of its own; where the medians differ the row reports the own-process one (column ``timed``).
Checked per model and batch: auto's pick is never slower than the fastest single engine of the run (within 5 %).

    python benchmarks/edge_table.py [--models all|cnn,resnet18,...] [--seconds 0.4] [--threads N]

Writes ``benchmarks/results/edge_table-<host>.{json,md}`` after every model (a partial run is still a table).
Prints and records; asserts nothing. The machine this ran on is shared: say so, and read ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from edge_models import INPUTS  # noqa: E402

ENGINES = {  # column -> (artifact name, backend)
    "eager": ("eager", "torch"),
    "torch.compile": ("eager", "torch-compile"),
    "ORT": ("model.onnx", "onnxruntime"),
    "OpenVINO": ("model.xml", "openvino"),
    "ExecuTorch": ("model.pte", "executorch"),
    "NCNN": ("model.ncnn.param", "ncnn"),
}
FORMATS = "onnx,openvino,executorch,ncnn"
TOLERANCE = 1.05


def model_ref(name: str) -> tuple[str, list[str]]:
    """The MODEL reference and --input values of a recipe or an edge_models architecture."""
    if name in INPUTS:
        return f"{Path(__file__).resolve().parent / 'edge_models.py'}:{name}", [INPUTS[name]]
    return name, []


def bench_model(name: str, seconds: float, threads: int | None, tmp: Path) -> dict[str, Any]:
    """Export ``name`` to the edge formats and bench it with auto + own-process timing; returns its table part."""
    from edgekit.artifacts.formats import parse_formats
    from edgekit.bench.run import BenchConfig, run_bench
    from edgekit.export.driver import export_all
    from edgekit.intake.load import load_model

    ref, inputs = model_ref(name)
    model = load_model(ref, inputs=inputs)
    t0 = time.perf_counter()
    exports = export_all(model, parse_formats(FORMATS), tmp / name)
    export_s = time.perf_counter() - t0
    config = BenchConfig(batches=(1, 8), seconds=seconds, threads=threads, backend="auto", isolate=True,
                         metric=False, warmup=5)  # fmt: skip
    result = run_bench(model, [tmp / name], config).to_json()
    return {
        "model": name,
        "export_s": round(export_s, 1),
        "exports": {r.format: _export_summary(r) for r in exports},
        "rows": [_row(r) for r in result["rows"]],
        "picks": [
            {k: p[k] for k in ("batch", "name", "backend", "p50_ms", "speedup", "explanation")} for p in result["picks"]
        ],  # fmt: skip
        "notes": result["notes"],
        "host": result["host"],
    }


def _export_summary(r: Any) -> dict[str, Any]:
    if r.error is not None:
        return {"status": "error", "error": str(r.error)}
    worst = max((o.max_abs for c in r.verification.checks for o in c.outputs), default=None)
    return {"status": r.status, "max_abs_diff": worst, "frozen_axes": r.details.get("frozen_axes", [])}


def _row(r: dict[str, Any]) -> dict[str, Any]:
    lat, d = r.get("latency_ms") or {}, r.get("details") or {}
    return {
        "name": r["name"], "backend": r["backend"], "batch": r["batch"], "status": r["status"],
        "reason": r.get("reason", ""), "p50_ms": lat.get("p50"), "speedup": r.get("speedup"),
        "max_abs_diff": (r.get("agreement") or {}).get("max_abs_diff"), "timed": d.get("timed"),
        "in_process_p50_ms": d.get("in_process_p50_ms"), "own_process_p50_ms": d.get("own_process_p50_ms"),
        "compile_s": d.get("compile_s"), "verification": r.get("verification"),
    }  # fmt: skip


def auto_check(part: dict[str, Any]) -> list[dict[str, Any]]:
    """Per batch: auto's pick vs the fastest single engine measured (ok and verified rows) in the same run."""
    out = []
    for pick in part["picks"]:
        rows = [r for r in part["rows"] if r["batch"] == pick["batch"] and r["p50_ms"] is not None]
        ok = [r for r in rows if r["verification"] in (None, "pass")]
        best = min(ok, key=lambda r: r["p50_ms"])
        out.append({"batch": pick["batch"], "auto": f"{pick['name']} [{pick['backend']}]", "auto_p50": pick["p50_ms"],
                    "fastest": f"{best['name']} [{best['backend']}]", "fastest_p50": best["p50_ms"],
                    "ok": pick["p50_ms"] <= TOLERANCE * best["p50_ms"]})  # fmt: skip
    return out


def _cell(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def markdown(parts: list[dict[str, Any]], seconds: float, started: str) -> str:
    """The committed table: per model and batch, each engine's p50, speedup vs eager, max abs diff, timing."""
    host = parts[0]["host"] if parts else {}
    lines = [
        "# Edge targets side by side: eager, torch.compile, ORT, OpenVINO, ExecuTorch, NCNN",
        "",
        f"- host: {host.get('cpu')}, {host.get('cores_logical')} logical cores; started {started}; "
        f"budget {seconds} s per candidate and batch; **shared with other agents while it ran: noisy**.",
        "- timed: `own process` = the in-process interleaved median differed by > 10 % from the same engine timed "
        "alone in its own process, so the own-process figure is reported; else `in-process interleaved`.",
        "- max abs diff: agreement with eager on random inputs at that batch (verification at the shape plan "
        "passed for every artifact listed). Random weights: latency does not depend on them.",
        "",
        "| model | batch | engine | p50 ms | vs eager | max abs diff | timed | in-proc / own p50 ms |",
        "|---|---:|---|---:|---:|---:|---|---|",
    ]
    for part in parts:
        for batch in (1, 8):
            for col, (art, backend) in ENGINES.items():
                r = next(
                    (x for x in part["rows"] if (x["name"], x["backend"], x["batch"]) == (art, backend, batch)), None
                )
                if r is None:
                    err = part["exports"].get({"ORT": "onnx", "OpenVINO": "openvino", "ExecuTorch": "executorch",
                                               "NCNN": "ncnn"}.get(col, ""), {}).get("error")  # fmt: skip
                    lines.append(f"| {part['model']} | {batch} | {col} | - | - | - | not exported: {err or '-'} | |")
                    continue
                if r["p50_ms"] is None:
                    lines.append(
                        f"| {part['model']} | {batch} | {col} | - | - | - | {r['status']}: {r['reason'][:90]} | |"
                    )
                    continue
                both = f"{_cell(r['in_process_p50_ms'], '.4g')} / {_cell(r['own_process_p50_ms'], '.4g')}"
                lines.append(
                    f"| {part['model']} | {batch} | {col} | {r['p50_ms']:.4g} | {_cell(r['speedup'], '.2f')}x | "
                    f"{_cell(r['max_abs_diff'], '.2g')} | {r['timed']} | {both} |"
                )
    lines += ["", "## --backend auto vs the fastest single engine of the same run (within 5 %)", ""]
    lines += ["| model | batch | auto's pick | p50 ms | fastest single engine | p50 ms | ok |"]
    lines += ["|---|---:|---|---:|---|---:|---|"]
    for part in parts:
        for c in auto_check(part):
            lines.append(
                f"| {part['model']} | {c['batch']} | {c['auto']} | {c['auto_p50']:.4g} | {c['fastest']} | "
                f"{c['fastest_p50']:.4g} | {'yes' if c['ok'] else 'NO'} |"
            )
    lines += ["", "## Export outcomes", "", "| model | format | status | max abs diff (shape plan) | frozen axes |"]
    lines += ["|---|---|---|---:|---|"]
    for part in parts:
        for fmt, e in part["exports"].items():
            status = e["status"] + (": " + e["error"][:160] if e.get("error") else "")
            frozen = ", ".join(e.get("frozen_axes") or []) or "-"
            lines.append(f"| {part['model']} | {fmt} | {status} | {_cell(e.get('max_abs_diff'), '.2g')} | {frozen} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    from edgekit.bench.host import host_info, host_slug
    from edgekit.training.recipe import recipe_names

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="all")
    ap.add_argument("--seconds", type=float, default=0.4)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    names = [*recipe_names(), *INPUTS] if args.models == "all" else args.models.split(",")
    out = Path(__file__).resolve().parent / "results"
    stem = out / f"edge_table-{host_slug(host_info())}"
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    parts: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="edgekit-edge-") as tmp:
        for name in names:
            t0 = time.perf_counter()
            parts.append(bench_model(name, args.seconds, args.threads, Path(tmp)))
            print(f"{name}: {time.perf_counter() - t0:.0f} s; auto check {auto_check(parts[-1])}", flush=True)
            stem.with_suffix(".json").write_text(json.dumps({"started": started, "models": parts}, indent=1))
            stem.with_suffix(".md").write_text(markdown(parts, args.seconds, started))
    print(f"wrote {stem}.md and .json")


if __name__ == "__main__":
    main()
