"""The GPU table of issue 7: per recipe and batch size, p50 latency of

  - torch eager (fp32, the baseline),
  - torch CUDA graph through edgekit's runner (``torch-cudagraph``),
  - a bare hand-written ``CUDAGraph.replay()`` loop on the same model (copy-in + replay + synchronize, like the
    runner), to show the runner's overhead (target: runner <= 1.2x bare),
  - ONNX Runtime's CUDA EP with I/O binding,
  - ONNX Runtime's CUDA EP with ``enable_cuda_graph`` ("refused" with ORT's reason where it will not capture),

timed interleaved round-robin in one process (TRAPS.md: block-after-block timing drifts by up to 20 %), each call
synchronized. Every runner row is verified against eager fp32 first; ``auto`` (edgekit.backends.selection) then
says what it would pick. Writes ``gpu_table.json`` and ``gpu_table.md`` to ``--out``.

Usage (on a GPU machine):  python benchmarks/gpu_table.py --batches 1 32 --rounds 1000
Without a CUDA GPU it prints why and exits 3. It has not been run on a GPU in this repository yet.
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edgekit.backends.probes import cuda_status  # noqa: E402
from edgekit.core.errors import one_line  # noqa: E402

COLUMNS = ("eager", "cudagraph", "bare", "ort_iobinding", "ort_cudagraph")
TITLES = {
    "eager": "torch eager",
    "cudagraph": "torch CUDA graph (edgekit)",
    "bare": "bare CUDAGraph.replay()",
    "ort_iobinding": "ORT CUDA EP, I/O binding",
    "ort_cudagraph": "ORT CUDA EP + enable_cuda_graph",
}
BACKENDS = {
    "eager": "torch",
    "cudagraph": "torch-cudagraph",
    "ort_iobinding": "onnxruntime",
    "ort_cudagraph": "onnxruntime-cudagraph",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Time eager, CUDA-graph and ORT CUDA rows per recipe on a GPU.")
    p.add_argument("--recipes", nargs="*", default=None, help="recipe names (default: all)")
    p.add_argument("--batches", nargs="*", type=int, default=[1, 32])
    p.add_argument("--rounds", type=int, default=1000, help="timed round-robin rounds")
    p.add_argument("--warmup", type=int, default=50, help="untimed calls per candidate first")
    p.add_argument(
        "--precision",
        default="fp32",
        choices=["fp32", "fp16", "bf16"],
        help="precision of the CUDA-graph runner and the bare loop (eager and ORT stay fp32)",
    )
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    return p.parse_args(argv)


def bare_replay(model: Any, feed: dict[str, Any], precision: str) -> Callable[[], Any]:
    """The reference loop: static inputs, side-stream warm-up, one capture, then copy-in + replay + synchronize."""
    import torch

    from edgekit.backends.precision import precision_forward, tf32

    forward = precision_forward(copy.deepcopy(model.module).cuda().eval(), precision, "cast", "cuda", False)
    inputs = [torch.from_numpy(feed[n]).cuda() for n in model.input_names]
    static = [t.clone() for t in inputs]
    stream = torch.cuda.Stream()
    with torch.no_grad(), tf32(False):
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                forward(*static)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=stream):
            forward(*static)

    def call() -> None:
        for s, t in zip(static, inputs, strict=True):
            s.copy_(t, non_blocking=True)
        graph.replay()
        torch.cuda.synchronize()

    return call


def prepare(
    column: str, model: Any, onnx_path: Path, feed: dict[str, Any], precision: str, row: dict[str, Any]
) -> Callable[[], Any] | None:
    """Create, verify and warm one candidate; record its status in ``row``; None when it cannot be timed."""
    from edgekit.artifacts.verify import verify_runner
    from edgekit.backends.precision import tolerance_for
    from edgekit.backends.registry import create_runner

    if column == "bare":
        return bare_replay(model, feed, precision)
    runner: Any
    if column == "eager":
        runner = create_runner(
            "torch", copy.deepcopy(model.module), device="cuda", inputs=model.input_names, outputs=model.outputs
        )
    elif column == "cudagraph":
        runner = create_runner("torch-cudagraph", model, device="cuda", precision=precision)
    else:
        runner = create_runner("onnxruntime-cudagraph", onnx_path, device="cuda", graph=column == "ort_cudagraph")
    runner.activate()
    p = precision if column == "cudagraph" else "fp32"
    tol = tolerance_for(p, "cuda", model.atol, model.rtol)
    result = verify_runner(model, runner, column, column, atol=tol.atol, rtol=tol.rtol)
    row[f"{column}_verified"] = result.passed
    row[f"{column}_details"] = {k: v for k, v in runner.details.items() if k != "fallback_shapes"}
    if not result.passed:
        row[f"{column}_status"] = "FAIL: " + "; ".join(result.failures())[:300]
    if column == "ort_cudagraph" and "fallback" in runner.details:
        row[f"{column}_status"] = f"refused: {runner.details['fallback']}"
        return None
    call = runner.timed_call(feed)

    def in_context() -> Any:  # one call per round here, so the runner's timing context is entered per call
        with runner.timing_context():
            return call()

    return in_context


def time_round_robin(calls: dict[str, Callable[[], Any]], rounds: int, warmup: int) -> dict[str, list[float]]:
    """Milliseconds per call, one call of each candidate per round, the starting candidate rotating."""
    names = list(calls)
    for name in names:
        for _ in range(warmup):
            calls[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for i in range(len(names)):
            name = names[(r + i) % len(names)]
            start = time.perf_counter_ns()
            calls[name]()
            times[name].append((time.perf_counter_ns() - start) / 1e6)
    return times


def measure(name: str, batch: int, args: argparse.Namespace, onnx_path: Path) -> dict[str, Any]:
    """One table row: every column prepared, verified, timed interleaved; the auto decision."""
    from edgekit.backends.selection import choose
    from edgekit.core.spec import random_inputs
    from edgekit.intake.load import load_model

    model = load_model(name)
    feed = random_inputs(model.inputs, {s.name: {0: batch} for s in model.inputs}, seed=batch)
    row: dict[str, Any] = {"recipe": name, "batch": batch, "precision": args.precision}
    calls: dict[str, Callable[[], Any]] = {}
    for column in COLUMNS:
        try:
            call = prepare(column, model, onnx_path, feed, args.precision, row)
        except Exception as exc:  # one broken column must not lose the table
            row[f"{column}_status"] = f"error: {one_line(exc)}"
            continue
        if call is not None:
            calls[column] = call
    for column, samples in time_round_robin(calls, args.rounds, args.warmup).items():
        row[f"{column}_ms"] = statistics.median(samples)
        row[f"{column}_p90_ms"] = sorted(samples)[int(0.9 * (len(samples) - 1))]
    if row.get("cudagraph_ms") and row.get("bare_ms"):
        row["runner_over_bare"] = row["cudagraph_ms"] / row["bare_ms"]
    if row.get("eager_ms"):
        row["auto"] = choose([_candidate(row, c, args.precision) for c in BACKENDS]).to_json()
    return row


def _candidate(row: dict[str, Any], column: str, precision: str) -> Any:
    from edgekit.backends.selection import Candidate

    status = row.get(f"{column}_status", "")
    return Candidate(
        BACKENDS[column],
        precision if column == "cudagraph" else "fp32",
        row.get(f"{column}_ms"),
        verified=bool(row.get(f"{column}_verified")),
        available=not status.startswith(("error", "refused")),
        reason=status,
    )


def cell(row: dict[str, Any], column: str) -> str:
    if f"{column}_ms" in row:
        speedup = row.get("eager_ms", 0) / row[f"{column}_ms"]
        return f"{row[f'{column}_ms']:.3f} ({speedup:.2f}x)" + ("" if row.get(f"{column}_verified", True) else " FAIL")
    return row.get(f"{column}_status", "-").split(":")[0]


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"# GPU table: {meta['device']}",
        "",
        f"p50 latency in ms (speedup vs torch eager), {meta['rounds']} interleaved rounds, synchronized calls; "
        f"CUDA-graph runner and bare loop in {meta['precision']}, TF32 off. torch {meta['torch']}, "
        f"onnxruntime {meta['onnxruntime']}.",
        "",
        "| recipe | batch | " + " | ".join(TITLES[c] for c in COLUMNS) + " | runner / bare | auto |",
        "|---|---|" + "---|" * (len(COLUMNS) + 2),
    ]
    for r in rows:
        ratio = f"{r['runner_over_bare']:.2f}" if r.get("runner_over_bare") else "-"
        auto = r.get("auto", {}).get("chosen", {}).get("backend", "-")
        lines.append(
            f"| {r['recipe']} | {r['batch']} | " + " | ".join(cell(r, c) for c in COLUMNS) + f" | {ratio} | {auto} |"
        )
    notes = [
        f"- {r['recipe']} b{r['batch']} {c}: {r[f'{c}_status']}" for r in rows for c in COLUMNS if f"{c}_status" in r
    ]
    return "\n".join(lines + ([""] + ["Notes:"] + notes if notes else [])) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ok, reason = cuda_status()
    if not ok:
        print(f"gpu_table: {reason}; run it on a machine with an NVIDIA GPU and a CUDA build of torch", file=sys.stderr)
        return 3
    import onnxruntime as ort
    import torch

    from edgekit.core.io import write_json, write_text
    from edgekit.export.onnx import export_onnx
    from edgekit.intake.load import load_model
    from edgekit.training.recipe import recipe_names

    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # eager in true fp32 too
    names = args.recipes or recipe_names()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            onnx_path = Path(tmp) / f"{name}.onnx"
            export_onnx(load_model(name), onnx_path)
            for batch in args.batches:
                rows.append(measure(name, batch, args, onnx_path))
                print(markdown(rows[-1:], _meta(args, reason, torch, ort)).splitlines()[-1], flush=True)
    meta = _meta(args, reason, torch, ort)
    write_json(args.out / "gpu_table.json", {"meta": meta, "rows": rows})
    write_text(args.out / "gpu_table.md", markdown(rows, meta))
    print(f"wrote {args.out / 'gpu_table.md'} and gpu_table.json")
    return 0


def _meta(args: argparse.Namespace, device: str, torch: Any, ort: Any) -> dict[str, Any]:
    return {
        "device": device,
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "python": platform.python_version(),
        "rounds": args.rounds,
        "warmup": args.warmup,
        "precision": args.precision,
        "batches": args.batches,
        "tf32": False,
    }


if __name__ == "__main__":
    sys.exit(main())
