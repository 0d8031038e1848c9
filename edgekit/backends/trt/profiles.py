"""Optimization profiles: the min / opt / max shape of every engine input, as trtexec means them.

``--min-shape/--opt-shape/--max-shape NAME:DIMS`` take trtexec's spec: ``x:1x3x32x32``; several inputs in one
value separated by commas (``x:1x3x32x32,ids:1x20``); a name containing ``:`` quoted (``'in:0':1x3``); a 0-d
input written ``x:scalar``. The options may repeat. For an input named in some but not all three, the missing ones
are broadcast the way trtexec (10.x) does it: a missing min takes opt (else max), a missing opt takes max (else
min), a missing max takes opt (else min); so ``--opt-shape`` alone pins the input to one shape.

An input the user does not name gets a default range from its :class:`~edgekit.core.spec.InputSpec`: along every
dynamic axis min 1, opt the example size, and max 4x the example (at least 8) on the batch axis, 2x (at least
example + 3, and at least 8) on other axes; static axes are fixed at the example size; an axis with a declared
range (``--dynamic NAME:AXIS=DIM:MIN-MAX``) takes it (axes of one dim name share it). That range covers every size
:func:`edgekit.core.spec.shape_plan` verifies at.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from edgekit.core.errors import BadInput, suggest
from edgekit.core.spec import InputSpec

Shape = tuple[int, ...]

BATCH_MAX_FACTOR = 4
BATCH_MAX_FLOOR = 8
AXIS_MAX_FACTOR = 2
AXIS_MAX_EXTRA = 3
AXIS_MAX_FLOOR = 8
OPTIONS = {"min": "--min-shape", "opt": "--opt-shape", "max": "--max-shape"}


@dataclasses.dataclass(frozen=True)
class ShapeRange:
    """The shapes one input accepts in a profile: ``min <= shape <= max`` elementwise; TensorRT tunes for ``opt``."""

    min: Shape
    opt: Shape
    max: Shape

    def contains(self, shape: Sequence[int]) -> bool:
        """True when ``shape`` has this rank and lies between min and max on every axis."""
        shape = tuple(shape)
        return len(shape) == len(self.min) and all(lo <= d <= hi for lo, d, hi in zip(self.min, shape, self.max))

    def describe(self) -> str:
        """``min 1x3x32x32, opt 1x3x32x32, max 8x3x32x32``."""
        return f"min {format_dims(self.min)}, opt {format_dims(self.opt)}, max {format_dims(self.max)}"

    def to_json(self) -> dict[str, list[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


Profile = dict[str, ShapeRange]
"""One optimization profile: input name -> its shape range, in the model's input order."""


def format_dims(shape: Sequence[int]) -> str:
    """trtexec's spelling of a shape: ``1x3x32x32``; ``scalar`` for a 0-d tensor."""
    return "x".join(str(d) for d in shape) if len(shape) else "scalar"


def profile_to_json(profile: Mapping[str, ShapeRange]) -> dict[str, dict[str, list[int]]]:
    """A profile as plain JSON (what the sidecar and the cache key record)."""
    return {name: rng.to_json() for name, rng in profile.items()}


def profile_from_json(data: Mapping[str, Mapping[str, Sequence[int]]]) -> Profile:
    """The inverse of :func:`profile_to_json`."""
    return {n: ShapeRange(tuple(r["min"]), tuple(r["opt"]), tuple(r["max"])) for n, r in data.items()}


def describe_profile(profile: Mapping[str, ShapeRange]) -> str:
    """One line per input: ``x: min 1x3x32x32, opt ..., max ...``."""
    return "; ".join(f"{name}: {rng.describe()}" for name, rng in profile.items())


# -- parsing -----------------------------------------------------------------------------------------------------
def parse_shape_specs(values: Iterable[str], option: str = "--opt-shape") -> dict[str, Shape]:
    """Parse repeated ``NAME:DIMS[,NAME:DIMS...]`` values of one option into name -> shape.

    Raises:
        BadInput: a malformed entry, a non-positive dimension, or the same input named twice.
    """
    out: dict[str, Shape] = {}
    for value in values:
        for entry in _split_entries(value):
            name, shape = _parse_entry(entry, option)
            if name in out and out[name] != shape:
                raise BadInput(
                    f"{option} names input '{name}' twice ({format_dims(out[name])} and "
                    f"{format_dims(shape)}); give one shape per input"
                )
            out[name] = shape
    return out


