"""NCNN: a ``.ncnn.param`` + ``.ncnn.bin`` pair (written by pnnx) run by the ``ncnn`` Python binding, fp32 (the
fp16/bf16 storage and arithmetic options ncnn turns on by default are turned off). ``ncnn.Mat`` holds one sample
without the batch axis, so a batch is run sample by sample, and the outputs stacked. The ``.ncnn.json`` beside
the param file maps ncnn's blob names (``in0``/``out0``...) to the model's input and output names."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.backends.base import Arrays, Runner
from edgekit.core.errors import BackendUnavailable, BadInput, one_line

PIP = "pip install 'edgekit[ncnn]'"


class NetFromParam:
    """Loader: an ``ncnn.Net`` with ``path`` (``.ncnn.param``) and its ``.ncnn.bin`` loaded, and the blob map.

    Args:
        path: the ``.ncnn.param`` file; ``.ncnn.bin`` and ``.ncnn.json`` beside it.
        device: only ``cpu`` (ncnn's Vulkan GPU path is not used).
        threads: ``opt.num_threads``; default ncnn's (the machine's cores).

    Returns (on call): ``(net, io_map)``.

    Raises (on call):
        BackendUnavailable: ncnn is not installed.
        BadInput: a missing companion file or a param/bin ncnn refuses.
    """

    def __init__(self, path: str | Path, *, device: str = "cpu", threads: int | None = None) -> None:
        if device != "cpu":
            raise BadInput(f"ncnn runs on --device cpu here (got {device})")
        self.path, self.threads = Path(path), threads

    def files(self) -> tuple[Path, Path]:
        stem = self.path.name.removesuffix(".param").removesuffix(".ncnn")
        return self.path.with_name(f"{stem}.ncnn.bin"), self.path.with_name(f"{stem}.ncnn.json")

    def __call__(self) -> tuple[Any, dict[str, Any]]:
        try:
            import ncnn
        except ImportError as exc:
            raise BackendUnavailable(f"ncnn is not installed: {PIP}") from exc
        weights, io_json = self.files()
        for f in (self.path, weights, io_json):
            if not f.is_file():
                raise BadInput(
                    f"cannot load ncnn model '{self.path}': '{f.name}' is missing; expected the three files "
                    f"edgekit export --format ncnn writes (.ncnn.param, .ncnn.bin, .ncnn.json)"
                )
        net = ncnn.Net()
        for flag in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage"):
            setattr(net.opt, flag, False)
        if self.threads:
            net.opt.num_threads = self.threads
        if net.load_param(str(self.path)) != 0 or net.load_model(str(weights)) != 0:
            raise BadInput(f"ncnn cannot load '{self.path}' / '{weights.name}'; expected files written by pnnx")
        try:
            io_map = json.loads(io_json.read_text())
            _ = [(e["name"], e["blob"]) for e in io_map["inputs"] + io_map["outputs"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInput(f"'{io_json}' is not an edgekit ncnn blob map: {one_line(exc)}; re-export") from exc
        return net, io_map


def net_loader(artifact: Any, *, device: str = "cpu", threads: int | None = None) -> NetFromParam:
    """The registry's loader entry (``artifact`` is the ``.ncnn.param`` path)."""
    return NetFromParam(artifact, device=device, threads=threads)


class NcnnRunner(Runner):
    """Runs an ncnn Net one sample at a time and stacks the samples into a batch."""

    backend = "ncnn"

    def activate_impl(self) -> None:
        import importlib.metadata as md

        self.net, self.io = self.loaded
        self.details.update(
            {
                "device": "cpu",
                "threads": int(self.net.opt.num_threads),
                "precision": "fp32 (fp16/bf16 storage and arithmetic off)",
                "batch": "per-sample loop (ncnn.Mat holds one sample)",
                "ncnn": md.version("ncnn"),
            }
        )

    def deactivate_impl(self) -> None:
        self.net = None

    def input_names(self) -> Sequence[str]:
        return [e["name"] for e in self.io["inputs"]]

    def output_names(self) -> Sequence[str]:
        return [e["name"] for e in self.io["outputs"]]

    def _sample(self, mats: list[tuple[str, Any, np.ndarray]]) -> list[np.ndarray]:
        ex = self.net.create_extractor()
        for blob, mat, _ in mats:
            ex.input(blob, mat)
        outs = []
        for e in self.io["outputs"]:
            rc, mat = ex.extract(e["blob"])
            if rc != 0:
                raise BadInput(f"ncnn failed to compute '{e['name']}' (blob {e['blob']}, code {rc})")
            outs.append(_shaped(np.array(mat), e["sample_shape"]))
        return outs

    def _mats(self, feed: Arrays) -> list[list[tuple[str, Any, np.ndarray]]]:
        """Per sample, ``(blob, ncnn.Mat, array)``: the Mat wraps the array's memory without owning it, so the
        array travels with it (a Mat over a freed array reads garbage)."""
        import ncnn

        batch = {feed[e["name"]].shape[0] for e in self.io["inputs"]}
        if len(batch) != 1:
            raise BadInput(f"ncnn: the inputs disagree on the batch size: {sorted(batch)}; expected one size")
        arrays = [(e["blob"], np.ascontiguousarray(feed[e["name"]], dtype=np.float32)) for e in self.io["inputs"]]
        return [[(blob, ncnn.Mat(a[b]), a[b]) for blob, a in arrays] for b in range(batch.pop())]

    def infer_impl(self, feed: Arrays) -> Arrays:
        try:
            samples = [self._sample(m) for m in self._mats(feed)]
        except BadInput:
            raise
        except Exception as exc:  # ncnn's binding raises RuntimeError/ValueError on a bad Mat
            raise BadInput(f"ncnn failed on inputs { {k: list(v.shape) for k, v in feed.items()} }: "
                           f"{one_line(exc)}") from exc  # fmt: skip
        return {n: np.stack([s[i] for s in samples]) for i, n in enumerate(self.output_names())}

    def timed_call(self, feed: Arrays) -> Callable[[], Any]:
        """The per-sample loop on Mats prepared once (the copy into ncnn.Mat is not timed)."""
        self.infer(feed)
        mats = self._mats(feed)
        return lambda: [self._sample(m) for m in mats]


def _shaped(arr: np.ndarray, sample_shape: Sequence[int]) -> np.ndarray:
    """ncnn's output in the model's per-sample rank: ncnn drops size-1 axes and caps the rank at 4, so an array
    of the same size is reshaped to the recorded example shape; a dynamic axis (other size) is left as ncnn gave
    it (the verification then shows the mismatch)."""
    if list(arr.shape) == list(sample_shape):
        return arr
    if arr.size == int(np.prod(sample_shape)):
        return arr.reshape(sample_shape)
    return arr
