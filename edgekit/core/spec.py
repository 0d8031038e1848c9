"""Input specifications: names, example shapes, dtypes and dynamic axes, parsed from the command line.

``--input x:1x3x32x32`` and ``--input ids:1x20:int64`` become :class:`InputSpec` objects; dimension 0 is
dynamic (the batch) unless ``static`` is asked for, and ``--dynamic NAME:AXIS`` marks more axes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from edgekit.core.errors import BadInput, suggest

DTYPES = ("float32", "float16", "float64", "int64", "int32", "int8", "uint8", "bool")

# Sizes used along a dynamic axis when exporting: torch.export specializes sizes 0 and 1, so the export
# example never uses them (see TRAPS.md); verification then also runs at 1.
EXPORT_MIN_DYNAMIC = 2


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """One named model input.

    Args:
        name: the input's name in every exported artifact.
        shape: the example shape (what the user typed, e.g. ``(1, 3, 32, 32)``).
        dtype: a numpy dtype name from :data:`DTYPES`.
        dynamic: axes whose size may change at run time.
        low, high: range of generated values for integer inputs (token ids, class labels).
    """

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    dynamic: tuple[int, ...] = (0,)
    low: int = 0
    high: int = 10

    def with_sizes(self, sizes: dict[int, int]) -> InputSpec:
        """This spec with the given axes resized (axis -> size)."""
        shape = tuple(sizes.get(i, d) for i, d in enumerate(self.shape))
        return dataclasses.replace(self, shape=shape)

    def random(self, rng: np.random.Generator, shape: Sequence[int] | None = None) -> np.ndarray:
        """A random array of this input's dtype, at ``shape`` (default: the example shape)."""
        shape = tuple(shape if shape is not None else self.shape)
        if self.dtype == "bool":
            return rng.integers(0, 2, size=shape).astype(bool)
        if np.issubdtype(np.dtype(self.dtype), np.integer):
            return rng.integers(self.low, self.high, size=shape).astype(self.dtype)
        return rng.standard_normal(shape).astype(self.dtype)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "dynamic_axes": list(self.dynamic)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InputSpec:
        """The inverse of :meth:`to_json` (a manifest's ``inputs`` entry).

        Raises:
            KeyError, TypeError: an entry without name, shape or dtype.
        """
        return cls(data["name"], tuple(data["shape"]), data["dtype"], tuple(data.get("dynamic_axes", [0])))


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


def apply_dynamic(specs: Sequence[InputSpec], marks: Iterable[str], static: bool = False) -> list[InputSpec]:
    """Apply ``--dynamic NAME:AXIS`` marks (and ``--static``) to ``specs``.

    Raises:
        BadInput: for an unknown input name or an axis out of range.
    """
    by_name = {s.name: s for s in specs}
    extra: dict[str, set[int]] = {}
    for mark in marks:
        name, _, axis = mark.rpartition(":")
        if not name or not axis.lstrip("-").isdigit():
            raise BadInput(f"bad --dynamic '{mark}': expected NAME:AXIS, e.g. --dynamic x:1")
        if name not in by_name:
            raise BadInput(
                f"bad --dynamic '{mark}': no input named '{name}'; inputs are "
                f"{', '.join(by_name)}.{suggest(name, by_name)}"
            )
        rank = len(by_name[name].shape)
        ax = int(axis)
        if not -rank <= ax < rank:
            raise BadInput(
                f"bad --dynamic '{mark}': axis {ax} is out of range for rank-{rank} input "
                f"'{name}' (shape {by_name[name].shape})"
            )
        extra.setdefault(name, set()).add(ax % rank)
    out = []
    for s in specs:
        axes = set() if static else set(s.dynamic)
        axes |= extra.get(s.name, set())
        out.append(dataclasses.replace(s, dynamic=tuple(sorted(axes))))
    return out


def freeze_axes(specs: Sequence[InputSpec], frozen: Iterable[str]) -> list[InputSpec]:
    """``specs`` with the ``NAME:AXIS`` axes made static at the size an exporter froze them to: the export
    example's size, at least :data:`EXPORT_MIN_DYNAMIC`."""
    drop = {(n, int(a)) for n, _, a in (f.rpartition(":") for f in frozen)}
    out = []
    for s in specs:
        gone = [ax for ax in s.dynamic if (s.name, ax) in drop]
        fixed = s.with_sizes({ax: max(s.shape[ax], EXPORT_MIN_DYNAMIC) for ax in gone})
        out.append(dataclasses.replace(fixed, dynamic=tuple(ax for ax in s.dynamic if ax not in gone)))
    return out


def random_inputs(
    specs: Sequence[InputSpec], sizes: dict[str, dict[int, int]] | None = None, seed: int = 0
) -> dict[str, np.ndarray]:
    """Random inputs for ``specs``; ``sizes`` overrides axis sizes per input (name -> axis -> size)."""
    rng = np.random.default_rng(seed)
    sizes = sizes or {}
    return {s.name: s.random(rng, s.with_sizes(sizes.get(s.name, {})).shape) for s in specs}


def dynamic_dims(specs: Sequence[InputSpec]) -> dict[str, dict[int, str]]:
    """A name for every dynamic dimension: the batch axis of every input shares ``batch``, so exporters
    know that inputs agree on it; other axes get ``NAME_axisK``."""
    return {s.name: {ax: ("batch" if ax == 0 else f"{s.name}_axis{ax}") for ax in s.dynamic} for s in specs}


def shape_plan(specs: Sequence[InputSpec]) -> list[dict[str, dict[int, int]]]:
    """The shapes at which an export is verified: the example shape, then, for each named dynamic
    dimension, two other sizes (1 and a larger one), all inputs sharing a dimension resized together.

    Returns a list of size overrides (input name -> axis -> size); ``{}`` is the example shape.
    """
    plan: list[dict[str, dict[int, int]]] = [{}]
    names = dynamic_dims(specs)
    groups: dict[str, list[tuple[str, int, int]]] = {}
    for s in specs:
        for ax, dim in names[s.name].items():
            groups.setdefault(dim, []).append((s.name, ax, s.shape[ax]))
    for members in groups.values():
        example = members[0][2]
        for size in _other_sizes(example):
            plan.append({name: {ax: size} for name, ax, _ in members})
    merged: list[dict[str, dict[int, int]]] = []
    for p in plan:
        if p not in merged:
            merged.append(p)
    return merged


def _other_sizes(example: int) -> list[int]:
    """Two sizes other than ``example`` along a dynamic axis: 1 (or 2) and a larger one."""
    small = 1 if example != 1 else 2
    large = max(example + 3, 5)
    return [small, large]