def _split_entries(value: str) -> list[str]:
    """Split on commas outside single quotes."""
    entries, current, quoted = [], "", False
    for ch in value:
        if ch == "'":
            quoted = not quoted
        if ch == "," and not quoted:
            entries.append(current)
            current = ""
        else:
            current += ch
    entries.append(current)
    return [e.strip() for e in entries if e.strip()]


def _parse_entry(entry: str, option: str) -> tuple[str, Shape]:
    form = f"expected NAME:DIMS as trtexec writes it, e.g. {option} x:1x3x32x32 (quote names containing ':')"
    if entry.startswith("'"):
        end = entry.find("'", 1)
        if end < 0 or entry[end + 1 : end + 2] != ":":
            raise BadInput(f"bad {option} '{entry}': unbalanced quote; {form}")
        name, dims = entry[1:end], entry[end + 2 :]
    else:
        name, sep, dims = entry.rpartition(":")
        if not sep:
            raise BadInput(f"bad {option} '{entry}': no ':' between name and dimensions; {form}")
    if not name:
        raise BadInput(f"bad {option} '{entry}': empty input name; {form}")
    dims = dims.strip().lower()
    if dims in ("", "scalar"):
        return name, ()
    try:
        shape = tuple(int(d) for d in dims.split("x"))
    except ValueError:
        raise BadInput(f"bad {option} '{entry}': dimensions '{dims}' are not integers; {form}") from None
    if any(d < 1 for d in shape):
        raise BadInput(
            f"bad {option} '{entry}': every dimension must be >= 1, got {format_dims(shape)} "
            f"(a profile gives concrete sizes; -1 is not allowed here)"
        )
    return name, shape


# -- deriving and validating -------------------------------------------------------------------------------------
def default_range(spec: InputSpec) -> ShapeRange:
    """The range edgekit uses for ``spec`` when the user names no shape for it (see the module docstring); an
    axis with a declared range (``--dynamic NAME:AXIS[=DIM]:MIN-MAX``, one range per dim name) uses it, an open
    maximum taking the default one."""
    lo, hi = list(spec.shape), list(spec.shape)
    for ax in spec.dynamic:
        example = spec.shape[ax]
        lo[ax] = 1
        if ax == 0:
            hi[ax] = max(example * BATCH_MAX_FACTOR, BATCH_MAX_FLOOR)
        else:
            hi[ax] = max(example * AXIS_MAX_FACTOR, example + AXIS_MAX_EXTRA, AXIS_MAX_FLOOR)
        if ax in spec.ranges:
            low, high = spec.ranges[ax]
            lo[ax] = low
            hi[ax] = high if high is not None else max(hi[ax], low)
    return ShapeRange(tuple(lo), tuple(spec.shape), tuple(hi))


def derive_profile(
    specs: Sequence[InputSpec],
    *,
    min_shapes: Iterable[str] = (),
    opt_shapes: Iterable[str] = (),
    max_shapes: Iterable[str] = (),
) -> Profile:
    """The profile for ``specs`` from the user's ``--min/--opt/--max-shape`` values (may all be empty).

    Raises:
        BadInput: a malformed value, an unknown input name (with the closest one), or a range that is not
            min <= opt <= max, changes a static dimension, or has the wrong rank.
    """
    given = {
        k: parse_shape_specs(v, OPTIONS[k]) for k, v in (("min", min_shapes), ("opt", opt_shapes), ("max", max_shapes))
    }
    names = [s.name for s in specs]
    for kind, shapes in given.items():
        for name in shapes:
            if name not in names:
                raise BadInput(
                    f"{OPTIONS[kind]} names input '{name}', but the model's inputs are "
                    f"{', '.join(names)}.{suggest(name, names)}"
                )
    profile: Profile = {}
    for spec in specs:
        mine = {k: v[spec.name] for k, v in given.items() if spec.name in v}
        rng = broadcast_range(mine) if mine else default_range(spec)
        validate_range(spec.name, rng, spec.shape, spec.dynamic)
        profile[spec.name] = rng
    return profile


