"""Every recipe x every backend available here x batch {1, 32}, in one run, with ratios to eager PyTorch and to
the bare-loop floor.

For each recipe the model (initial weights: latency does not depend on them) is exported to every format
available here (TorchScript, ExportedProgram, ONNX; a TensorRT engine on a GPU) and benchmarked with the library
entry point, :func:`edgekit.bench.run.run_bench` — eager PyTorch, every artifact and, for each, a bare loop over
the same session or module (``benchmarks/bare_loops.py``) timed interleaved in the same rounds. Reported per row:
p50, p99, the speedup over eager at the same batch (eager p50 / row p50), and the harness ratio (row p50 / bare-loop
p50; 1.00 = no harness cost).

    python benchmarks/bench_recipes.py [--recipes all] [--batches 1,32] [--seconds 1] [--threads N]

Writes ``benchmarks/results/bench_recipes-<host>.{json,md}``. Prints and records; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bare_loops import bare_for  # noqa: E402

TARGET_RECIPES = ("cnn", "lstm", "gru")
TARGET_SPEEDUP = 3.0
"""Issue 3's target: ONNX Runtime fp32 at batch 1 at least 3x faster than eager on cnn, lstm and gru."""


def bench_recipe(
    recipe: str, batches: tuple[int, ...], seconds: float, threads: int | None, tmp: Path
) -> dict[str, Any]:
    """Export ``recipe`` and benchmark it; returns the bench report (JSON form) plus export outcomes."""
    from edgekit.artifacts.formats import available_formats
    from edgekit.bench.config import BenchConfig
    from edgekit.bench.run import run_bench
    from edgekit.export.driver import export_all
    from edgekit.intake.load import load_model

    model = load_model(recipe)
    t0 = time.perf_counter()
    exports = export_all(model, available_formats(), tmp / recipe)
    export_s = time.perf_counter() - t0
    files = [r.path for r in exports if r.error is None and r.path is not None]
    config = BenchConfig(batches=batches, seconds=seconds, threads=threads, metric=False)
    result = run_bench(model, files, config, reference=bare_for)
    data = result.to_json()
    data["exports"] = [
        {"format": r.format, "status": r.status, "error": str(r.error) if r.error else None} for r in exports
    ]
    data["export_seconds"] = round(export_s, 1)
    return data


