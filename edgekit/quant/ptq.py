"""Post-training quantization: capture, insert observers, run N calibration batches, convert.

Activation ranges come from one of three calibrators (weights always use their per-channel min/max):

* ``minmax``: the largest |x| seen. Exact for bounded activations, hurt by outliers.
* ``percentile``: the 99.99th percentile of |x| (a histogram over all batches).
* ``entropy``: TensorRT's calibrator: the clipping threshold whose 128-level quantized histogram of |x| is
  closest (KL divergence) to the observed one.

Percentile and entropy are observers of our own (torchao ships min/max and an L2-minimizing histogram observer,
not these two); they only choose a range, the quantize/dequantize ops are torchao's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchao.quantization.pt2e import MinMaxObserver  # type: ignore[import-untyped]

from edgekit.core.errors import BadInput, one_line
from edgekit.core.model import LoadedModel
from edgekit.core.spec import InputSpec
from edgekit.quant.quantizer import (
    QuantPolicy,
    TensorRTInt8Quantizer,
    as_loaded,
    capture,
    convert,
    float_layers,
    frozen_axes,
    require_quantizable,
)
from edgekit.training.recipe import Arrays

METHODS = ("minmax", "percentile", "entropy")
HIST_BINS = 2048
PERCENTILE = 99.99


class AbsHistogramObserver(MinMaxObserver):  # type: ignore[misc]
    """Collects a histogram of |x| over [0, running max] (re-binned when the max grows) and picks the clipping
    threshold by ``method`` (``percentile`` or ``entropy``). Symmetric: scale = threshold / 127.5, zero point 0."""

    method = "percentile"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register_buffer("histogram", torch.zeros(HIST_BINS, dtype=torch.float64))
        self.register_buffer("hist_max", torch.tensor(0.0, dtype=torch.float64))

    def forward(self, x_orig: torch.Tensor) -> torch.Tensor:
        super().forward(x_orig)
        x = x_orig.detach().abs().flatten().to(torch.float64)
        if x.numel() == 0:
            return x_orig
        top = float(x.max())
        if top > float(self.hist_max):
            self._rebin(top)
        if float(self.hist_max) > 0:
            self.histogram += torch.histc(x, bins=HIST_BINS, min=0.0, max=float(self.hist_max))
        return x_orig

    def _rebin(self, new_max: float) -> None:
        """Spread the histogram over [0, new_max]: each old bin's count moves to the new bin holding its centre."""
        old_max = float(self.hist_max)
        if old_max > 0 and float(self.histogram.sum()) > 0:
            centres = (torch.arange(HIST_BINS, dtype=torch.float64) + 0.5) * (old_max / HIST_BINS)
            idx = torch.clamp((centres / new_max * HIST_BINS).long(), max=HIST_BINS - 1)
            new = torch.zeros(HIST_BINS, dtype=torch.float64)
            new.index_add_(0, idx, self.histogram)
            self.histogram.copy_(new)
        self.hist_max.fill_(new_max)

    def threshold(self) -> float:
        """The clipping threshold (amax) this observer's method chooses."""
        hist = self.histogram.numpy()
        top = float(self.hist_max)
        if hist.sum() == 0 or top == 0:
            return top
        if self.method == "entropy":
            return entropy_threshold(hist, top)
        return percentile_threshold(hist, top, PERCENTILE)

    @torch.jit.export
    def calculate_qparams(self) -> tuple[torch.Tensor, torch.Tensor]:
        amax = torch.tensor(self.threshold(), dtype=torch.float32)
        scale, zero_point = self._calculate_qparams(-amax, amax)
        return scale, zero_point


class PercentileObserver(AbsHistogramObserver):
    method = "percentile"


class EntropyObserver(AbsHistogramObserver):
    method = "entropy"


def percentile_threshold(hist: np.ndarray, top: float, percentile: float) -> float:
    """The upper edge of the bin where the cumulative count reaches ``percentile`` %."""
    cdf = np.cumsum(hist) / hist.sum()
    i = int(np.searchsorted(cdf, percentile / 100.0))
    return float(min(i + 1, len(hist)) * top / len(hist))


def entropy_threshold(hist: np.ndarray, top: float, levels: int = 128, stride: int = 16) -> float:
    """TensorRT's entropy calibration: for each candidate threshold (a bin edge >= ``levels`` bins), the reference
    P is the histogram clipped there (outliers added to the last bin) and the candidate Q is the unclipped part
    merged into ``levels`` levels and spread back over its nonzero bins; keep the threshold with the smallest
    KL(P || Q). A Q that is zero where P is not (clipped mass landing on an empty bin) rules a candidate out."""
    hist = np.asarray(hist, np.float64)
    n = len(hist)
    tail = np.concatenate([np.cumsum(hist[::-1])[::-1], [0.0]])  # tail[i] = hist[i:].sum()
    best, best_kl = n, np.inf
    for i in range(levels, n + 1, stride):
        ref = hist[:i].copy()
        ref[-1] += tail[i]
        cand = hist[:i]
        starts = np.linspace(0, i, levels + 1).astype(int)[:-1]
        nonzero = cand > 0
        sums = np.add.reduceat(cand, starts)
        counts = np.add.reduceat(nonzero.astype(np.float64), starts)
        per_bin = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        q = np.repeat(per_bin, np.diff(np.append(starts, i))) * nonzero
        mask = ref > 0
        if q.sum() == 0 or np.any(q[mask] == 0):
            continue
        p, q = ref / ref.sum(), q / q.sum()
        kl = float(np.sum(p[mask] * np.log(p[mask] / q[mask])))
        if kl < best_kl:
            best, best_kl = i, kl
    return float(best * top / n)