def broadcast_range(given: Mapping[str, Shape]) -> ShapeRange:
    """Fill the members missing from ``given`` (keys ``min``/``opt``/``max``) as trtexec does."""
    lo, opt, hi = given.get("min"), given.get("opt"), given.get("max")
    lo = lo if lo is not None else (opt if opt is not None else hi)
    opt = opt if opt is not None else (hi if hi is not None else lo)
    hi = hi if hi is not None else (opt if opt is not None else lo)
    if lo is None or opt is None or hi is None:
        raise ValueError("broadcast_range needs at least one of min, opt, max")
    return ShapeRange(lo, opt, hi)


def validate_range(name: str, rng: ShapeRange, example: Sequence[int], dynamic: Iterable[int]) -> None:
    """Check ``rng`` against the input's rank and static dimensions, and min <= opt <= max.

    Args:
        example: the input's shape (static dimensions must equal it; pass -1 for "any").
        dynamic: axes whose size may vary.

    Raises:
        BadInput: naming the input, the offending axis and the range.
    """
    dyn = set(dynamic)
    for kind, shape in (("min", rng.min), ("opt", rng.opt), ("max", rng.max)):
        if len(shape) != len(example):
            raise BadInput(
                f"profile for input '{name}': {kind} shape {format_dims(shape)} has rank {len(shape)}, "
                f"the input has rank {len(example)} (shape {format_dims_any(example)}); "
                f"fix {OPTIONS[kind]} {name}:..."
            )
        for ax, (d, e) in enumerate(zip(shape, example)):
            if ax not in dyn and e > 0 and d != e:
                raise BadInput(
                    f"profile for input '{name}': {kind} shape {format_dims(shape)} changes static "
                    f"axis {ax} from {e} to {d}; only dynamic axes "
                    f"{sorted(dyn) or '(none)'} may vary (mark more with --dynamic {name}:{ax})"
                )
    bad = [ax for ax in range(len(rng.min)) if not rng.min[ax] <= rng.opt[ax] <= rng.max[ax]]
    if bad:
        raise BadInput(
            f"profile for input '{name}' is not min <= opt <= max on axis {bad[0]}: {rng.describe()}; "
            f"fix --min-shape/--opt-shape/--max-shape {name}:..."
        )


def format_dims_any(shape: Sequence[int]) -> str:
    """Like :func:`format_dims`, writing unknown (<= 0) dimensions as ``?``."""
    return "x".join(str(d) if d > 0 else "?" for d in shape) if len(shape) else "scalar"


def check_shape(name: str, shape: Sequence[int], rng: ShapeRange, where: str = "the engine's profile") -> None:
    """Raise BadInput when ``shape`` lies outside ``rng``, naming the input and the range.

    Raises:
        BadInput: e.g. ``input 'x' has shape 16x3x32x32, outside the engine's profile (min 1x3x32x32, opt
            1x3x32x32, max 8x3x32x32): rebuild the engine with --max-shape x:16x3x32x32``.
    """
    if rng.contains(shape):
        return
    shape = tuple(shape)
    if len(shape) != len(rng.min):
        hint = f"expected rank {len(rng.min)}"
    else:
        big = [ax for ax in range(len(shape)) if shape[ax] > rng.max[ax]]
        hint = (
            f"rebuild the engine with --max-shape {name}:{format_dims(_clip_up(shape, rng.max))}"
            if big
            else f"rebuild the engine with --min-shape {name}:{format_dims(_clip_down(shape, rng.min))}"
        )
    raise BadInput(f"input '{name}' has shape {format_dims(shape)}, outside {where} ({rng.describe()}); {hint}")


def _clip_up(shape: Shape, hi: Shape) -> Shape:
    return tuple(max(d, h) for d, h in zip(shape, hi))


def _clip_down(shape: Shape, lo: Shape) -> Shape:
    return tuple(min(d, low) for d, low in zip(shape, lo))


