"""NCNN export through pnnx: ``pnnx.export`` traces the model at batch 1 and writes ``.ncnn.param`` /
``.ncnn.bin`` (fp32 weights: ``fp16=False``); edgekit keeps those two files and a small ``.ncnn.json`` naming the
blobs (ncnn calls them ``in0``/``out0``...) and the per-sample output shapes. pnnx's generated Python wrappers are
not used (pnnx 20261020 writes ``self.2 = nn.ReLU()`` for an ``nn.Sequential``, which does not import).

``ncnn.Mat`` holds one sample without the batch axis: the runner loops over the batch; other dynamic axes are
exported with a second example size (pnnx's ``inputs2``) and verified like every artifact.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgekit.core.errors import BackendUnavailable, BadInput, one_line
from edgekit.core.model import LoadedModel
from edgekit.core.quiet import native_quiet
from edgekit.export.edge_common import atomic_files

PIP = "pip install 'edgekit[ncnn]'"
SUFFIX = ".ncnn.param"


def unavailable_reason() -> str | None:
    """None when both ``pnnx`` (the converter) and ``ncnn`` (the runtime that verifies) import."""
    for name in ("pnnx", "ncnn"):
        try:
            __import__(name)
        except ImportError:
            return f"{name} is not installed: {PIP}"
    return None


def companions_of(path: Path) -> tuple[Path, Path]:
    """``model.ncnn.param`` -> (``model.ncnn.bin``, ``model.ncnn.json``)."""
    stem = path.name.removesuffix(SUFFIX).removesuffix(".param")
    return path.with_name(f"{stem}.ncnn.bin"), path.with_name(f"{stem}.ncnn.json")


def _examples(model: LoadedModel) -> tuple[tuple[Any, ...], tuple[Any, ...] | None]:
    """Batch-1 example tensors, and a second set with every non-batch dynamic axis at another size (or None)."""
    from edgekit.core.spec import random_inputs

    first = {s.name: {0: 1} for s in model.inputs}
    second = {s.name: {0: 1, **{ax: s.shape[ax] + 3 for ax in s.dynamic if ax != 0}} for s in model.inputs}
    ex1 = model.tensors(random_inputs(model.inputs, first, 0))
    if all(set(s.dynamic) <= {0} for s in model.inputs):
        return ex1, None
    return ex1, model.tensors(random_inputs(model.inputs, second, 1))


def export_ncnn(model: LoadedModel, path: Path, **_: Any) -> dict[str, Any]:
    """Convert ``model`` with pnnx and keep ``path`` (``.ncnn.param``) with its ``.ncnn.bin`` and ``.ncnn.json``.

    Raises:
        BackendUnavailable: pnnx or ncnn missing.
        BadInput: a non-float input (ncnn.Mat holds float32), or pnnx writes no ncnn files (its reason).
    """
    reason = unavailable_reason()
    if reason:
        raise BackendUnavailable(f"--format ncnn: {reason}")
    bad = [f"{s.name}:{s.dtype}" for s in model.inputs if not s.dtype.startswith("float")]
    if bad:
        raise BadInput(f"ncnn takes float inputs only (ncnn.Mat is float32); got {bad}; use another format")
    bin_path, json_path = companions_of(path)
    ex1, ex2 = _examples(model)
    frozen: list[str] = []
    with atomic_files(path, [bin_path.name, json_path.name]) as tmp:
        log = _run_pnnx(model, tmp, path.name, bin_path.name, ex1, ex2)
        foreign = foreign_layers(tmp / path.name)
        if foreign and ex2 is not None:  # pnnx keeps shape arithmetic it cannot fold for a dynamic axis
            frozen = [f"{s.name}:{ax}" for s in model.inputs for ax in s.dynamic if ax != 0]
            log = _run_pnnx(model, tmp, path.name, bin_path.name, ex1, None)
            foreign = foreign_layers(tmp / path.name)
        if foreign:
            raise BadInput(_unsupported(model, foreign))
        (tmp / json_path.name).write_text(json.dumps(_io_map(model), indent=1))
    import importlib.metadata as md

    details: dict[str, Any] = {
        "method": "pnnx.export(fp16=False) -> .ncnn.param/.bin",
        "exporter": f"pnnx {md.version('pnnx')}",
        "precision": "fp32",
        "companions": [bin_path.name, json_path.name],
        "batch": "per-sample loop (ncnn.Mat holds one sample)",
    }
    if log:
        details["pnnx_note"] = log
    if frozen:
        details["frozen_axes"] = frozen
        details["static_because"] = "pnnx left shape arithmetic ncnn cannot run for a dynamic non-batch axis"
    return details


def foreign_layers(param: Path) -> list[tuple[str, str]]:
    """``(type, name)`` of layers in a ``.ncnn.param`` that are pnnx/torch operators ncnn has no layer for (their
    type has a dot: ``pnnx.Expression``, ``Tensor.new_zeros``, ``torch.xxx``, ``F.xxx``)."""
    rows = [ln.split() for ln in param.read_text().splitlines()[2:] if ln.strip()]
    return [(r[0], r[1]) for r in rows if "." in r[0]]


def _unsupported(model: LoadedModel, foreign: list[tuple[str, str]]) -> str:
    """One line: the first operator ncnn cannot run and the module that calls it (from torch.export's module
    stack, when the operator maps to an aten op)."""
    from edgekit.export.edge_common import module_using
    from edgekit.export.pt2 import export_program

    kind, layer = foreign[0]
    where = None
    if kind.startswith(("Tensor.", "torch.", "F.")):
        try:
            where = module_using(export_program(model)[0], "aten." + kind.split(".", 1)[1])
        except BadInput:
            where = None
    more = f" (and {len(foreign) - 1} more such layers)" if len(foreign) > 1 else ""
    return (
        f"ncnn has no layer for {kind} (pnnx layer {layer}{more})"
        + (f", used by module {where}" if where else "")
        + "; export this model to another format (onnx, openvino, executorch)"
    )


def _run_pnnx(model: LoadedModel, tmp: Path, param: str, weights: str, ex1: Any, ex2: Any) -> str | None:
    """Run pnnx in ``tmp`` (it writes its .pt, pnnx files and wrappers beside the target); returns the
    wrapper-import failure it raised after writing the ncnn files, if any."""
    import pnnx

    tmp = tmp.resolve()  # pnnx runs from inside tmp: a relative path would then point elsewhere
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        with native_quiet() as out, _math_attention():
            try:
                pnnx.export(
                    model.module, str(tmp / "model.pt"), ex1, ex2, check_trace=False, fp16=False,
                    ncnnparam=str(tmp / param), ncnnbin=str(tmp / weights),
                )  # fmt: skip
                return None
            except Exception as exc:  # pnnx raises bare Exceptions; the ncnn files may exist all the same
                if (tmp / param).is_file() and (tmp / weights).is_file():
                    return f"pnnx's own Python wrapper failed ({one_line(exc)}); the ncnn files are used"
                error = exc
        raise BadInput(f"pnnx could not convert the model: {_reason(error, out)}; expected operators pnnx supports")
    finally:
        os.chdir(cwd)


@contextlib.contextmanager
def _math_attention() -> Iterator[None]:
    """Trace the math path of ``nn.TransformerEncoder``/``MultiheadAttention``: their fused fast path
    (``aten::_transformer_encoder_layer_fwd``, taken under no_grad in eval) has no ncnn layer."""
    import torch

    mha = torch.backends.mha
    before = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(before)


def _reason(exc: BaseException, captured: list[str]) -> str:
    """pnnx's most telling line: an 'unsupported' / 'not supported' line of its log, else the exception."""
    lines = [ln.strip() for ln in "".join(captured).splitlines() if "support" in ln.lower() or "ignore" in ln.lower()]
    return lines[0][:300] if lines else one_line(exc)


def _io_map(model: LoadedModel) -> dict[str, Any]:
    """Names of the ncnn blobs, in order, and each output's per-sample example shape (batch axis dropped)."""
    from edgekit.core.spec import random_inputs

    outs = model.predict(random_inputs(model.inputs))
    ins = [{"name": s.name, "blob": f"in{i}", "sample_shape": list(s.shape[1:])} for i, s in enumerate(model.inputs)]
    outs_ = [{"name": n, "blob": f"out{i}", "sample_shape": list(a.shape[1:])} for i, (n, a) in enumerate(outs.items())]
    return {"inputs": ins, "outputs": outs_, "batch_axis": 0}
