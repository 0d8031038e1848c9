"""Verification: run an artifact on fresh random inputs at the example shape and at two other sizes along every
dynamic axis, and compare every output with eager PyTorch (max abs / max rel diff, cosine, pass or fail).

Every output of every shape is reported (after Optimum's validator), not just the first failure. A model whose
eager output changes between two identical runs is reported as nondeterministic rather than as a broken export.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from edgekit.backends.base import Runner
from edgekit.core.errors import BadInput, EdgekitError, one_line
from edgekit.core.model import LoadedModel
from edgekit.core.spec import random_inputs, shape_plan


@dataclasses.dataclass
class OutputCheck:
    """One output at one shape."""

    name: str
    shape: list[int]
    max_abs: float
    max_rel: float
    cosine: float
    passed: bool
    note: str = ""


@dataclasses.dataclass
class ShapeCheck:
    """All outputs at one set of input shapes; ``error`` is set when the artifact failed to run there."""

    label: str
    shapes: dict[str, list[int]]
    outputs: list[OutputCheck]
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(o.passed for o in self.outputs)


@dataclasses.dataclass
class Verification:
    """The verdict on one artifact."""

    artifact: str
    format: str
    backend: str
    atol: float
    rtol: float
    checks: list[ShapeCheck]
    nondeterministic: bool = False
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.nondeterministic and all(c.passed for c in self.checks)

    @property
    def status(self) -> str:
        if self.nondeterministic:
            return "nondeterministic"
        return "pass" if self.passed else "FAIL"

    @property
    def max_abs(self) -> float:
        return max((o.max_abs for c in self.checks for o in c.outputs), default=float("nan"))

    def failures(self) -> list[str]:
        """One line per failing shape or output."""
        lines = []
        for c in self.checks:
            if c.error:
                lines.append(f"{c.label}: {c.error}")
            lines += [
                f"{c.label}: {o.name} max_abs={o.max_abs:.3g} max_rel={o.max_rel:.3g} {o.note}".rstrip()
                for o in c.outputs
                if not o.passed
            ]
        return lines

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.update(status=self.status, passed=self.passed, max_abs=self.max_abs)
        return data


def compare_arrays(name: str, got: np.ndarray, ref: np.ndarray, atol: float, rtol: float) -> OutputCheck:
    """Compare ``got`` with the reference ``ref`` elementwise: pass when |got-ref| <= atol + rtol*|ref|."""
    if got.shape != ref.shape:
        return OutputCheck(
            name,
            list(got.shape),
            float("inf"),
            float("inf"),
            float("nan"),
            False,
            f"shape {list(got.shape)} != eager {list(ref.shape)}",
        )
    g, r = got.astype(np.float64), ref.astype(np.float64)
    if g.size == 0:
        return OutputCheck(name, list(got.shape), 0.0, 0.0, 1.0, True)
    diff = np.abs(g - r)
    nonfinite = not (np.isfinite(g).all() and np.isfinite(r).all())
    max_abs = float(np.nanmax(diff)) if not nonfinite else float("inf")
    max_rel = float(np.nanmax(diff / (np.abs(r) + 1e-12))) if not nonfinite else float("inf")
    denom = float(np.linalg.norm(g) * np.linalg.norm(r))
    cosine = float(np.dot(g.ravel(), r.ravel()) / denom) if denom > 0 else float(np.array_equal(g, r))
    passed = bool(np.all(diff <= atol + rtol * np.abs(r))) and not nonfinite
    note = "non-finite values" if nonfinite else ""
    return OutputCheck(name, list(got.shape), max_abs, max_rel, cosine, passed, note)


def eager_outputs(model: LoadedModel, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Eager outputs on ``feed``.

    Raises:
        BadInput: eager PyTorch itself fails at these shapes (an axis declared dynamic that the model fixes).
    """
    try:
        return model.predict(feed)
    except Exception as exc:  # the user's model at a size it cannot take
        shapes = {k: list(v.shape) for k, v in feed.items()}
        dynamic = [f"{s.name}:{ax}" for s in model.inputs for ax in s.dynamic]
        raise BadInput(
            f"eager PyTorch fails at input shapes {shapes}: {one_line(exc, 200)}; "
            f"the dynamic axes ({', '.join(dynamic)}) must "
            f"accept other sizes: drop the --dynamic mark that the model does not support, or use "
            f"--static"
        ) from exc


