"""Does the harness distort what it measures? The ONNX Runtime latency ``edgekit bench`` reports vs a bare
``session.run`` loop's median, measured in the same process, interleaved.

For each recipe (default cnn, lstm, gru) the model is exported to ONNX and benchmarked with the library entry
point (:func:`edgekit.bench.run.run_bench`, eager PyTorch included as always), with a bare loop over the very same
``InferenceSession`` timed in the same interleaved rounds (blocks of ~10 ms, round-robin with the eager and ONNX
Runtime candidates). The run is repeated ``--rounds`` times. Reported: bench p50, bare-loop p50, and the
overhead ``bench / bare - 1`` per round and its median. Target: |overhead| <= 3 %.

    python benchmarks/harness_overhead.py [--recipes cnn,lstm,gru] [--batches 1,32] [--seconds 1] [--rounds 3]

Writes ``benchmarks/results/harness_overhead-<host>.{json,md}``. Prints and records; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bare_loops import bare_for  # noqa: E402

TARGET_PCT = 3.0


def measure(
    recipe: str, batches: tuple[int, ...], seconds: float, rounds: int, threads: int | None, tmp: Path
) -> list[dict[str, Any]]:
    """One record per (round, batch): bench p50, bare p50, overhead %."""
    from edgekit.artifacts.formats import FORMATS
    from edgekit.bench.config import BenchConfig
    from edgekit.bench.run import run_bench
    from edgekit.export.driver import export_all
    from edgekit.intake.load import load_model

    model = load_model(recipe)
    results = export_all(model, [FORMATS["onnx"]], tmp / recipe)
    if results[0].error is not None:
        raise SystemExit(f"{recipe}: ONNX export failed: {results[0].error}")
    config = BenchConfig(batches=batches, seconds=seconds, threads=threads, accuracy=False)
    out = []
    for r in range(rounds):
        result = run_bench(model, [results[0].path], config, reference=bare_for)  # type: ignore[list-item]
        for row in result.rows:
            if row.backend != "onnxruntime" or row.latency is None or "bare_loop" not in row.details:
                continue
            bare = row.details["bare_loop"]["p50_ms"]
            out.append(
                {
                    "recipe": recipe,
                    "round": r + 1,
                    "batch": row.batch,
                    "bench_p50_ms": row.latency.p50,
                    "bare_p50_ms": bare,
                    "overhead_pct": 100.0 * (row.latency.p50 / bare - 1.0),
                    "bench_calls": row.latency.count,
                    "bare_calls": row.details["bare_loop"]["count"],
                    "threads": result.settings["threads"],
                }
            )
        print(
            f"{recipe} round {r + 1}: "
            + ", ".join(
                f"b{x['batch']} {x['bench_p50_ms']:.4f} vs {x['bare_p50_ms']:.4f} ms ({x['overhead_pct']:+.2f} %)"
                for x in out
                if x["round"] == r + 1
            ),
            flush=True,
        )
    return out


def summarize(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (recipe, batch): the median over rounds of bench p50, bare p50 and overhead, and the worst round."""
    keys = sorted({(r["recipe"], r["batch"]) for r in records}, key=lambda k: (k[0], k[1]))
    out = []
    for recipe, batch in keys:
        rs = [r for r in records if r["recipe"] == recipe and r["batch"] == batch]
        out.append(
            {
                "recipe": recipe,
                "batch": batch,
                "bench_p50_ms": statistics.median(r["bench_p50_ms"] for r in rs),
                "bare_p50_ms": statistics.median(r["bare_p50_ms"] for r in rs),
                "overhead_pct": statistics.median(r["overhead_pct"] for r in rs),
                "worst_round_pct": max((r["overhead_pct"] for r in rs), key=abs),
                "rounds": len(rs),
            }
        )
    return out


def markdown(summary: list[dict[str, Any]], host: dict[str, Any], settings: dict[str, Any]) -> str:
    lines = [
        "# Harness overhead: `edgekit bench` vs a bare `session.run` loop (ONNX Runtime, CPU)",
        "",
        f"- host: {host['cpu']}, {host['cores_logical']} logical cores, load average {host['load_average']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in host["versions"].items()),
        f"- {settings['threads']} threads; {settings['seconds']} s per candidate and batch; {settings['rounds']} "
        f"rounds; bench and bare loop share one InferenceSession, interleaved with eager PyTorch in blocks",
        f"- target: |overhead| <= {TARGET_PCT} %",
        "",
        "| recipe | batch | bench p50 ms | bare loop p50 ms | overhead (median of rounds) | worst round | verdict |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for s in summary:
        verdict = "ok" if abs(s["overhead_pct"]) <= TARGET_PCT else "over target"
        lines.append(
            f"| {s['recipe']} | {s['batch']} | {s['bench_p50_ms']:.4f} | {s['bare_p50_ms']:.4f} | "
            f"{s['overhead_pct']:+.2f} % | {s['worst_round_pct']:+.2f} % | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from edgekit.bench.host import host_info, host_slug
    from edgekit.core.io import write_json, write_text

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", default="cnn,lstm,gru")
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--seconds", type=float, default=1.0, help="per candidate and batch, per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args(argv)
    batches = tuple(int(b) for b in args.batches.split(","))
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="edgekit-overhead-") as tmp:
        for recipe in args.recipes.split(","):
            records += measure(recipe.strip(), batches, args.seconds, args.rounds, args.threads, Path(tmp))
    summary = summarize(records)
    host = host_info()
    settings = {
        "seconds": args.seconds,
        "rounds": args.rounds,
        "batches": list(batches),
        "threads": records[0]["threads"] if records else args.threads,
    }
    md = markdown(summary, host, settings)
    print(md)
    stem = args.out / f"harness_overhead-{host_slug(host)}"
    write_json(stem.with_suffix(".json"), {"host": host, "settings": settings, "summary": summary, "rounds": records})
    write_text(stem.with_suffix(".md"), md)
    print(f"wrote {stem}.json and {stem}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
