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
from edgekit.core.spec import dim_groups, link_notes, random_inputs, shape_plan_named

DATA_CHUNK = 8
"""Samples per ``data#k`` check when the batch is dynamic."""
DATA_MAX_SAMPLES = 256
"""At most this many of a ``--data`` file's samples are verified."""


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


def eager_outputs(model: LoadedModel, feed: dict[str, np.ndarray], varied: str = "") -> dict[str, np.ndarray]:
    """Eager outputs on ``feed``.

    Args:
        varied: the plan entry's label (``seq=8``, ``data#2``): named in the message when eager fails.

    Raises:
        BadInput: eager PyTorch itself fails at these shapes (an axis declared dynamic that the model fixes, two
            axes that must be equal, a size below the axis' valid range), naming the axes varied and the fix.
    """
    try:
        return model.predict(feed)
    except Exception as exc:  # the user's model at a size it cannot take
        shapes = {k: list(v.shape) for k, v in feed.items()}
        raise BadInput(
            f"eager PyTorch fails at input shapes {shapes}{_varied_words(model, varied)}: {one_line(exc, 200)}; "
            f"{_eager_fix(model, varied)}"
        ) from exc


def _varied_words(model: LoadedModel, varied: str) -> str:
    dim, _, size = varied.partition("=")
    groups = dim_groups(model.inputs)
    if dim in groups:
        return f" (dim '{dim}' = {groups[dim].axes()} set to {size}, every other axis at its example size)"
    return f" ({varied})" if varied and varied != "example" else ""


def _eager_fix(model: LoadedModel, varied: str) -> str:
    """The fix to suggest: link the varied axes with an unvaried dynamic axis of another input of the same example
    size, or declare the axis' valid range."""
    groups = dim_groups(model.inputs)
    g = groups.get(varied.partition("=")[0].partition("#")[0])
    if g is None:
        dynamic = [f"{s.name}:{ax}" for s in model.inputs for ax in s.dynamic]
        return (
            f"the dynamic axes ({', '.join(dynamic)}) must accept other sizes: drop the --dynamic mark that the "
            f"model does not support, or use --static"
        )
    mine = {n for n, _ in g.members}
    others = [
        m
        for o in groups.values()
        if o is not g and o.example == g.example and not o.is_batch
        for m in o.members
        if m[0] not in mine
    ]
    link = " ".join(f"--dynamic {n}:{ax}=NAME" for n, ax in g.members + others[:1])
    fix = f"if these axes must be equal, link them: {link}; " if others else ""
    first = g.members[0]
    return (
        f"{fix}if the axis has a valid range, declare it: --dynamic {first[0]}:{first[1]}[=NAME]:MIN-MAX; or drop "
        f"the --dynamic mark the model does not support (--static for none)"
    )


def is_nondeterministic(model: LoadedModel, feed: dict[str, np.ndarray]) -> bool:
    """True when two identical eager runs disagree (sampling or dropout in forward)."""
    a, b = eager_outputs(model, feed), eager_outputs(model, feed)
    return any(not np.array_equal(a[k], b[k], equal_nan=True) for k in a)


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
    data: dict[str, np.ndarray] | None = None,
    data_source: str = "",
) -> Verification:
    """Verify an active ``runner`` against ``model`` (eager) at every shape of :func:`shape_plan_named`, then on
    ``data`` (real samples) if given.

    Args:
        samples: fresh random draws per shape.
        seed: base seed of the random inputs (fresh inputs, never the export example).
        atol, rtol: tolerances; default the model's.
        data: real samples, one array per input (axis 0: samples), checked in chunks labelled ``data#k``.
        data_source: words for the details (the file's name and sample count).
    """
    atol = model.atol if atol is None else atol
    rtol = model.rtol if rtol is None else rtol
    result = Verification(artifact, fmt, runner.backend, atol, rtol, [], details=dict(runner.details))
    notes = link_notes(model.inputs)
    if notes:
        result.details["notes"] = notes
    for i, (name, sizes) in enumerate(shape_plan_named(model.inputs)):
        for s in range(samples):
            feed = random_inputs(model.inputs, sizes, seed + 97 * i + s)
            if i == 0 and s == 0 and is_nondeterministic(model, feed):
                result.nondeterministic = True
            label = name + (f"#{s + 1}" if samples > 1 else "")
            result.checks.append(_check_shape(model, runner, feed, label, atol, rtol))
    random_checks = len(result.checks)
    if data is not None:
        for k, feed in enumerate(data_chunks(model, data)):
            result.checks.append(_check_shape(model, runner, feed, f"data#{k + 1}", atol, rtol))
    result.details["verified_on"] = {"random": random_checks, "data": data_source if data is not None else None}
    return result


def data_chunks(model: LoadedModel, data: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """``data``'s samples as feeds: chunks of :data:`DATA_CHUNK` samples where every input's batch is dynamic,
    else chunks of the static batch (the last one padded by repeating its last sample); at most
    :data:`DATA_MAX_SAMPLES` samples."""
    n = min(len(next(iter(data.values()))), DATA_MAX_SAMPLES)
    static = [s.shape[0] for s in model.inputs if 0 not in s.dynamic and s.shape]
    size = static[0] if static else DATA_CHUNK
    chunks = []
    for start in range(0, n, size):
        chunk = {k: v[start : min(start + size, n)] for k, v in data.items() if k in model.input_names}
        m = len(next(iter(chunk.values())))
        if static and m < size:
            chunk = {k: np.concatenate([v, np.repeat(v[-1:], size - m, axis=0)]) for k, v in chunk.items()}
        chunks.append(chunk)
    return chunks


def _check_shape(
    model: LoadedModel, runner: Runner, feed: dict[str, np.ndarray], label: str, atol: float, rtol: float
) -> ShapeCheck:
    shapes = {k: list(v.shape) for k, v in feed.items()}
    ref = eager_outputs(model, feed, label)
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
    data: dict[str, np.ndarray] | None = None,
    data_source: str = "",
) -> Verification:
    """Load the artifact at ``path`` with its format's backend (or ``backend``) and verify it (on ``data`` too,
    see :func:`verify_runner`).

    Raises:
        BadInput: the artifact does not load.
        BackendUnavailable: the backend cannot run here.
    """
    from edgekit.artifacts.formats import FORMATS
    from edgekit.backends.registry import create_runner

    name = backend or FORMATS[fmt].backend
    runner = create_runner(name, path, device=device, inputs=model.input_names, outputs=model.outputs)
    with runner:
        return verify_runner(
            model, runner, str(path), fmt, samples=samples, atol=atol, rtol=rtol, data=data, data_source=data_source
        )
