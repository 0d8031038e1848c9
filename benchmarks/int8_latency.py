"""INT8 latency on ONNX Runtime's CPU EP: fp32 vs edgekit's two INT8 encodings vs ORT's own quantize_static.

For each recipe (default: cnn) at one batch size (default 32):

* ``fp32``            -- edgekit's fp32 ONNX export;
* ``int8 trt``        -- edgekit's TensorRT encoding (symmetric int8, zero point 0), run in ORT for reference;
* ``int8 ort``        -- edgekit's ONNX Runtime encoding (uint8 activations) of the same ranges;
* ``ort static``      -- ``onnxruntime.quantization.quantize_static`` (QDQ, uint8 activations, int8 per-channel
  weights) calibrated on the same batches.

The shared machine makes back-to-back timing unreliable (TRAPS.md), so candidates are timed round-robin in one
process (one call of each per round, in a shuffled order, ``--rounds`` rounds), with ``intra_op_num_threads``
fixed and recorded; medians and ratios to fp32 are reported, with an A/A control (a second session on the fp32
file) whose ratio shows the noise floor. The ORT-optimized graph of each candidate is summarized (which int8
kernels fired). Writes ``int8_latency.json`` and ``int8_latency.md`` to ``--out``.

Usage: ``python benchmarks/int8_latency.py [--recipes cnn,defect] [--batch 32] [--rounds 1000] [--threads 2]``
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def build_candidates(
    recipe_name: str, work: Path, epochs: int, calib_batches: int, checkpoint: Path | None
) -> tuple[dict[str, Path], dict[str, np.ndarray], dict[str, Any]]:
    """Train (or load) the recipe's model, export fp32, quantize with edgekit (PTQ min/max) and with ORT's
    quantize_static; return the candidate files, one input batch source and notes."""
    from edgekit.export.onnx import export_onnx
    from edgekit.intake.load import load_model
    from edgekit.quant.onnx_int8 import export_qdq, make_ort_encoding
    from edgekit.quant.ptq import batches_of, calibrate
    from edgekit.training.train import train_recipe

    loaded = load_model(recipe_name, checkpoint=checkpoint)
    inner: Any = loaded.module.module  # the recipe's module inside FlatOutputs
    recipe = loaded.recipe
    if recipe is None:
        raise SystemExit(f"{recipe_name} is not a recipe")
    if checkpoint is None:
        trained, _ = train_recipe(recipe, epochs=epochs)
        inner.load_state_dict(trained.state_dict())
        loaded.module.eval()
    data = recipe.data()
    batches = batches_of(data.train, loaded.input_names, 32, calib_batches)
    files = {
        "fp32": work / f"{recipe_name}.fp32.onnx",
        "int8 trt": work / f"{recipe_name}.int8.trt.onnx",
        "int8 ort": work / f"{recipe_name}.int8.ort.onnx",
        "ort static": work / f"{recipe_name}.ortqs.onnx",
    }
    notes: dict[str, Any] = {"fp32_export": export_onnx(loaded, files["fp32"])}
    q = calibrate(loaded, batches, "minmax")
    export_qdq(q.model, files["int8 trt"])
    notes["ort_reencoding"] = make_ort_encoding(files["int8 trt"], files["int8 ort"], batches)
    ort_static(files["fp32"], files["ort static"], batches, work)
    return files, {k: v for k, v in data.val.items() if k in loaded.input_names}, notes


def ort_static(fp32: Path, out: Path, batches: list[dict[str, np.ndarray]], work: Path) -> None:
    """ORT's recommended static QDQ quantization: pre-processing, uint8 activations, int8 per-channel weights."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.it = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    pre = work / (fp32.stem + ".pre.onnx")
    cwd = os.getcwd()
    os.chdir(work)  # ORT's tools may drop helper files (external data) into the working directory
    try:
        try:
            quant_pre_process(str(fp32), str(pre))
        except Exception:  # its symbolic shape inference fails on some graphs; ONNX shape inference alone then
            quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
        )
    finally:
        os.chdir(cwd)


def session(path: Path, threads: int, optimized: Path | None = None) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    if optimized is not None:
        opts.optimized_model_filepath = str(optimized)
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def kernels(path: Path, threads: int, work: Path) -> dict[str, int]:
    """Op counts of the graph ORT actually runs (after its optimizations)."""
    import onnx

    opt = work / (path.stem + ".optimized.onnx")
    session(path, threads, opt)
    return dict(Counter(n.op_type for n in onnx.load(str(opt)).graph.node))


