"""Input specifications: names, example shapes, dtypes and dynamic axes, parsed from the command line.

``--input x:1x3x32x32`` and ``--input ids:1x20:int64`` become :class:`InputSpec` objects; dimension 0 is
dynamic (the batch) unless ``static`` is asked for, and ``--dynamic NAME:AXIS`` marks more axes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from edgekit.core.errors import BadInput, suggest

DTYPES = ("float32", "float16", "float64", "int64", "int32", "int8", "uint8", "bool")

# Sizes used along a dynamic axis when exporting: torch.export specializes sizes 0 and 1, so the export
# example never uses them (see TRAPS.md); verification then also runs at 1.
EXPORT_MIN_DYNAMIC = 2

# An example input larger than this is a typo (a 7 TiB shape), refused when it is parsed.
MAX_ELEMENTS = 2**31


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """One named model input.

    Args:
        name: the input's name in every exported artifact.
        shape: the example shape (what the user typed, e.g. ``(1, 3, 32, 32)``).
        dtype: a numpy dtype name from :data:`DTYPES`.
        dynamic: axes whose size may change at run time.
        low, high: range of generated values for integer inputs (token ids, class labels).
        dims: dimension names per dynamic axis (``{1: "seq"}``): axes of one name, in any inputs, are one
            dimension (one ``torch.export.Dim``, one ONNX dim name, one TensorRT range, varied together).
        ranges: valid sizes per dynamic axis, ``{axis: (min, max)}`` (max ``None``: unbounded).

    Only axes listed in ``dynamic`` keep a name or a range (``dataclasses.replace(spec, dynamic=...)`` that drops an
    axis drops its name too): list them, e.g. ``InputSpec("ids", (1, 16), "int64", (0, 1), dims={1: "seq"})``.

    Raises:
        BadInput: an example of more than :data:`MAX_ELEMENTS` elements, a range that is not
            ``1 <= min <= example <= max``, or a dim name that is not an identifier.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    dynamic: tuple[int, ...] = (0,)
    low: int = 0
    high: int = 10
    dims: Mapping[int, str] = dataclasses.field(default_factory=dict, hash=False)
    ranges: Mapping[int, tuple[int, int | None]] = dataclasses.field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        rank = len(self.shape)
        dims = {int(ax) % max(rank, 1): str(d) for ax, d in dict(self.dims).items()}
        ranges = {int(ax) % max(rank, 1): _range_tuple(r) for ax, r in dict(self.ranges).items()}
        dynamic = tuple(sorted({int(ax) % max(rank, 1) for ax in self.dynamic}))
        object.__setattr__(self, "dynamic", dynamic)
        object.__setattr__(self, "dims", {ax: d for ax, d in dims.items() if ax in dynamic})
        object.__setattr__(self, "ranges", {ax: r for ax, r in ranges.items() if ax in dynamic})
        count = math.prod(self.shape)
        if count > MAX_ELEMENTS:
            raise BadInput(
                f"input '{self.name}': example shape {'x'.join(map(str, self.shape))} has {count:.3g} elements "
                f"(over {MAX_ELEMENTS:.3g}); give the example shape of one real input, e.g. x:1x3x224x224"
            )
        for ax, dim in self.dims.items():
            if not dim.isidentifier():
                raise BadInput(f"input '{self.name}': dim name '{dim}' on axis {ax} must be an identifier, e.g. seq")
        for ax, (lo, hi) in self.ranges.items():
            example = self.shape[ax] if ax < rank else 0
            if lo < 1 or (hi is not None and not lo <= example <= hi) or example < lo:
                raise BadInput(
                    f"input '{self.name}': axis {ax} range {lo}-{hi if hi is not None else ''} must satisfy "
                    f"1 <= min <= example ({example}) <= max; fix the range or the example shape"
                )

    def with_sizes(self, sizes: dict[int, int]) -> InputSpec:
        """This spec's example shape with the given axes resized (axis -> size); names and ranges dropped."""
        shape = tuple(sizes.get(i, d) for i, d in enumerate(self.shape))
        return InputSpec(self.name, shape, self.dtype, self.dynamic, self.low, self.high)

    def random(self, rng: np.random.Generator, shape: Sequence[int] | None = None) -> np.ndarray:
        """A random array of this input's dtype, at ``shape`` (default: the example shape)."""
        shape = tuple(shape if shape is not None else self.shape)
        if self.dtype == "bool":
            return rng.integers(0, 2, size=shape).astype(bool)
        if np.issubdtype(np.dtype(self.dtype), np.integer):
            return rng.integers(self.low, self.high, size=shape).astype(self.dtype)
        return rng.standard_normal(shape).astype(self.dtype)

    def to_json(self) -> dict[str, Any]:
        """The manifest's entry: ``dynamic_axes`` as before, plus ``dims`` and ``ranges`` keyed by axis."""
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "dynamic_axes": list(self.dynamic),
            "dims": {str(ax): d for ax, d in sorted(self.dims.items())},
            "ranges": {str(ax): list(r) for ax, r in sorted(self.ranges.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InputSpec:
        """The inverse of :meth:`to_json` (a manifest's ``inputs`` entry; ``dims``/``ranges`` optional).

        Raises:
            KeyError, TypeError: an entry without name, shape or dtype.
        """
        return cls(
            data["name"],
            tuple(data["shape"]),
            data["dtype"],
            tuple(data.get("dynamic_axes", [0])),
            dims={int(k): v for k, v in (data.get("dims") or {}).items()},
            ranges={int(k): tuple(v) for k, v in (data.get("ranges") or {}).items()},
        )


def _range_tuple(r: Sequence[int | None]) -> tuple[int, int | None]:
    lo, hi = r
    return int(lo if lo is not None else 1), (int(hi) if hi is not None else None)


def parse_input(text: str, static: bool = False) -> InputSpec:
    """Parse ``NAME:DIMS[:DTYPE]`` (``x:1x3x32x32``, ``ids:1x20:int64``).

    Raises:
        BadInput: on a malformed value, with the expected form.
    """
    parts = text.split(":")
    form = "expected NAME:DIMS[:DTYPE], e.g. --input x:1x3x32x32 or --input ids:1x20:int64"
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise BadInput(f"bad --input '{text}': {form}")
    name, dims = parts[0], parts[1]
    try:
        shape = tuple(int(d) for d in dims.lower().split("x"))
    except ValueError:
        raise BadInput(f"bad --input '{text}': dimensions '{dims}' are not integers; {form}") from None
    if any(d <= 0 for d in shape):
        raise BadInput(f"bad --input '{text}': every dimension must be >= 1, got {shape}")
    dtype = parts[2] if len(parts) == 3 else "float32"
    if dtype not in DTYPES:
        raise BadInput(
            f"bad --input '{text}': unknown dtype '{dtype}', expected one of "
            f"{', '.join(DTYPES)}.{suggest(dtype, DTYPES)}"
        )
    return InputSpec(name, shape, dtype, dynamic=() if static else (0,))


@dataclasses.dataclass(frozen=True)
class DynamicMark:
    """One parsed ``--dynamic NAME:AXIS[=DIM][:MIN-MAX]`` value."""

    input: str
    axis: int
    dim: str | None = None
    range: tuple[int, int | None] | None = None


DYNAMIC_FORM = (
    "expected NAME:AXIS[=DIM][:MIN-MAX], e.g. --dynamic x:1, --dynamic input_ids:1=seq, "
    "--dynamic input_values:1=samples:400-16000"
)


def parse_dynamic(mark: str) -> DynamicMark:
    """Parse one ``--dynamic`` value: ``x:1``, ``ids:1=seq``, ``wav:1=samples:400-16000``, ``wav:1:400-``.

    Raises:
        BadInput: a malformed value, with the expected form.
    """
    parts = mark.split(":")
    rng: tuple[int, int | None] | None = None
    if len(parts) == 3:
        lo, sep, hi = parts[2].partition("-")
        if not sep or not lo.isdigit() or not (hi.isdigit() or hi == ""):
            raise BadInput(f"bad --dynamic '{mark}': range '{parts[2]}' is not MIN-MAX (or MIN-); {DYNAMIC_FORM}")
        rng = (int(lo), int(hi) if hi else None)
        if rng[0] < 1 or (rng[1] is not None and rng[1] < rng[0]):
            raise BadInput(f"bad --dynamic '{mark}': range {parts[2]} must have 1 <= MIN <= MAX")
    elif len(parts) != 2:
        raise BadInput(f"bad --dynamic '{mark}': {DYNAMIC_FORM}")
    name, (axis, _, dim) = parts[0], parts[1].partition("=")
    if not name or not axis.lstrip("-").isdigit() or (dim and not dim.isidentifier()):
        raise BadInput(f"bad --dynamic '{mark}': {DYNAMIC_FORM}")
    return DynamicMark(name, int(axis), dim or None, rng)


def apply_dynamic(specs: Sequence[InputSpec], marks: Iterable[str], static: bool = False) -> list[InputSpec]:
    """Apply ``--dynamic`` marks (see :func:`parse_dynamic`) and ``--static`` to ``specs``.

    A range given on one axis of a named dim applies to every axis of that name.

    Raises:
        BadInput: an unknown input name, an axis out of range, axes of one dim name whose example sizes
            differ, or a range the example lies outside.
    """
    by_name = {s.name: s for s in specs}
    parsed = [(m, parse_dynamic(m)) for m in marks]
    axes: dict[str, set[int]] = {s.name: (set() if static else set(s.dynamic)) for s in specs}
    dims: dict[str, dict[int, str]] = {s.name: ({} if static else dict(s.dims)) for s in specs}
    ranges: dict[str, dict[int, tuple[int, int | None]]] = {s.name: ({} if static else dict(s.ranges)) for s in specs}
    for text, m in parsed:
        ax = _check_mark(text, m, by_name)
        axes[m.input].add(ax)
        if m.dim:
            dims[m.input][ax] = m.dim
        if m.range:
            ranges[m.input][ax] = m.range
    _spread_ranges(specs, dims, ranges)
    return [
        dataclasses.replace(s, dynamic=tuple(sorted(axes[s.name])), dims=dims[s.name], ranges=ranges[s.name])
        for s in specs
    ]


def _check_mark(text: str, mark: DynamicMark, by_name: dict[str, InputSpec]) -> int:
    """The mark's axis, normalised to 0..rank-1."""
    if mark.input not in by_name:
        raise BadInput(
            f"bad --dynamic '{text}': no input named '{mark.input}'; inputs are "
            f"{', '.join(by_name)}.{suggest(mark.input, by_name)}"
        )
    shape = by_name[mark.input].shape
    if not -len(shape) <= mark.axis < len(shape):
        raise BadInput(
            f"bad --dynamic '{text}': axis {mark.axis} is out of range for rank-{len(shape)} input "
            f"'{mark.input}' (shape {shape})"
        )
    return mark.axis % len(shape)


def _spread_ranges(
    specs: Sequence[InputSpec], dims: dict[str, dict[int, str]], ranges: dict[str, dict[int, tuple[int, int | None]]]
) -> None:
    """Give every axis of a named dim the same range, and check their example sizes agree."""
    members: dict[str, list[tuple[str, int, int]]] = {}
    for s in specs:
        for ax, dim in dims[s.name].items():
            members.setdefault(dim, []).append((s.name, ax, s.shape[ax]))
    for dim, group in members.items():
        sizes = {f"{n}:{ax}": size for n, ax, size in group}
        if len(set(sizes.values())) > 1:
            raise BadInput(
                f"dim '{dim}' joins axes whose example sizes differ ({sizes}); axes of one dim must have one "
                f"size: fix the --input shapes, or give the axes different dim names"
            )
        given = {ranges[n][ax] for n, ax, _ in group if ax in ranges[n]}
        if len(given) > 1:
            raise BadInput(f"dim '{dim}' has several ranges {sorted(given, key=str)}; give its range once")
        if given:
            rng = given.pop()
            for n, ax, _ in group:
                ranges[n][ax] = rng


def freeze_axes(specs: Sequence[InputSpec], frozen: Iterable[str]) -> list[InputSpec]:
    """``specs`` with the ``NAME:AXIS`` axes made static at the size an exporter froze them to: the export
    example's size (see :func:`export_sizes`)."""
    drop = {(n, int(a)) for n, _, a in (f.rpartition(":") for f in frozen)}
    out = []
    for s in specs:
        gone = [ax for ax in s.dynamic if (s.name, ax) in drop]
        if not gone:
            out.append(s)
            continue
        sizes = export_sizes(s)
        shape = tuple(sizes[ax] if ax in gone else d for ax, d in enumerate(s.shape))
        keep = tuple(ax for ax in s.dynamic if ax not in gone)
        out.append(
            dataclasses.replace(
                s,
                shape=shape,
                dynamic=keep,
                dims={a: d for a, d in s.dims.items() if a in keep},
                ranges={a: r for a, r in s.ranges.items() if a in keep},
            )
        )
    return out


def export_sizes(spec: InputSpec) -> dict[int, int]:
    """Sizes of ``spec``'s dynamic axes in the export example: the example size, at least
    :data:`EXPORT_MIN_DYNAMIC` (torch.export specializes 0 and 1), kept inside the axis' range."""
    out = {}
    for ax in spec.dynamic:
        lo, hi = spec.ranges.get(ax, (1, None))
        size = max(spec.shape[ax], EXPORT_MIN_DYNAMIC, lo)
        out[ax] = min(size, hi) if hi is not None else size
    return out


def random_inputs(
    specs: Sequence[InputSpec], sizes: dict[str, dict[int, int]] | None = None, seed: int = 0
) -> dict[str, np.ndarray]:
    """Random inputs for ``specs``; ``sizes`` overrides axis sizes per input (name -> axis -> size)."""
    rng = np.random.default_rng(seed)
    sizes = sizes or {}
    return {s.name: s.random(rng, s.with_sizes(sizes.get(s.name, {})).shape) for s in specs}


# -- dimensions: which axes are one, their ranges, the verification plan ------------------------------------------
@dataclasses.dataclass
class DimGroup:
    """Axes that are one dimension: one name, one example size, one range.

    Args:
        name: the dim name (the user's, ``batch``, or ``NAME_axisK``).
        members: ``(input, axis)`` pairs.
        example: the example size they share.
        low, high: the valid range (``high`` None: unbounded); ``declared`` when the user gave it.
        linked: joined by edgekit because nobody named them and their example sizes are equal.
    """

    name: str
    members: list[tuple[str, int]]
    example: int
    low: int = 1
    high: int | None = None
    declared: bool = False
    linked: bool = False

    @property
    def is_batch(self) -> bool:
        return all(ax == 0 for _, ax in self.members)

    def axes(self) -> str:
        return ", ".join(f"{n}:{ax}" for n, ax in self.members)


def dim_groups(specs: Sequence[InputSpec], link: bool = True) -> dict[str, DimGroup]:
    """Every dynamic dimension of ``specs``, by name.

    Named axes (``dims``) form one group per name; unnamed batch axes (axis 0) of equal example size share
    ``batch``; other unnamed axes are ``NAME_axisK``, except that with ``link`` unnamed axes of *different* inputs
    whose example sizes are equal are tried as one dimension (ids and their mask), reported by ``linked``.
    """
    groups: dict[str, DimGroup] = {}
    batch = next((s.shape[0] for s in specs if 0 in s.dynamic and 0 not in s.dims), None)
    for s in specs:
        for ax in s.dynamic:
            name = s.dims.get(ax) or _default_dim(s, ax, batch, groups if link else None)
            g = groups.setdefault(name, DimGroup(name, [], s.shape[ax]))
            if g.members and ax not in s.dims and not name.startswith("batch") and g.members[0][0] != s.name:
                g.linked = True
            g.members.append((s.name, ax))
            if ax in s.ranges:
                lo, hi = s.ranges[ax]
                g.low, g.declared = max(g.low, lo), True
                g.high = hi if g.high is None else (min(g.high, hi) if hi is not None else g.high)
    return groups


def _default_dim(spec: InputSpec, ax: int, batch: int | None, groups: dict[str, DimGroup] | None) -> str:
    if ax == 0 and spec.shape[0] == batch:
        return "batch"
    if groups is not None and ax != 0:
        for g in groups.values():  # an unnamed axis of another input with the same example size
            first, first_ax = g.members[0]
            if g.name == f"{first}_axis{first_ax}" and first != spec.name and g.example == spec.shape[ax]:
                if all(n != spec.name for n, _ in g.members):
                    return g.name
    return f"{spec.name}_axis{ax}"


def dynamic_dims(specs: Sequence[InputSpec], link: bool = True) -> dict[str, dict[int, str]]:
    """A name for every dynamic dimension (see :func:`dim_groups`): input name -> axis -> dim name."""
    out: dict[str, dict[int, str]] = {s.name: {} for s in specs}
    for g in dim_groups(specs, link).values():
        for n, ax in g.members:
            out[n][ax] = g.name
    return out


def link_notes(specs: Sequence[InputSpec]) -> list[str]:
    """One sentence per dimension edgekit linked on its own (for details/notes)."""
    return [
        f"{g.axes()} have no dim name and equal example sizes ({g.example}): verified as one dimension "
        f"'{g.name}'; name them (--dynamic {g.members[0][0]}:{g.members[0][1]}=NAME ...) to make it explicit"
        for g in dim_groups(specs).values()
        if g.linked
    ]


def plan_sizes(group: DimGroup) -> list[int]:
    """Sizes other than the example at which ``group`` is verified: for the batch, 1 (or 2) and a larger one;
    for other axes, sizes around the example (half, one and a half) inside the range, plus the range's declared
    ends. Never 1 unless the range allows it."""
    ex = group.example
    if group.is_batch and not group.declared:
        sizes = [1 if ex != 1 else 2, max(ex + 3, 5)]
    else:
        low = group.low if group.declared else max(group.low, EXPORT_MIN_DYNAMIC)
        sizes = [max(low, ex // 2), ex + max(3, ex // 2)]
        if group.declared:
            sizes += [group.low] + ([group.high] if group.high is not None else [])
        if group.high is not None:
            sizes = [min(n, group.high) for n in sizes]
        sizes = [max(n, low) for n in sizes]
    return sorted({n for n in sizes if n != ex})


def shape_plan_named(specs: Sequence[InputSpec]) -> list[tuple[str, dict[str, dict[int, int]]]]:
    """The shapes at which an export is verified, labelled: ``("example", {})`` first, then for each dimension
    its :func:`plan_sizes`, every axis of the dimension resized together (``("seq=8", {...})``)."""
    plan: list[tuple[str, dict[str, dict[int, int]]]] = [("example", {})]
    for g in dim_groups(specs).values():
        for size in plan_sizes(g):
            sizes: dict[str, dict[int, int]] = {}
            for n, ax in g.members:
                sizes.setdefault(n, {})[ax] = size
            plan.append((f"{g.name}={size}", sizes))
    return plan


def shape_plan(specs: Sequence[InputSpec]) -> list[dict[str, dict[int, int]]]:
    """:func:`shape_plan_named` without the labels: a list of size overrides (input -> axis -> size)."""
    return [sizes for _, sizes in shape_plan_named(specs)]
