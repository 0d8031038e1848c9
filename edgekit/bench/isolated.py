"""Time one benchmark subject alone in a process of its own (the thread-pool trap, TRAPS.md: with OpenVINO's TBB
loaded, torch eager ran 2.1-8.8x slower in the same process; ONNX Runtime's spinning pool slowed it 2.8x).

The parent writes a JSON spec and runs ``python -m edgekit.bench.isolated SPEC OUT``; the child builds the same
runner on the same inputs (the same seeded feed as :meth:`edgekit.bench.subjects.Subject.feed`), times it with
the same loop and budget, and writes its per-call samples (ns) to ``OUT``. :func:`compare` then says whether the
in-process interleaved figure and the own-process one differ, and which one the row reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

DIFFER = 0.10
"""In-process and own-process p50 differ when they are more than this fraction apart (of the smaller one)."""


def spec_of(
    subject: Any, batches: list[int], config: Any, model_ref: str | None, checkpoint: str | None
) -> dict[str, Any]:
    """What the child needs to rebuild ``subject`` (a :class:`~edgekit.bench.subjects.Subject`) and time it at
    each of ``batches`` (one child per subject: it loads once).

    Raises:
        ValueError: an eager-module subject whose model is no reference the child can load (a LoadedModel given
            as an object): it cannot be timed in another process.
    """
    if subject.artifact is None and model_ref is None:
        raise ValueError("the eager model was given as an object, not a reference a child process can load")
    return {
        "backend": subject.backend,
        "artifact": str(subject.artifact.path) if subject.artifact is not None else None,
        "model": model_ref if subject.artifact is None else None,
        "checkpoint": checkpoint if subject.artifact is None else None,
        "inputs": [s.to_json() for s in subject.model.inputs],
        "outputs": list(subject.model.outputs),
        "options": dict(subject.options),
        "batches": list(batches),
        "device": config.device,
        "threads": config.thread_count,
        "budget": dict(config.budget),
        "warmup": config.warmup,
    }


def time_in_own_process(spec: dict[str, Any], timeout: float = 300.0) -> dict[int, np.ndarray]:
    """Run the child for ``spec`` and return its samples (ns) per batch.

    Raises:
        RuntimeError: the child failed or timed out (its last stderr line).
    """
    with tempfile.TemporaryDirectory(prefix="edgekit-iso-") as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_path.write_text(json.dumps(spec))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        try:
            done = subprocess.run(
                [sys.executable, "-m", "edgekit.bench.isolated", str(spec_path), str(out_path)],
                capture_output=True, text=True, timeout=timeout, env=env, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"own-process timing took over {timeout:.0f} s") from exc
        if done.returncode != 0 or not out_path.is_file():
            last = [ln for ln in done.stderr.splitlines() if ln.strip()][-1:] or [f"exit {done.returncode}"]
            raise RuntimeError(f"own-process timing failed: {last[0][:200]}")
        got = json.loads(out_path.read_text())["samples_ns"]
        return {int(b): np.asarray(x, dtype=np.int64) for b, x in got.items()}


def compare(in_process_ms: float, own_ms: float) -> dict[str, Any]:
    """How a row was timed: ``own process`` when the two medians differ by more than :data:`DIFFER`, else
    ``in-process interleaved``; both figures kept."""
    gap = abs(in_process_ms - own_ms) / max(min(in_process_ms, own_ms), 1e-12)
    return {
        "timed": "own process" if gap > DIFFER else "in-process interleaved",
        "in_process_p50_ms": in_process_ms,
        "own_process_p50_ms": own_ms,
        "in_vs_own": round(in_process_ms / own_ms, 3) if own_ms > 0 else None,
    }


def retime(
    subjects: list[Any], rows: list[Any], config: Any, model_ref: str | None, checkpoint: str | None
) -> list[str]:
    """Time every subject that was timed in-process again alone in a process of its own, at the same batches and
    budget; each row gets ``details["timed"]`` and both medians, and where they differ (:func:`compare`) the row's
    latency becomes the own-process one. Returns notes for the report (subjects that could not be re-timed).
    """
    from edgekit.bench.timing import LatencyStats

    notes = []
    for s in subjects:
        key = (s.name, s.backend, s.precision, s.format)
        mine = [r for r in rows if (r.name, r.backend, r.precision, r.format) == key and r.latency is not None]
        if not mine:
            continue
        try:
            spec = spec_of(s, [r.batch for r in mine], config, model_ref, checkpoint)
            own = time_in_own_process(spec)
            if any(_median_ms(own[r.batch]) > (1 + DIFFER) * r.latency.p50 for r in mine):
                again = time_in_own_process(spec)  # a slower child may itself have been disturbed: best of two
                own = {b: min(own[b], again[b], key=_median_ms) for b in own}
        except (ValueError, RuntimeError) as exc:
            for r in mine:
                r.details.update({"timed": "in-process interleaved", "own_process": f"not measured: {exc}"})
            notes.append(f"{s.label}: timed in-process only ({exc})")
            continue
        for r in mine:
            stats = LatencyStats.from_ns(own[r.batch])
            verdict = compare(r.latency.p50, stats.p50)
            r.details.update(verdict)
            if verdict["timed"] == "own process":
                r.latency, r.throughput = stats, stats.throughput(r.batch)
    return notes


def _median_ms(samples: np.ndarray) -> float:
    return float(np.median(samples)) / 1e6


def model_reference(model: Any) -> tuple[str | None, str | None]:
    """``(MODEL reference, checkpoint)`` a child process can load: the string given, or what a
    :class:`~edgekit.core.model.LoadedModel`'s ``source`` names (``recipe:cnn`` -> ``cnn``, ``factory:f.py:make``
    -> ``f.py:make``, ``pt2:m.pt2`` -> ``m.pt2``)."""
    if isinstance(model, str):
        return model, None
    source = getattr(model, "source", None)
    if not isinstance(source, str) or ":" not in source:
        return None, None
    return source.split(":", 1)[1], getattr(model, "checkpoint", None)


def _child(spec: dict[str, Any]) -> dict[str, list[int]]:
    """Build the runner the spec names, time it alone at each batch, return its samples (ns) per batch."""
    from edgekit.backends.registry import create_runner
    from edgekit.bench.timing import Candidate, time_interleaved
    from edgekit.core.spec import InputSpec, random_inputs

    specs = [InputSpec.from_json(s) for s in spec["inputs"]]
    target: Any = spec["artifact"]
    if target is None:
        from edgekit.intake.load import load_model

        shapes = [f"{s.name}:{'x'.join(map(str, s.shape))}:{s.dtype}" for s in specs]
        target = load_model(spec["model"], checkpoint=spec["checkpoint"], inputs=shapes)
    runner = create_runner(
        spec["backend"], target, device=spec["device"], threads=spec["threads"],
        inputs=[s.name for s in specs], outputs=spec["outputs"], **spec["options"],
    )  # fmt: skip
    out = {}
    with runner:
        for batch in spec["batches"]:
            feed = random_inputs(specs, {s.name: {0: batch} for s in specs}, seed=1000 + batch)
            cand = Candidate(runner.timed_call(feed), spec["backend"], runner.timing_context)
            samples = time_interleaved([cand], warmup=spec["warmup"], **spec["budget"])[0]
            out[str(batch)] = [int(x) for x in samples]
    return out


def main(argv: list[str]) -> int:
    """``python -m edgekit.bench.isolated SPEC.json OUT.json``; native library output is silenced."""
    from edgekit.core.quiet import native_quiet

    spec = json.loads(Path(argv[0]).read_text())
    with native_quiet():
        samples = _child(spec)
    Path(argv[1]).write_text(json.dumps({"samples_ns": samples}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