OBSERVERS = {"minmax": MinMaxObserver, "percentile": PercentileObserver, "entropy": EntropyObserver}


@dataclasses.dataclass
class QuantizedModel:
    """A converted Q/DQ model and what was done to it.

    Args:
        model: the converted graph as a LoadedModel (its ``predict`` is the torch INT8 reference).
        method: ``qat`` or ``ptq-<calibrator>``.
        quantized: layer name -> how it was quantized.
        float_layers: layer name -> why it stayed float.
        details: method-specific numbers (calibration batches, epochs, ranks ...).
    """

    model: LoadedModel
    method: str
    quantized: dict[str, str]
    float_layers: dict[str, str]
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


def check_calibration(batches: Sequence[Arrays], specs: Sequence[InputSpec]) -> None:
    """Every batch holds every input, with the spec's rank and its non-dynamic dimensions.

    Raises:
        BadInput: a missing input or a wrongly shaped array, naming expected and got.
    """
    if not batches:
        raise BadInput(
            "no calibration data: expected at least one batch (--calibrate N with N >= 1, and data "
            "with at least one sample)"
        )
    for i, batch in enumerate(batches):
        for s in specs:
            if s.name not in batch:
                raise BadInput(
                    f"calibration batch {i} has no input '{s.name}' (has {', '.join(batch)}); "
                    f"provide arrays named after the model's inputs"
                )
            got = tuple(batch[s.name].shape)
            fixed_ok = len(got) == len(s.shape) and all(
                g == e for ax, (g, e) in enumerate(zip(got, s.shape, strict=True)) if ax not in s.dynamic
            )
            if not fixed_ok:
                want = "x".join("N" if ax in s.dynamic else str(d) for ax, d in enumerate(s.shape))
                raise BadInput(
                    f"calibration data for '{s.name}' has shape {'x'.join(map(str, got))}; the model "
                    f"expects {want} (N: any size); reshape the data or pass matching --input"
                )


def calibrate(
    model: LoadedModel, batches: Iterable[Arrays], method: str = "minmax", policy: QuantPolicy | None = None
) -> QuantizedModel:
    """Post-training quantization of ``model`` with the given calibration ``batches``.

    Args:
        model: the fp32 model (eval mode).
        batches: dicts of input arrays (see :func:`edgekit.training.tasks.calibration_batches`).
        method: ``minmax``, ``percentile`` or ``entropy`` (activation ranges).
        policy: placement options (ConvTranspose handling, skipped layers).

    Returns:
        The converted model and the quantized/float layer lists.

    Raises:
        BadInput: unknown method, calibration data that does not fit the inputs, or nothing to quantize.
    """
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e  # type: ignore[import-untyped]

    if method not in OBSERVERS:
        from edgekit.core.errors import suggest

        raise BadInput(
            f"unknown calibration method '{method}'; expected one of {', '.join(METHODS)}.{suggest(method, METHODS)}"
        )
    batches = list(batches)
    check_calibration(batches, model.inputs)
    policy = dataclasses.replace(policy or QuantPolicy(), qat=False, act_observer=OBSERVERS[method])
    quantizer = TensorRTInt8Quantizer(policy)
    gm, captured = capture(model, train=False)
    prepared = prepare_pt2e(gm, quantizer)
    require_quantizable(quantizer, model)
    samples = 0
    with torch.no_grad():
        for batch in batches:
            args = model.tensors(batch)
            try:
                prepared(*args)
            except Exception as exc:  # shapes the model rejects surface here
                raise BadInput(
                    f"calibration failed on a batch of shapes "
                    f"{ {k: list(v.shape) for k, v in batch.items()} }: {type(exc).__name__}: "
                    f"{one_line(exc, 200, kind=False)}"
                ) from exc
            samples += len(args[0])
    converted = convert(prepared)
    details: dict[str, Any] = {"calibration_batches": len(batches), "calibration_samples": samples}
    if frozen_axes(model, captured):
        details["frozen_axes"] = frozen_axes(model, captured)
    return QuantizedModel(
        as_loaded(converted, captured, f"{model.source} (int8 ptq-{method})"),
        f"ptq-{method}",
        dict(quantizer.quantized),
        {**float_layers(model.module, quantizer.quantized), **quantizer.float_ops},
        details,
    )


def load_npz(path: Path) -> Arrays:
    """Arrays from an ``.npz`` file (``--data``).

    Raises:
        BadInput: missing or unreadable file.
    """
    if not path.is_file():
        raise BadInput(f"--data '{path}' does not exist; expected an .npz file with one array per model input")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (ValueError, OSError) as exc:
        raise BadInput(f"cannot read --data '{path}': {exc}; expected an .npz written by numpy.savez") from exc


def batches_of(arrays: Arrays, names: Sequence[str], batch_size: int, limit: int) -> list[Arrays]:
    """Up to ``limit`` consecutive batches of ``arrays[names]``."""
    n = min(len(arrays[k]) for k in names if k in arrays) if all(k in arrays for k in names) else 0
    return [{k: arrays[k][i : i + batch_size] for k in names if k in arrays} for i in range(0, n, batch_size)][
        :limit
    ] or [{k: arrays[k] for k in arrays}]
