"""What every exporter shares: example tensors that keep dynamic axes dynamic, and exporter-warning hygiene."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

import torch

from edgekit.core.model import LoadedModel
from edgekit.core.spec import export_sizes, random_inputs


def export_example(model: LoadedModel, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Example tensors for tracing/exporting: every dynamic dimension at least 2, because torch.export
    specializes sizes 0 and 1 (a user's ``--input x:1x3x32x32`` would otherwise freeze the batch), and inside
    each axis' declared range."""
    sizes = {s.name: export_sizes(s) for s in model.inputs}
    return model.tensors(random_inputs(model.inputs, sizes, seed))


@contextlib.contextmanager
def quiet_export() -> Iterator[io.StringIO]:
    """Silence exporter chatter (deprecation warnings, onnxscript progress prints) and collect it instead,
    so TorchScript's and the legacy exporter's FutureWarnings never break or clutter a run."""
    buf = io.StringIO()
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "onnxscript", "torch.export", "torch._dynamo")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings(), contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield buf
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)
