"""How to benchmark: :class:`BenchConfig`, checked before any heavy work. Its own module so that the run
(:mod:`edgekit.bench.run`) and the subjects it measures (:mod:`edgekit.bench.subjects`) both use it without
importing each other.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from edgekit.core.errors import BadInput

DEFAULT_SECONDS = 2.0
DEVICES = ("cpu", "cuda")


@dataclasses.dataclass
class BenchConfig:
    """How to benchmark.

    Args:
        device: ``cpu`` or ``cuda``.
        threads: intra-op threads for every backend (torch and ONNX Runtime); default: the machine's cores.
        batches: batch sizes (axis 0 of every input).
        warmup: untimed calls per subject and batch.
        iters: timed calls per subject and batch; or
        seconds: timing budget per subject and batch (default :data:`DEFAULT_SECONDS` when neither is given).
        backend: ``None`` (each artifact's format default), ``auto`` (the fastest available per artifact), or
            backend names, comma-separated (each artifact runs on each of them that accepts its format).
        recipe: recipe name or path whose val split and metric score every artifact.
        data: ``.npz`` with one array per model input (+ optional ``labels``).
        precisions: on cuda, reduced precisions also tried by the backends that derive them from an fp32 model
            (``torch-cudagraph``, ``tensorrt``; see :mod:`edgekit.backends.selection`).
        interleave: time subjects round-robin (fair ratios on a shared machine) rather than one after another.
        isolate: also time every subject alone in a process of its own (:mod:`edgekit.bench.isolated`): engines'
            thread pools disturb each other in one process; where the two medians differ the row reports the
            own-process one, and every row says how it was timed (``details["timed"]``).
        accuracy: score artifacts (metric and agreement with eager); False skips scoring altogether.
        metric: with ``accuracy``, also compute the recipe's or --data's metric; False keeps only the agreement
            with eager (on --data inputs or random ones), e.g. for untrained models in ``benchmarks/``.
        manifest: check every artifact against the manifest beside it (sha256, existence) and use its verdicts;
            False (``--no-manifest``): bare files, judged only by the agreement measured in this run.
    """

    device: str = "cpu"
    threads: int | None = None
    batches: tuple[int, ...] = (1,)
    warmup: int = 10
    iters: int | None = None
    seconds: float | None = None
    backend: str | None = None
    recipe: str | None = None
    data: Path | None = None
    precisions: tuple[str, ...] = ("fp32",)
    interleave: bool = True
    isolate: bool = False
    accuracy: bool = True
    metric: bool = True
    manifest: bool = True

    def validate(self) -> None:
        """Check every option before any heavy work.

        Raises:
            BadInput: a bad batch, budget, thread count, device or backend name.
            BackendUnavailable: ``--device cuda`` without a CUDA GPU.
        """
        from edgekit.backends.registry import get_backend

        if not self.batches:
            raise BadInput("--batch is empty; expected sizes like 1 or 1,8,32")
        bad = [b for b in self.batches if b < 1]
        if bad:
            raise BadInput(f"--batch {bad[0]}: every batch size must be >= 1, got {list(self.batches)}")
        if self.iters is not None and self.seconds is not None:
            raise BadInput("give --iters or --seconds, not both")
        if self.iters is not None and self.iters < 1:
            raise BadInput(f"--iters must be >= 1, got {self.iters}")
        if self.seconds is not None and not self.seconds > 0:
            raise BadInput(f"--seconds must be > 0, got {self.seconds}")
        if self.warmup < 0:
            raise BadInput(f"--warmup must be >= 0, got {self.warmup}")
        if self.threads is not None and self.threads < 1:
            raise BadInput(f"--threads must be >= 1, got {self.threads}")
        if self.device not in DEVICES:
            from edgekit.core.errors import suggest

            raise BadInput(f"unknown device '{self.device}'; expected cpu or cuda.{suggest(self.device, DEVICES)}")
        for name in self.backend_names():
            get_backend(name)
        from edgekit.backends.precision import FLOAT_PRECISIONS, check_precision

        for p in self.precisions:
            check_precision(p, FLOAT_PRECISIONS)
        if self.device == "cuda":
            from edgekit.backends.probes import require_cuda

            require_cuda("--device cuda")

    def backend_names(self) -> list[str]:
        """The explicitly requested backends (empty for the default and for auto)."""
        if self.backend is None or self.backend == "auto":
            return []
        names = [n.strip() for n in self.backend.split(",") if n.strip()]
        if not names:
            raise BadInput("--backend is empty; expected a backend name, a comma-separated list, or auto")
        return names

    @property
    def budget(self) -> dict[str, Any]:
        if self.iters is None and self.seconds is None:
            return {"seconds": DEFAULT_SECONDS}
        return {"iters": self.iters} if self.iters is not None else {"seconds": self.seconds}

    @property
    def thread_count(self) -> int:
        return self.threads or os.cpu_count() or 1
