"""The ``--backend auto`` rule: among measured candidates, pick the fastest one that passed verification, and never
one slower than eager PyTorch, which is always a candidate (ORT on 2 CPU cores was measured slower than eager for
ViT-tiny at batch 8, and ORT's CUDA EP slower than eager for transformers on an H100: see TRAPS.md).

The rule, in order:
  1. A candidate that is unavailable, failed verification, or has no finite median is excluded, with the reason.
     Eager fp32 (backend ``torch``) is the reference verification compares with, so it counts as verified.
  2. Among the rest, the lowest median wins. A candidate other than eager must beat eager's median by more than
     ``margin`` (a fraction, default 0: strictly faster) or eager is kept.
  3. Ties (equal medians) go to eager, then to the candidate listed first (callers list simpler paths first).

GPU-free and unit-tested. The caller (``edgekit bench --backend auto``) measures: it creates each candidate's runner,
verifies it (tolerances from :mod:`edgekit.backends.precision`) and times it interleaved with the others
(TRAPS.md: round-robin, one process), then calls :func:`choose` and prints :meth:`Decision.rows`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

from edgekit.core.errors import EdgekitError

EAGER = "torch"

# What auto measures per device, and in which order (simplest first, the tie-break order), is each registry row's
# ``devices`` and ``rank``; the precisions a backend derives from an fp32 model are its row's ``precisions``.


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One measured way of running the model.

    Args:
        backend: registry name (``torch``, ``torch-cudagraph``, ``onnxruntime`` ...).
        precision: fp32, fp16, bf16 or int8.
        median_ms: median latency per call; None when it could not be measured.
        verified: passed verification against eager fp32 at the precision's tolerances.
        available: the backend runs on this machine.
        reason: why it is unavailable, failed, or what ran (shown in the report).
    """

    backend: str
    precision: str = "fp32"
    median_ms: float | None = None
    verified: bool = False
    available: bool = True
    reason: str = ""

    @property
    def label(self) -> str:
        """``backend`` for fp32, ``backend/precision`` otherwise."""
        return self.backend if self.precision == "fp32" else f"{self.backend}/{self.precision}"

    @property
    def is_eager(self) -> bool:
        return self.backend == EAGER and self.precision == "fp32"


@dataclasses.dataclass(frozen=True)
class Assessment:
    """What the rule made of one candidate.

    Args:
        candidate: the candidate.
        status: ``chosen``, ``eligible`` (passed, not fastest) or ``excluded``.
        why: one line.
        speedup: eager median / this median (None when not measured).
    """

    candidate: Candidate
    status: str
    why: str
    speedup: float | None


@dataclasses.dataclass(frozen=True)
class Decision:
    """The outcome of :func:`choose`.

    Args:
        chosen: the winning candidate.
        candidates: every candidate with its assessment, in the order given.
        explanation: one sentence for the report.
    """

    chosen: Candidate
    candidates: list[Assessment]
    explanation: str

    def rows(self) -> list[dict[str, Any]]:
        """One dict per candidate: backend, precision, median_ms, speedup, verified, available, status, why."""
        return [
            {
                "backend": a.candidate.backend,
                "precision": a.candidate.precision,
                "median_ms": a.candidate.median_ms,
                "speedup": a.speedup,
                "verified": a.candidate.verified,
                "available": a.candidate.available,
                "status": a.status,
                "why": a.why,
            }
            for a in self.candidates
        ]

    def to_json(self) -> dict[str, Any]:
        return {"chosen": dataclasses.asdict(self.chosen), "explanation": self.explanation, "candidates": self.rows()}


def _measured(c: Candidate) -> bool:
    return c.median_ms is not None and math.isfinite(c.median_ms) and c.median_ms > 0


def exclusion(c: Candidate) -> str | None:
    """Why ``c`` cannot be chosen, or None when it can."""
    if not c.available:
        return f"unavailable: {c.reason}" if c.reason else "unavailable on this machine"
    if not (c.verified or c.is_eager):
        return f"failed verification: {c.reason}" if c.reason else "failed verification against eager fp32"
    if not _measured(c):
        return f"not measured: {c.reason}" if c.reason else "not measured"
    return None