def is_nondeterministic(model: LoadedModel, feed: dict[str, np.ndarray]) -> bool:
    """True when two identical eager runs disagree (sampling or dropout in forward)."""
    a, b = eager_outputs(model, feed), eager_outputs(model, feed)
    return any(not np.array_equal(a[k], b[k], equal_nan=True) for k in a)


def _label(sizes: dict[str, dict[int, int]]) -> str:
    if not sizes:
        return "example"
    parts = {f"axis{ax}={n}" for axes in sizes.values() for ax, n in axes.items()}
    return ",".join(sorted(parts))


def verify_runner(
    model: LoadedModel,
    runner: Runner,
    artifact: str,
    fmt: str,
    *,
    samples: int = 1,
    seed: int = 1234,
    atol: float | None = None,
    rtol: float | None = None,
) -> Verification:
    """Verify an active ``runner`` against ``model`` (eager) at every shape of :func:`shape_plan`.

    Args:
        samples: fresh random draws per shape.
        seed: base seed of the random inputs (fresh inputs, never the export example).
        atol, rtol: tolerances; default the model's.
    """
    atol = model.atol if atol is None else atol
    rtol = model.rtol if rtol is None else rtol
    result = Verification(artifact, fmt, runner.backend, atol, rtol, [], details=dict(runner.details))
    for i, sizes in enumerate(shape_plan(model.inputs)):
        for s in range(samples):
            feed = random_inputs(model.inputs, sizes, seed + 97 * i + s)
            if i == 0 and s == 0 and is_nondeterministic(model, feed):
                result.nondeterministic = True
            label = _label(sizes) + (f"#{s + 1}" if samples > 1 else "")
            result.checks.append(_check_shape(model, runner, feed, label, atol, rtol))
    return result


def _check_shape(
    model: LoadedModel, runner: Runner, feed: dict[str, np.ndarray], label: str, atol: float, rtol: float
) -> ShapeCheck:
    shapes = {k: list(v.shape) for k, v in feed.items()}
    ref = eager_outputs(model, feed)
    try:
        got = runner.infer(feed)
    except EdgekitError as exc:
        return ShapeCheck(label, shapes, [], f"failed to run at {shapes}: {exc}")
    except Exception as exc:  # a backend failing at a new shape (a frozen axis) is a verdict, not a crash
        return ShapeCheck(label, shapes, [], f"failed to run at {shapes}: {type(exc).__name__}: {exc}")
    got_list = list(got.values())
    if len(got_list) != len(ref):
        return ShapeCheck(label, shapes, [], f"artifact returned {len(got_list)} outputs, eager {len(ref)}")
    outputs = [compare_arrays(name, g, ref[name], atol, rtol) for name, g in zip(ref, got_list, strict=True)]
    return ShapeCheck(label, shapes, outputs)


def verify_artifact(
    model: LoadedModel,
    path: str,
    fmt: str,
    backend: str | None = None,
    *,
    device: str = "cpu",
    samples: int = 1,
    atol: float | None = None,
    rtol: float | None = None,
) -> Verification:
    """Load the artifact at ``path`` with its format's backend (or ``backend``) and verify it.

    Raises:
        BadInput: the artifact does not load.
        BackendUnavailable: the backend cannot run here.
    """
    from edgekit.artifacts.formats import FORMATS
    from edgekit.backends.registry import create_runner

    name = backend or FORMATS[fmt].backend
    runner = create_runner(name, path, device=device, inputs=model.input_names, outputs=model.outputs)
    with runner:
        return verify_runner(model, runner, str(path), fmt, samples=samples, atol=atol, rtol=rtol)
