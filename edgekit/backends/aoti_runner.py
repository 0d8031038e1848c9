"""AOTInductor packages (``.aoti.pt2``, see :mod:`edgekit.export.aoti`): a loader around
``torch._inductor.aoti_load_package`` and a runner that refuses inputs outside the sizes the package was compiled
for (read from its metadata) rather than running them unchecked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.backends.base import Arrays
from edgekit.backends.torch_runner import _TorchRunner
from edgekit.core.errors import BackendUnavailable, BadInput, one_line

METADATA_KEY = "edgekit_input_ranges"
"""The package metadata entry holding ``{input: [[min, max], ...]}`` (max None: unbounded)."""


class AotiPackageLoader:
    """Loads an AOTInductor package on call (after Polygraphy's loaders).

    Args:
        path: the ``.aoti.pt2`` file.
        device: ``cpu`` or ``cuda`` (the device the package was compiled for).
    """

    def __init__(self, path: str | Path, *, device: str = "cpu", threads: int | None = None) -> None:
        self.path = Path(path)
        self.device = device
        self.threads = threads

    def __call__(self) -> Any:
        """The loaded package (``AOTICompiledModel``: call it with tensors).

        Raises:
            BadInput: the file is not a loadable package.
            BackendUnavailable: a CUDA package without a GPU here.
        """
        import torch

        if self.device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable(f"aoti on cuda: this torch ({torch.__version__}) sees no CUDA GPU; use cpu")
        if not self.path.is_file():
            raise BadInput(f"cannot load AOTInductor package '{self.path}': no such file")
        try:
            return _load(self.path)
        except Exception as exc:  # a package names pytree classes by name (TRAPS.md): import transformers' first
            if "pytree is not registered" not in str(exc) or not _import_transformers_outputs():
                raise BadInput(
                    f"cannot load AOTInductor package '{self.path}': {one_line(exc)}; expected a file written by "
                    f"edgekit export --format aoti with this torch version"
                ) from exc
            return _load(self.path)


def _load(path: Path) -> Any:
    import torch

    return torch._inductor.aoti_load_package(str(path))


def _import_transformers_outputs() -> bool:
    try:
        import transformers.modeling_outputs  # noqa: F401
    except ImportError:
        return False
    return True


def package_ranges(package: Any) -> dict[str, list[list[int | None]]]:
    """The input ranges recorded in ``package``'s metadata by edgekit (empty for a foreign package)."""
    try:
        return dict(json.loads(package.get_metadata().get(METADATA_KEY, "{}")))
    except (AttributeError, ValueError, TypeError):
        return {}


def check_ranges(ranges: dict[str, list[list[int | None]]], shapes: dict[str, tuple[int, ...]]) -> str | None:
    """``None`` when every shape lies inside the package's ranges, else why not (with the fix)."""
    for name, shape in shapes.items():
        axes = ranges.get(name)
        if axes is None:
            continue
        if len(axes) != len(shape):
            return f"input '{name}' has rank {len(shape)}, the package was compiled for rank {len(axes)}"
        for ax, (size, (lo, hi)) in enumerate(zip(shape, axes, strict=True)):
            if size < (lo or 0) or (hi is not None and size > hi):
                want = f"{lo}" if lo == hi else f"{lo}..{hi if hi is not None else 'any'}"
                return (
                    f"input '{name}' axis {ax} has size {size}, outside the sizes the package was compiled for "
                    f"({want}); re-export with a range that covers it (--dynamic {name}:{ax}[=DIM]:MIN-MAX)"
                )
    return None


def aoti_reason() -> str | None:
    """The registry probe: torch imports, runs an op, and has AOTInductor's package loader (the runtime needs no
    compiler; compiling a package does, see :func:`edgekit.export.aoti.unavailable_reason`)."""
    from edgekit.backends.probes import torch_reason

    reason = torch_reason()
    if reason is not None:
        return reason
    import torch

    try:
        import torch._inductor  # noqa: F401

        loader = getattr(getattr(torch._C, "_aoti", None), "AOTIModelPackageLoader", None)
    except ImportError as exc:
        return f"torch {torch.__version__} cannot import torch._inductor ({one_line(exc, kind=False)}); reinstall torch"
    if loader is None or not hasattr(torch._inductor, "aoti_load_package"):
        return f"torch {torch.__version__} has no AOTInductor package loader; pip install 'torch>=2.6'"
    return None


class AotiRunner(_TorchRunner):
    """An AOTInductor package (loader: :class:`AotiPackageLoader`), called with tensors on its device; inputs are
    checked against the ranges the package was compiled for before it runs."""

    backend = "aoti"

    def activate_impl(self) -> None:
        super().activate_impl()
        self.ranges = package_ranges(self.loaded)
        self.details["checked_ranges"] = bool(self.ranges)

    def infer_impl(self, feed: Arrays) -> Arrays:
        problem = check_ranges(getattr(self, "ranges", {}), {k: tuple(np.shape(v)) for k, v in feed.items()})
        if problem is not None:
            raise BadInput(f"aoti: {problem}")
        return super().infer_impl(feed)
