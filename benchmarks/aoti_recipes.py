"""AOTInductor packages of every recipe: compile time, verification, and latency beside eager PyTorch and the
``.pt2`` ExportedProgram, measured with the library entry point (:func:`edgekit.bench.run.run_bench`: interleaved
rounds, one process, ratios rather than absolute times).

Per recipe: the ``.pt2`` and ``.aoti.pt2`` exports (initial weights), the AOTInductor compile in seconds (export
excluded), the package's verification at the shape plan, and p50 at batch 1 for eager, pt2 and aoti with the
ratios eager/aoti and pt2/aoti (> 1: the package is faster).

    python benchmarks/aoti_recipes.py [--recipes all] [--seconds 1] [--threads N]

Writes ``benchmarks/results/aoti_recipes.{json,md}``. Prints and records; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def run_recipe(recipe: str, seconds: float, threads: int | None, tmp: Path) -> dict[str, Any]:
    """Export ``recipe`` to pt2 and aoti and bench both beside eager; one JSON-ready row."""
    from edgekit.artifacts.formats import FORMATS
    from edgekit.bench.run import BenchConfig, run_bench
    from edgekit.export.driver import export_all
    from edgekit.intake.load import load_model

    model = load_model(recipe)
    start = time.perf_counter()
    results = {r.format: r for r in export_all(model, [FORMATS["pt2"], FORMATS["aoti"]], tmp / recipe)}
    row: dict[str, Any] = {"recipe": recipe, "export_s": round(time.perf_counter() - start, 1)}
    aoti = results["aoti"]
    row["aoti_status"] = aoti.status
    row["compile_s"] = aoti.details.get("compile_seconds")
    row["failures"] = aoti.verification.failures()[:3] if aoti.verification else [str(aoti.error)]
    files = [r.path for r in results.values() if r.error is None and r.path is not None]
    config = BenchConfig(batches=(1,), seconds=seconds, threads=threads, metric=False)
    bench = run_bench(model, files, config)
    p50 = {r.backend: r.latency.p50 for r in bench.rows if r.latency is not None}  # LatencyStats are in ms
    row["p50_ms"] = {k: round(v, 4) for k, v in p50.items()}
    if "aoti" in p50:
        row["vs_eager"] = round(p50["torch"] / p50["aoti"], 2)
        row["vs_pt2"] = round(p50["pt2"] / p50["aoti"], 2) if "pt2" in p50 else None
    row["unstable"] = [r.name for r in bench.rows if (r.details or {}).get("unstable")]
    return row


def render(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# AOTInductor packages of the 12 recipes",
        "",
        f"{meta['host']}; {meta['versions']}; batch 1, threads {meta['threads']}, {meta['seconds']} s per subject, "
        "interleaved (run_bench). compile s = AOTInductor compile only; ratios > 1: the package is faster.",
        "",
        "| recipe | aoti verified | compile s | eager p50 ms | pt2 p50 ms | aoti p50 ms | eager/aoti | pt2/aoti |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        p = r.get("p50_ms", {})
        lines.append(
            f"| {r['recipe']} | {r['aoti_status']} | {r.get('compile_s')} | {p.get('torch', '-')} | "
            f"{p.get('pt2', '-')} | {p.get('aoti', '-')} | {r.get('vs_eager', '-')} | {r.get('vs_pt2', '-')} |"
        )
    bad = [f"- {r['recipe']}: {f}" for r in rows for f in r.get("failures") or []]
    return "\n".join(lines + ([""] + bad if bad else []) + [""])


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="all")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    from edgekit.bench.host import host_info
    from edgekit.export.driver import versions
    from edgekit.training.recipe import recipe_names

    names = recipe_names() if args.recipes == "all" else args.recipes.split(",")
    host = host_info()
    meta = {
        "host": f"{host.get('cpu')}, {host.get('cores_logical')} logical cores",
        "versions": ", ".join(f"{k} {v}" for k, v in versions().items() if k in ("torch", "edgekit")),
        "threads": args.threads or "default",
        "seconds": args.seconds,
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            rows.append(run_recipe(name, args.seconds, args.threads, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "aoti_recipes.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    (RESULTS / "aoti_recipes.md").write_text(render(rows, meta))
    print(render(rows, meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