# -- inputs of an ONNX file (the `edgekit build MODEL.onnx` path, where no InputSpec exists) ------------------------
def specs_from_onnx(
    path: str | Path, *, min_shapes: Iterable[str] = (), opt_shapes: Iterable[str] = (), max_shapes: Iterable[str] = ()
) -> list[InputSpec]:
    """Input specs read from an ONNX file's graph inputs: dimensions with a symbolic name (or <= 0) are dynamic.

    The example size of a dynamic dimension is taken from the user's shapes (opt, else max, else min, as trtexec
    broadcasts them); with none given, a dynamic axis 0 (the batch) gets 1 and any other dynamic axis is an error.

    Raises:
        BadInput: the file is not readable ONNX, or a non-batch dynamic axis has no size from the user.
    """
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError / OSError variants for bad files
        raise BadInput(f"cannot read ONNX file '{path}': {type(exc).__name__}: {str(exc)[:200]}") from exc
    initializers = {t.name for t in model.graph.initializer}
    user = {
        k: parse_shape_specs(v, OPTIONS[k]) for k, v in (("min", min_shapes), ("opt", opt_shapes), ("max", max_shapes))
    }
    specs = []
    for inp in model.graph.input:
        if inp.name in initializers:
            continue
        specs.append(_spec_of(inp, user, str(path)))
    return specs


def _spec_of(inp: Any, user: Mapping[str, Mapping[str, Shape]], path: str) -> InputSpec:
    import onnx

    ttype = inp.type.tensor_type
    dims = [(d.dim_value if d.HasField("dim_value") else -1) for d in ttype.shape.dim]
    dynamic = tuple(ax for ax, d in enumerate(dims) if d <= 0)
    mine = {k: v[inp.name] for k, v in user.items() if inp.name in v}
    example = list(dims)
    if mine:
        example = list(broadcast_range(mine).opt)
        if len(example) != len(dims):
            raise BadInput(
                f"shape given for input '{inp.name}' has rank {len(example)}, but '{path}' declares "
                f"rank {len(dims)} ({format_dims_any(dims)})"
            )
        fixed = [ax for ax, d in enumerate(dims) if d > 0 and example[ax] != d]
        if fixed:
            raise BadInput(
                f"shape given for input '{inp.name}' ({format_dims(example)}) changes static axis "
                f"{fixed[0]} of '{path}' (declared {format_dims_any(dims)}); only axes declared dynamic "
                f"{list(dynamic) or '(none)'} may vary: re-export with that axis dynamic"
            )
    else:
        for ax in dynamic:
            if ax != 0:
                raise BadInput(
                    f"input '{inp.name}' of '{path}' has dynamic axis {ax} (shape "
                    f"{format_dims_any(dims)}) and no size for it: give --opt-shape "
                    f"{inp.name}:{format_dims([1 if d <= 0 else d for d in dims])} (and --min-shape/"
                    f"--max-shape for a range)"
                )
            example[ax] = 1
    try:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(ttype.elem_type).name
    except (KeyError, TypeError, ValueError):
        dtype = "float32"
    return InputSpec(inp.name, tuple(example), dtype, dynamic=dynamic)


def align_with_onnx(specs: Sequence[InputSpec], path: str | Path) -> tuple[list[InputSpec], list[str]]:
    """``specs`` made to agree with the ONNX file's declared input shapes: an axis the spec calls dynamic but the file
    fixes (an exporter froze it: TRAPS.md) becomes static at the file's size.

    Returns:
        The aligned specs and the frozen axes as ``NAME:AXIS`` (empty when the file kept every dynamic axis).
    """
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    declared = {
        i.name: [(d.dim_value if d.HasField("dim_value") else -1) for d in i.type.tensor_type.shape.dim]
        for i in model.graph.input
    }
    out, frozen = [], []
    for spec in specs:
        dims = declared.get(spec.name)
        if dims is None or len(dims) != len(spec.shape):
            out.append(spec)
            continue
        fixed = [ax for ax in spec.dynamic if dims[ax] > 0]
        frozen += [f"{spec.name}:{ax}" for ax in fixed]
        shape = tuple(dims[ax] if ax in fixed else d for ax, d in enumerate(spec.shape))
        out.append(dataclasses.replace(spec, shape=shape, dynamic=tuple(a for a in spec.dynamic if a not in fixed)))
    return out, frozen