def table_rows(recipe: str, report: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for row in report["rows"]:
        lat = row.get("latency_ms")
        bare = (row.get("details") or {}).get("bare_loop")
        out.append(
            {
                "recipe": recipe,
                "artifact": row["name"],
                "backend": row["backend"],
                "batch": row["batch"],
                "status": row["status"],
                "reason": row.get("reason", ""),
                "p50_ms": lat["p50"] if lat else None,
                "p99_ms": lat["p99"] if lat else None,
                "vs_eager": row.get("speedup"),
                "bare_p50_ms": bare["p50_ms"] if bare else None,
                "vs_bare": lat["p50"] / bare["p50_ms"] if lat and bare else None,
                "max_abs_diff": (row.get("agreement") or {}).get("max_abs_diff"),
                "unstable": (row.get("details") or {}).get("unstable"),
            }
        )
    for e in report.get("exports", []):
        if e["error"]:
            out.append(
                {
                    "recipe": recipe,
                    "artifact": f"({e['format']})",
                    "backend": "-",
                    "batch": None,
                    "status": "export failed",
                    "reason": e["error"][:160],
                    "p50_ms": None,
                    "p99_ms": None,
                    "vs_eager": None,
                    "bare_p50_ms": None,
                    "vs_bare": None,
                    "max_abs_diff": None,
                }
            )
    return out


def _f(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def markdown(
    rows: list[dict[str, Any]],
    host: dict[str, Any],
    settings: dict[str, Any],
    load_before: Any,
    reports: dict[str, Any],
) -> str:
    busy = sorted({r["settings"].get("busy_cores_start") for r in reports.values()} - {None})
    lines = [
        "# Recipes x backends x batch: latency on this host",
        "",
        f"- host: {host['cpu']}, {host['cores_logical']} logical / {host['cores_physical']} physical cores, "
        f"{host['memory_gb']} GiB, GPU: {host['gpu']['name'] if host.get('gpu') else 'none'}",
        f"- load average before / after the run: {load_before} / {host['load_average']}; cores kept busy by "
        f"other processes when each recipe started: {busy[0] if busy else '?'} to {busy[-1] if busy else '?'} "
        f"(a shared machine: ratios measured interleaved are what to read)",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in host["versions"].items()),
        f"- {settings['threads']} threads, batches {settings['batches']}, {settings['seconds']} s per candidate "
        f"and batch, interleaved round-robin in ~10 ms blocks; models at initial weights (latency only)",
        "- vs eager = eager p50 / row p50 (same run, same batch); vs bare = row p50 / bare-loop p50 over the same "
        "session or module (1.00 = the harness adds nothing)",
        "",
    ]
    targets = [r for r in rows if r["recipe"] in TARGET_RECIPES and r["backend"] == "onnxruntime" and r["batch"] == 1]
    if targets:
        lines += ["Target (issue 3): ONNX Runtime fp32, batch 1, >= 3x eager on cnn, lstm, gru:", ""]
        for t in targets:
            ok = t["vs_eager"] is not None and t["vs_eager"] >= TARGET_SPEEDUP
            lines.append(
                f"- {t['recipe']}: {_f(t['vs_eager'], '.2f')}x "
                f"({_f(t['p50_ms'], '.4f')} ms vs eager) — {'met' if ok else 'NOT met'}"
            )
        lines.append("")
    lines += [
        "| recipe | artifact | backend | batch | p50 ms | p99 ms | vs eager | bare p50 ms | vs bare | "
        "max abs diff vs eager | status |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        status = r["status"] if r["status"] == "ok" else f"{r['status']}: {r['reason'][:90]}".replace("|", "/")
        if r.get("unstable"):
            status += f" (unstable: {r['unstable']})"
        lines.append(
            f"| {r['recipe']} | `{r['artifact']}` | {r['backend']} | {r['batch'] or '-'} | "
            f"{_f(r['p50_ms'], '.4f')} | {_f(r['p99_ms'], '.4f')} | {_f(r['vs_eager'], '.2f')} | "
            f"{_f(r['bare_p50_ms'], '.4f')} | {_f(r['vs_bare'], '.3f')} | {_f(r['max_abs_diff'], '.1e')} | "
            f"{status} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from edgekit.bench.host import host_info, host_slug, load_average
    from edgekit.core.io import write_json, write_text
    from edgekit.training.recipe import recipe_names

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", default="all", help="comma-separated, or all")
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--seconds", type=float, default=1.0, help="per candidate and batch")
    ap.add_argument("--threads", type=int, default=None, help="default: this machine's cores")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args(argv)
    recipes = recipe_names() if args.recipes == "all" else [r.strip() for r in args.recipes.split(",")]
    batches = tuple(int(b) for b in args.batches.split(","))
    load_before = load_average()
    reports: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-recipes-") as tmp:
        for recipe in recipes:
            t0 = time.perf_counter()
            reports[recipe] = bench_recipe(recipe, batches, args.seconds, args.threads, Path(tmp))
            new = table_rows(recipe, reports[recipe])
            rows += new
            shown = ", ".join(
                f"{r['backend']} b{r['batch']} {_f(r['vs_eager'], '.2f')}x"
                for r in new
                if r["status"] == "ok" and r["backend"] != "torch"
            )
            print(f"{recipe} ({time.perf_counter() - t0:.0f} s): {shown}", flush=True)
    host = host_info()
    threads = next(iter(reports.values()))["settings"]["threads"] if reports else args.threads
    settings = {
        "batches": list(batches),
        "seconds": args.seconds,
        "threads": threads,
        "total_seconds": round(time.perf_counter() - start, 1),
    }
    md = markdown(rows, host, settings, load_before, reports)
    print(md)
    suffix = f"-{threads}t" if threads != host["cores_logical"] else ""
    stem = args.out / f"bench_recipes-{host_slug(host)}{suffix}"
    write_json(stem.with_suffix(".json"), {"host": host, "settings": settings, "rows": rows, "reports": reports})
    write_text(stem.with_suffix(".md"), md)
    print(f"wrote {stem}.json and {stem}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