def choose(candidates: Sequence[Candidate], margin: float = 0.0) -> Decision:
    """Apply the auto rule (module doc) to ``candidates``.

    Args:
        candidates: the measured candidates; exactly one must be eager fp32 (backend ``torch``).
        margin: fraction by which a non-eager candidate must beat eager (0.05: at least 5 % faster).

    Raises:
        EdgekitError: no eager fp32 candidate, or eager was not measured: the rule needs its baseline.
    """
    eager = [c for c in candidates if c.is_eager]
    if len(eager) != 1:
        raise EdgekitError(
            f"auto needs exactly one eager fp32 candidate (backend '{EAGER}'), got {len(eager)} among "
            f"{[c.label for c in candidates]}; always measure eager PyTorch as the baseline"
        )
    base = eager[0]
    problem = exclusion(base)
    if problem is not None or base.median_ms is None:
        raise EdgekitError(
            f"auto cannot decide: the eager baseline is {problem}; every other backend is compared "
            f"with it, so fix eager PyTorch on this device first"
        )
    base_ms = base.median_ms
    bar = base_ms * (1.0 - margin)
    eligible = [c for c in candidates if exclusion(c) is None]
    winner = base
    for c in eligible:  # strictly lower wins, so ties keep eager, then the earlier candidate
        ms = c.median_ms if c.median_ms is not None else math.inf
        if not c.is_eager and ms < bar and ms < (winner.median_ms or math.inf):
            winner = c
    assessed = [_assess(c, winner, base_ms, margin) for c in candidates]
    return Decision(winner, assessed, _explain(winner, base_ms, len(eligible), len(candidates)))


def _assess(c: Candidate, winner: Candidate, base_ms: float, margin: float) -> Assessment:
    speedup = base_ms / c.median_ms if _measured(c) and c.median_ms else None
    problem = exclusion(c)
    if problem is not None:
        return Assessment(c, "excluded", problem, speedup)
    ms = c.median_ms or math.nan
    if c is winner:
        why = (
            "eager baseline kept: no verified candidate is faster"
            if c.is_eager
            else f"fastest verified: {ms:.4g} ms, {speedup or 0:.2f}x eager"
        )
        return Assessment(c, "chosen", why, speedup)
    if not c.is_eager and ms >= base_ms:
        why = f"not faster than eager ({ms:.4g} vs {base_ms:.4g} ms)"
    elif not c.is_eager and ms >= base_ms * (1.0 - margin):
        why = f"within the {margin:.0%} margin of eager ({ms:.4g} vs {base_ms:.4g} ms)"
    elif ms == winner.median_ms:
        why = f"tied with {winner.label} ({ms:.4g} ms), which is listed first"
    else:
        why = f"slower than {winner.label} ({ms:.4g} vs {winner.median_ms:.4g} ms)"
    return Assessment(c, "eligible", why, speedup)


def _explain(winner: Candidate, base_ms: float, eligible: int, total: int) -> str:
    if winner.is_eager:
        return (
            f"auto chose eager PyTorch ({base_ms:.4g} ms): none of the {total - 1} other candidates was both "
            f"verified and faster"
        )
    ms = winner.median_ms or math.nan
    return (
        f"auto chose {winner.label}: {ms:.4g} ms vs eager {base_ms:.4g} ms ({base_ms / ms:.2f}x), fastest of "
        f"{eligible} verified candidates out of {total}"
    )


def candidates_for(
    device: str, available_backends: Iterable[str], precisions: Sequence[str] = ("fp32",)
) -> list[tuple[str, str]]:
    """What ``auto`` should measure on ``device``: ``(backend, precision)`` pairs, eager fp32 first.

    Args:
        device: ``cpu`` or ``cuda``.
        available_backends: registered backends usable here (unknown names are ignored; eager is always added).
        precisions: precisions the user allows. Reduced precisions are tried only on a GPU and only by backends
            that derive them from the fp32 model (their registry row's ``precisions``); eager stays fp32, the reference.

    Raises:
        EdgekitError: an unknown device.
    """
    from edgekit.backends.registry import ranked

    if device not in ("cpu", "cuda"):
        raise EdgekitError(f"unknown device '{device}'; expected cpu or cuda")
    usable = set(available_backends) | {EAGER}
    plan: list[tuple[str, str]] = []
    for row in ranked():
        if row.name not in usable or device not in row.devices:
            continue
        plan.append((row.name, "fp32"))
        if device == "cuda":
            plan += [(row.name, p) for p in precisions if p != "fp32" and p in row.precisions]
    return plan