def time_round_robin(
    files: dict[str, Path], feed: dict[str, np.ndarray], threads: int, rounds: int, warmup: int = 50, seed: int = 0
) -> dict[str, list[float]]:
    """One call of each candidate per round, in a fresh random order each round (no candidate always follows
    the slow one); per-call wall times in seconds."""
    sessions = {k: session(p, threads) for k, p in files.items()}
    runs: dict[str, Callable[[], Any]] = {k: functools.partial(s.run, None, feed) for k, s in sessions.items()}
    for _ in range(warmup):
        for run in runs.values():
            run()
    times: dict[str, list[float]] = {k: [] for k in files}
    order = list(runs)
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        rng.shuffle(order)
        for k in order:
            t = time.perf_counter()
            runs[k]()
            times[k].append(time.perf_counter() - t)
    return times


def accuracy(files: dict[str, Path], recipe_name: str, threads: int) -> dict[str, float]:
    """The recipe's headline metric for every candidate, in ORT."""
    from edgekit.training.recipe import get_recipe

    recipe = get_recipe(recipe_name)
    data = recipe.data()
    out = {}
    for k, p in files.items():
        s = session(p, threads)
        names = [o.name for o in s.get_outputs()]

        def predict(feed: dict[str, np.ndarray], s: Any = s, names: list[str] = names) -> dict[str, np.ndarray]:
            return dict(zip(names, s.run(None, feed), strict=True))

        out[k] = recipe.task.evaluate(predict, data, recipe)[recipe.task.metric]
    return out


def run(
    recipes: list[str], batch: int, rounds: int, threads: int, epochs: int, out: Path, checkpoint: Path | None
) -> dict[str, Any]:
    import onnxruntime

    results: dict[str, Any] = {
        "batch": batch,
        "rounds": rounds,
        "threads": threads,
        "onnxruntime": onnxruntime.__version__,
        "machine": platform.processor() or platform.machine(),
        "method": "round-robin, medians",
        "recipes": {},
    }
    for name in recipes:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            files, val, notes = build_candidates(name, work, epochs, 16, checkpoint)
            n = len(next(iter(val.values())))
            idx = np.arange(batch) % n
            feed = {k: np.ascontiguousarray(v[idx]) for k, v in val.items()}
            # a second session on the fp32 file: the spread between identical candidates (the noise floor)
            times = time_round_robin({**files, "fp32 (A/A control)": files["fp32"]}, feed, threads, rounds)
            med = {k: float(np.median(v)) for k, v in times.items()}
            results["recipes"][name] = {
                "median_ms": {k: v * 1e3 for k, v in med.items()},
                "ratio_to_fp32": {k: v / med["fp32"] for k, v in med.items()},
                "metric": {**accuracy(files, name, threads), "fp32 (A/A control)": float("nan")},
                "ort_kernels": {**{k: kernels(p, threads, work) for k, p in files.items()}, "fp32 (A/A control)": {}},
                "notes": notes,
            }
    out.mkdir(parents=True, exist_ok=True)
    (out / "int8_latency.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "int8_latency.md").write_text(markdown(results))
    return results


INT8_KERNELS = ("QLinear", "QGemm", "MatMulInteger", "DynamicQuant", "Nhwc")


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"# INT8 latency, ONNX Runtime {results['onnxruntime']} CPU EP, batch {results['batch']}, "
        f"{results['threads']} threads, {results['rounds']} rounds round-robin (medians)",
        "",
        "| recipe | candidate | median ms | ratio to fp32 | metric | int8 kernels ORT ran |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results["recipes"].items():
        for k, ms in r["median_ms"].items():
            ks = {op: c for op, c in r["ort_kernels"][k].items() if op.startswith(INT8_KERNELS)}
            lines.append(
                f"| {name} | {k} | {ms:.3f} | {r['ratio_to_fp32'][k]:.3f} | {r['metric'][k]:.4f} | "
                f"{', '.join(f'{op}x{c}' for op, c in ks.items()) or '-'} |"
            )
    lines += [
        "",
        "Backends: `int8 trt` is the file for TensorRT (ORT runs it only as a reference, its symmetric "
        "activations keep ReLU and pooling in float there); `int8 ort` is the file for ONNX Runtime.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", default="cnn", help="comma-separated recipe names")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2, help="intra_op_num_threads for every session")
    parser.add_argument("--epochs", type=int, default=5, help="fp32 training epochs when no --checkpoint")
    parser.add_argument("--checkpoint", type=Path, default=None, help="fp32 weights (one recipe only)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    results = run(
        args.recipes.split(","), args.batch, args.rounds, args.threads, args.epochs, args.out, args.checkpoint
    )
    print(markdown(results))


if __name__ == "__main__":
    main()
