"""Verification: run an artifact on fresh random inputs at the example shape and at two other sizes along every
dynamic axis, and compare every output with eager PyTorch (max abs / max rel diff, cosine, SNR).

A verdict cannot pass on nothing: an output passes only when it is within ``atol + rtol*|eager|`` (``atol`` capped
at ``10*rtol`` of the output's own scale) *and* its cosine with eager reaches the precision's ``min_cosine``
(:data:`edgekit.backends.precision.TOLERANCES`); an output whose eager reference is empty, all zeros or within
``atol`` of zero everywhere is "not checked" (random inputs cannot tell a right file from zeros there), and an
artifact whose every output is not checked is "not checked", never "pass". An artifact that fails to run at a shape
is an "error" at that shape, not a difference; one that takes other input names or returns another number of
outputs says so.

Every output of every shape is reported (after Optimum's validator), not just the first failure. A model whose
eager output changes between two identical runs is reported as nondeterministic rather than as a broken export.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
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

NOT_CHECKED = "not checked"
NOT_CHECKED_FIX = (
    "load trained weights (--checkpoint) so that the outputs carry signal, or measure agreement on real inputs "
    "(edgekit bench MODEL ARTIFACT --data FILE.npz)"
)


@dataclasses.dataclass
class OutputCheck:
    """One output at one shape.

    ``status`` is ``pass``, ``FAIL`` or ``not checked`` (the reference carries nothing a comparison could see: empty,
    all zeros, or everywhere below ``atol``); ``passed`` is True only for ``pass``. ``scale`` is the largest
    ``|eager|``, ``snr_db`` the signal-to-noise ratio of the artifact's output against eager (inf when equal).
    """

    name: str
    shape: list[int]
    max_abs: float
    max_rel: float
    cosine: float
    passed: bool
    note: str = ""
    status: str = ""
    scale: float = float("nan")
    snr_db: float = float("nan")

    def __post_init__(self) -> None:
        if not self.status:
            self.status = "pass" if self.passed else "FAIL"


@dataclasses.dataclass
class ShapeCheck:
    """All outputs at one set of input shapes; ``error`` is set when the artifact failed to run there, ``kind``
    says how: ``run`` (it raised at these shapes), ``inputs`` (it takes other input names than the model),
    ``outputs`` (it returned another number of outputs than eager)."""

    label: str
    shapes: dict[str, list[int]]
    outputs: list[OutputCheck]
    error: str | None = None
    kind: str = "run"

    @property
    def passed(self) -> bool:
        return self.error is None and all(o.status != "FAIL" for o in self.outputs)


@dataclasses.dataclass
class Verification:
    """The verdict on one artifact: ``status`` is ``pass``, ``FAIL`` (an output differs from eager), ``error``
    (the artifact failed to run at a shape), ``not checked`` (every output was not checked: nothing was proven) or
    ``nondeterministic`` (eager itself is random). ``passed`` is True only for ``pass``."""

    artifact: str
    format: str
    backend: str
    atol: float
    rtol: float
    checks: list[ShapeCheck]
    nondeterministic: bool = False
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    min_cosine: float | None = None

    @property
    def status(self) -> str:
        outputs = [o for c in self.checks for o in c.outputs]
        if self.nondeterministic:
            return "nondeterministic"
        if any(c.error for c in self.checks):
            return "error"
        if any(o.status == "FAIL" for o in outputs):
            return "FAIL"
        if not outputs or all(o.status == NOT_CHECKED for o in outputs):
            return NOT_CHECKED
        return "pass"

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def max_abs(self) -> float:
        return max((o.max_abs for c in self.checks for o in c.outputs), default=float("nan"))

    def not_checked(self) -> list[str]:
        """Names of outputs that were not checked at some shape (sorted, unique)."""
        return sorted({o.name for c in self.checks for o in c.outputs if o.status == NOT_CHECKED})

    def errors(self) -> list[str]:
        """One line per shape the artifact failed to run at."""
        return [f"{c.label}: {c.error}" for c in self.checks if c.error]

    def failures(self) -> list[str]:
        """One line per failing shape or output."""
        lines = []
        for c in self.checks:
            if c.error:
                lines.append(f"{c.label}: {c.error}")
            lines += [
                f"{c.label}: {o.name} max_abs={o.max_abs:.3g} max_rel={o.max_rel:.3g} cosine={o.cosine:.4g} "
                f"{o.note}".rstrip()
                for o in c.outputs
                if o.status == "FAIL"
            ]
        return lines

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.update(status=self.status, passed=self.passed, max_abs=self.max_abs, not_checked=self.not_checked())
        return data


def _check(
    name: str, shape: list[int], metrics: tuple[float, float, float, float, float], ok: bool, note: str = ""
) -> OutputCheck:
    max_abs, max_rel, cosine, scale, snr = metrics
    return OutputCheck(name, shape, max_abs, max_rel, cosine, ok, note, "pass" if ok else "FAIL", scale, snr)


def _not_checked(name: str, shape: list[int], metrics: tuple[float, ...], why: str) -> OutputCheck:
    max_abs, max_rel, cosine, scale, snr = metrics
    return OutputCheck(name, shape, max_abs, max_rel, cosine, False, why, NOT_CHECKED, scale, snr)


def _metrics(g: np.ndarray, r: np.ndarray) -> tuple[float, float, float, float, float]:
    """max abs, max rel, cosine, scale (max |ref|) and SNR in dB of ``g`` against ``r`` (float64, finite)."""
    diff = np.abs(g - r)
    max_abs = float(diff.max())
    max_rel = float((diff / (np.abs(r) + 1e-12)).max())
    denom = float(np.linalg.norm(g) * np.linalg.norm(r))
    cosine = float(np.dot(g.ravel(), r.ravel()) / denom) if denom > 0 else float(np.array_equal(g, r))
    noise, signal = float(np.sum(diff**2)), float(np.sum(r**2))
    snr = float("inf") if noise == 0 else (10 * np.log10(signal / noise) if signal > 0 else float("-inf"))
    return max_abs, max_rel, cosine, float(np.abs(r).max()), snr


def compare_arrays(
    name: str,
    got: np.ndarray,
    ref: np.ndarray,
    atol: float,
    rtol: float,
    *,
    min_cosine: float | None = None,
    scale_fraction: float | None = None,
) -> OutputCheck:
    """Compare ``got`` with the reference ``ref``.

    ``pass`` needs ``|got-ref| <= atol' + rtol*|ref|`` everywhere, where ``atol' = min(atol, scale_fraction *
    max|ref|)`` (the tolerance relative to the output's own scale, when ``scale_fraction`` is given), and a cosine
    similarity of at least ``min_cosine`` (when given). A reference that is empty, all zeros or everywhere within
    ``atol`` of zero cannot tell a right output from zeros: ``not checked`` (unless the cosine alone already shows
    the output is wrong: ``FAIL``). Integer and boolean outputs must be equal.
    """
    shape = list(got.shape)
    if got.shape != ref.shape:
        return OutputCheck(
            name, shape, float("inf"), float("inf"), float("nan"), False, f"shape {shape} != eager {list(ref.shape)}"
        )
    if ref.size == 0:
        return _not_checked(name, shape, (0.0, 0.0, float("nan"), 0.0, float("nan")), "empty output (0 elements)")
    g, r = got.astype(np.float64), ref.astype(np.float64)
    if not (np.isfinite(g).all() and np.isfinite(r).all()):
        inf = float("inf")
        return OutputCheck(name, shape, inf, inf, float("nan"), False, "non-finite values")
    metrics = _metrics(g, r)
    scale, cosine = metrics[3], metrics[2]
    if scale == 0.0:
        return _not_checked(name, shape, metrics, "eager output is all zeros")
    if not np.issubdtype(ref.dtype, np.floating):
        return _check(name, shape, metrics, bool(np.array_equal(g, r)), "" if np.array_equal(g, r) else "not equal")
    low_cosine = min_cosine is not None and cosine < min_cosine
    if scale <= atol:
        if low_cosine:
            return _check(name, shape, metrics, False, f"cosine {cosine:.4g} < {min_cosine}")
        return _not_checked(name, shape, metrics, f"eager output peaks at {scale:.2g}, within atol {atol:g} of zero")
    bound = min(atol, scale_fraction * scale) if scale_fraction is not None else atol
    within = bool(np.all(np.abs(g - r) <= bound + rtol * np.abs(r)))
    if low_cosine:
        return _check(name, shape, metrics, False, f"cosine {cosine:.4g} < {min_cosine}")
    return _check(name, shape, metrics, within, "" if within else f"beyond atol {bound:.2g} + rtol {rtol:g}")


def eager_outputs(model: LoadedModel, feed: dict[str, np.ndarray], varied: str = "") -> dict[str, np.ndarray]:
    """Eager outputs on ``feed``.

    Args:
        varied: the plan entry's label (``seq=8``, ``data#2``): named in the message when eager fails.

    Raises:
        BadInput: eager PyTorch itself fails at these shapes (an axis declared dynamic that the model fixes, two
            axes that must be equal, a size below the axis' valid range), naming the axes varied and the fix; or
            it returns another number of outputs than at the example shape (a detector's per-image results).
    """
    import torch

    shapes = {k: list(v.shape) for k, v in feed.items()}
    try:
        with torch.inference_mode():
            outs = tuple(model.module(*model.tensors(feed)))
    except Exception as exc:  # the user's model at a size it cannot take
        raise BadInput(
            f"eager PyTorch fails at input shapes {shapes}{_varied_words(model, varied)}: {one_line(exc, 200)}; "
            f"{_eager_fix(model, varied)}"
        ) from exc
    if len(outs) != len(model.outputs):
        raise BadInput(
            f"the model returns {len(outs)} outputs at input shapes {shapes} but {len(model.outputs)} at the example "
            f"shape ({', '.join(model.outputs)}): its number of outputs changes with the input (a detector's "
            f"per-image results?); export needs a fixed set: return padded tensors, or use --static"
        )
    return {n: t.detach().cpu().numpy() for n, t in zip(model.outputs, outs, strict=True)}


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

    Besides ``atol``/``rtol``, every output must reach the precision's cosine similarity with eager
    (:data:`edgekit.backends.precision.TOLERANCES` ``min_cosine``, the runner's ``details["precision"]``, fp32 by
    default) and stay within ``10 * rtol`` of its own scale; see :func:`compare_arrays`.
    """
    from edgekit.backends.precision import TOLERANCES, tolerance_for

    atol = model.atol if atol is None else atol
    rtol = model.rtol if rtol is None else rtol
    precision = str(runner.details.get("precision") or "fp32")
    tol = tolerance_for(precision if precision in TOLERANCES else "fp32", runner.device, atol, rtol)
    judge = functools.partial(
        compare_arrays, atol=atol, rtol=rtol, min_cosine=tol.min_cosine, scale_fraction=10 * tol.rtol
    )
    result = Verification(artifact, fmt, runner.backend, atol, rtol, [], details=dict(runner.details))
    result.min_cosine = tol.min_cosine
    names = _input_names(runner)
    if names is not None and sorted(names) != sorted(model.input_names):
        why = f"takes inputs {names}, the model {model.input_names}"
        result.checks.append(ShapeCheck("example", {}, [], why, kind="inputs"))
        return result
    notes = link_notes(model.inputs)
    if notes:
        result.details["notes"] = notes
    for i, (name, sizes) in enumerate(shape_plan_named(model.inputs)):
        for s in range(samples):
            feed = random_inputs(model.inputs, sizes, seed + 97 * i + s)
            if i == 0 and s == 0 and is_nondeterministic(model, feed):
                result.nondeterministic = True
            label = name + (f"#{s + 1}" if samples > 1 else "")
            result.checks.append(_check_shape(model, runner, feed, label, judge))
    random_checks = len(result.checks)
    if data is not None:
        for k, feed in enumerate(data_chunks(model, data)):
            result.checks.append(_check_shape(model, runner, feed, f"data#{k + 1}", judge))
    result.details["verified_on"] = {"random": random_checks, "data": data_source if data is not None else None}
    return result


def _input_names(runner: Runner) -> list[str] | None:
    """The input names the loaded artifact declares, or None when it does not know them."""
    try:
        return [str(n) for n in runner.input_names()]
    except Exception:  # a runner that cannot say: its infer() checks the names
        return None


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
    model: LoadedModel,
    runner: Runner,
    feed: dict[str, np.ndarray],
    label: str,
    judge: Callable[[str, np.ndarray, np.ndarray], OutputCheck],
) -> ShapeCheck:
    """The outputs at one feed; a run that fails there is an error at that shape (not a difference)."""
    shapes = {k: list(v.shape) for k, v in feed.items()}
    ref = eager_outputs(model, feed, label)
    try:
        got = runner.infer(feed)
    except EdgekitError as exc:
        return ShapeCheck(label, shapes, [], f"failed to run at input shapes {shapes}: {exc}")
    except Exception as exc:  # a backend failing at a new shape (a frozen axis) is a verdict, not a crash
        return ShapeCheck(label, shapes, [], f"failed to run at input shapes {shapes}: {one_line(exc, 200)}")
    got_list = list(got.values())
    if len(got_list) != len(ref):
        return ShapeCheck(
            label,
            shapes,
            [],
            f"returned {len(got_list)} outputs at input shapes {shapes}, eager {len(ref)} ({', '.join(ref)})",
            kind="outputs",
        )
    return ShapeCheck(label, shapes, [judge(name, g, ref[name]) for name, g in zip(ref, got_list, strict=True)])


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
