"""Whether an artifact came from the MODEL it is checked against, from what its manifest records (source and input
specs), and the one line that says so when it did not: both input specs side by side, never a hint about
``--dynamic`` or tolerances that nobody got wrong."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgekit.core.model import LoadedModel
from edgekit.core.spec import InputSpec


def spec_text(specs: Sequence[InputSpec]) -> str:
    """``x:Nx3x32x32:float32, ids:Nx20:int64`` (dynamic axes as ``N``)."""
    out = []
    for s in specs:
        dims = "x".join("N" if i in s.dynamic else str(d) for i, d in enumerate(s.shape))
        out.append(f"{s.name}:{dims}:{s.dtype}")
    return ", ".join(out)


def compatible(recorded: Sequence[InputSpec], given: Sequence[InputSpec]) -> bool:
    """Same names, dtypes and ranks in the same order, and equal sizes on every axis static in both."""
    if [(s.name, s.dtype, len(s.shape)) for s in recorded] != [(s.name, s.dtype, len(s.shape)) for s in given]:
        return False
    return all(
        a.shape[i] == b.shape[i]
        for a, b in zip(recorded, given, strict=True)
        for i in range(len(a.shape))
        if i not in a.dynamic and i not in b.dynamic
    )


def other_model(model: LoadedModel, path: Path, manifest: dict[str, Any]) -> str | None:
    """One line saying that the artifact at ``path`` was exported from another model than ``model`` (the
    manifest's source or input specs differ), with both input specs; None when they agree or nothing is recorded.

    Args:
        model: the MODEL given.
        path: the artifact.
        manifest: its manifest view (:func:`edgekit.artifacts.manifest.entry_for`), ``{}`` without one.
    """
    recorded = manifest.get("inputs") if manifest else None
    source = (manifest.get("model") or {}).get("source") if manifest else None
    if not recorded:
        return None
    try:
        specs = [InputSpec.from_json(i) for i in recorded]
    except (KeyError, TypeError):
        return None
    if compatible(specs, model.inputs) and (source is None or source == model.source):
        return None
    return (
        f"'{path}' was exported from another model: its manifest says {source or 'an unnamed model'} with "
        f"inputs {spec_text(specs)}, but MODEL is {model.source} with inputs {spec_text(model.inputs)}; "
        f"give the MODEL it was exported from, or re-export it from this one"
    )
