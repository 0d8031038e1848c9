"""What the benchmark measures: artifacts read with their manifest entries, and *subjects* — one (artifact,
backend) pair with its runner, load and cold-start numbers, accuracy, and one :class:`BenchRow` per batch.

Backends are handled only through the registry (:mod:`edgekit.backends`), so a backend added later (TensorRT,
CUDA-graph runners) is benchmarked without a change here; when it cannot run on this machine its rows say
``unavailable`` and why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekit.bench.host import CpuSpan, disturbed_limit
from edgekit.bench.timing import GpuMemory, LatencyStats, current_rss_bytes, peak_rss_bytes, reset_peak_rss, timed_ms
from edgekit.core.errors import BackendUnavailable, BadInput, EdgekitError, VerificationFailed, one_line
from edgekit.core.model import LoadedModel
from edgekit.core.spec import random_inputs

if TYPE_CHECKING:
    from edgekit.backends.base import Runner
    from edgekit.bench.accuracy import EvalSet
    from edgekit.bench.config import BenchConfig

MB = 2**20
OPT_IN = ("torch-compile",)
"""Eager-module backends measured only with ``--backend auto`` or by name: torch.compile compiles for 10-40 s."""


@dataclasses.dataclass
class Artifact:
    """An exported file and what its ``manifest.json`` says about it (empty when there is none, or when the
    manifest is not used: ``--no-manifest``). ``verification`` is the manifest's verdict, kept only while the file's
    bytes still match the sha256 the manifest records."""

    path: Path
    format: str
    precision: str
    size_bytes: int
    details: dict[str, Any]
    verification: str | None
    frozen_axes: list[str]
    manifest: dict[str, Any]


def read_artifact(path: Path, *, use_manifest: bool = True, trust: bool = False) -> Artifact:
    """``path`` with its format (from the suffix) and its entry in the manifest beside it, after two checks: the
    file (and its companions) still has the sha256 the manifest records, and it holds nothing that runs code on
    load (:func:`edgekit.artifacts.archive.check_file`).

    Args:
        path: the artifact.
        use_manifest: read and check the manifest beside it (False: the bare file, ``--no-manifest``).
        trust: ``--trust-files``: load archives holding pickled payloads anyway.

    Raises:
        VerificationFailed: a listed file that is missing or whose bytes changed since export.
        BadInput: an unknown suffix, an unreadable manifest, an archive that would run code.
    """
    from edgekit.artifacts import manifest as mf
    from edgekit.artifacts.archive import check_file
    from edgekit.artifacts.formats import format_of

    fmt = format_of(path).name
    found = mf.entry_for(path) if use_manifest else None
    manifest, entry = found if found is not None else ({}, {})
    if entry:
        problem = mf.integrity(path, entry)
        if problem is not None:
            raise VerificationFailed(problem)
    check_file(path, trust)
    details = dict(entry.get("details") or {})
    precision = str(details.get("precision") or entry.get("precision") or _precision_from_name(path.name))
    size = path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    if entry:
        details["manifest"] = "sha256 matches the manifest"
    elif not use_manifest:
        details["manifest"] = "not used (--no-manifest): judged only by the agreement measured in this run"
    return Artifact(
        path, fmt, precision, size, details, entry.get("status"), list(details.get("frozen_axes", [])), manifest
    )


def _precision_from_name(name: str) -> str:
    low = name.lower()
    for tag in ("int8", "fp16", "bf16", "fp8", "int4"):
        if tag in low:
            return tag
    return "fp32"


def export_here(model: LoadedModel, out_dir: Path, device: str) -> list[Artifact]:
    """Export ``model`` to ``out_dir`` in every format available on this machine (the TensorRT engine only on
    cuda), verified; returns the artifacts that exported (failed formats are skipped)."""
    from edgekit.artifacts.formats import available_formats
    from edgekit.export.driver import export_all

    results = export_all(model, available_formats(device), out_dir)
    # written by this run a moment ago (an AOTInductor package among them): trusted as this run's own output
    made = [r.path for r in results if r.error is None and r.path is not None and r.path.exists()]
    return [read_artifact(p, trust=True) for p in made]


@dataclasses.dataclass
class BenchRow:
    """One line of the report: an (artifact, backend, precision, batch) and everything measured for it
    (fields documented in docs/bench-schema.md)."""

    name: str
    artifact: str | None
    format: str
    backend: str
    precision: str
    batch: int
    status: str
    reason: str = ""
    size_bytes: int | None = None
    verification: str | None = None
    load_ms: float | None = None
    cold_ms: float | None = None
    latency: LatencyStats | None = None
    throughput: float | None = None
    speedup: float | None = None
    peak_rss_mb: float | None = None
    rss_delta_mb: float | None = None
    gpu_peak_mb: float | None = None
    accuracy: dict[str, Any] = dataclasses.field(default_factory=dict)
    agreement: dict[str, Any] = dataclasses.field(default_factory=dict)
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    disturbed: bool = False
    """True when other processes took cores while this row was timed (``details["other_cores"]``)."""

    @property
    def id(self) -> str:
        return f"{self.name}|{self.backend}|{self.precision}|b{self.batch}"

    def mark_disturbed(self, load: CpuSpan, threads: int) -> None:
        """Record the cores other processes took during this row's timed blocks (``details["other_cores"]``) and
        set ``disturbed`` when they exceed :func:`edgekit.bench.host.disturbed_limit`."""
        other = load.other_cores
        if other is None:
            return
        self.details["other_cores"] = round(other, 2)
        self.details["load_blocks"] = load.blocks
        if other > disturbed_limit(threads):
            self.disturbed = True

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["id"] = self.id
        data["latency_ms"] = self.latency.to_json() if self.latency else None
        del data["latency"]
        return data


class Subject:
    """One (artifact, backend) pair, or the eager model (``artifact`` None, backend ``torch``)."""

    def __init__(
        self,
        model: LoadedModel,
        backend: str,
        artifact: Artifact | None = None,
        precision: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.backend = backend
        self.artifact = artifact
        self.format = artifact.format if artifact else "eager"
        self.name = artifact.path.name if artifact else "eager"
        self.precision = precision or (artifact.precision if artifact else _module_precision(model))
        self.options = dict(options or {})
        """Options for the backend's loader, among those its row declares (``precision`` where it derives one,
        TensorRT profile shapes)."""
        self.runner: Runner | None = None
        self.status = "ok"
        self.reason = ""
        self.load_ms: float | None = None
        self.cold_ms: float | None = None
        self.peak_rss_mb: float | None = None
        self.rss_delta_mb: float | None = None
        self.gpu_peak_mb: float | None = None
        self.accuracy: dict[str, Any] = {}
        self.agreement: dict[str, Any] = {}
        self.details: dict[str, Any] = {}
        self._fns: dict[int, Callable[[], Any] | None] = {}
        self.feeds: dict[int, dict[str, np.ndarray]] = {}
        """The arrays each batch's timed call was built on (a bare loop in benchmarks/ reuses the same buffers)."""
        self._batch_reason: dict[int, str] = {}

    @property
    def label(self) -> str:
        suffix = f"/{self.precision}" if self.options.get("precision") else ""
        return f"{self.name} [{self.backend}{suffix}]"

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.runner is not None

    def unavailable(self, reason: str) -> None:
        self.status, self.reason = "unavailable", reason

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def open(self, config: BenchConfig, probes: dict[str, str | None] | None = None) -> None:
        """Create (through the registry) and activate the runner, measuring load time, peak RSS and the cold first
        inference. A backend that does not run on ``config.device``, whose probe says it cannot run here, or whose
        modules do not import, makes the subject ``unavailable`` with the reason.

        Args:
            probes: probe results already known in this run (backend name -> reason), filled in here.

        Raises:
            BadInput: the artifact does not load (from the backend), or an option the backend does not take.
        """
        from edgekit.backends.registry import create_runner, get_backend

        if self.status != "ok":
            return
        info = get_backend(self.backend)
        if config.device not in info.devices:
            return self.unavailable(f"{self.backend} runs on {'/'.join(info.devices)}, not {config.device}")
        probes = {} if probes is None else probes
        if info.name not in probes:
            probes[info.name] = info.unavailable_reason()
        if probes[info.name] is not None:
            return self.unavailable(f"{self.backend}: {probes[info.name]}")
        target: Any = self.model if self.artifact is None else str(self.artifact.path)
        gpu = GpuMemory(config.device)
        gpu.reset()
        reset_peak_rss()
        before = current_rss_bytes()
        try:
            runner = create_runner(
                self.backend,
                target,
                device=config.device,
                threads=config.thread_count,
                inputs=self.model.input_names,
                outputs=self.model.outputs,
                **self.options,
            )
            _, self.load_ms = timed_ms(runner.activate)
            _, self.cold_ms = timed_ms(lambda: runner.infer(random_inputs(self.model.inputs, seed=7)))
        except ImportError as exc:
            return self.unavailable(f"{self.backend} backend cannot be imported here: {exc}")
        except BackendUnavailable as exc:
            return self.unavailable(str(exc))
        except BadInput:
            raise
        except EdgekitError as exc:
            self.status, self.reason = "error", str(exc)
            return None
        except Exception as exc:  # a backend failing in its own way: a row says so, the run goes on
            self.status, self.reason = "error", one_line(exc, 200)
            return None
        self.runner = runner
        self.peak_rss_mb = peak_rss_bytes() / MB
        self.rss_delta_mb = (current_rss_bytes() - before) / MB
        gpu_peak = gpu.peak_bytes()
        self.gpu_peak_mb = gpu_peak / MB if gpu_peak is not None else None
        self.details.update(runner.details)
        return None

    def close(self) -> None:
        if self.runner is not None:
            self.runner.deactivate()
            self.runner = None
        self._fns.clear()
        self.feeds.clear()

    # -- per batch ---------------------------------------------------------------------------------------------
    def feed(self, batch: int) -> dict[str, np.ndarray]:
        """The inputs timed at ``batch``: the same values for every subject (fixed seed per batch)."""
        sizes = {s.name: {0: batch} for s in self.model.inputs}
        return random_inputs(self.model.inputs, sizes, seed=1000 + batch)

    def static_batch(self) -> int | None:
        """The fixed batch of an artifact whose axis 0 is not dynamic (None: any batch)."""
        if self.artifact is None:
            return None
        fixed = [s.shape[0] for s in self.model.inputs if 0 not in s.dynamic and s.shape]
        return fixed[0] if fixed else None

    def timed_fn(self, batch: int) -> Callable[[], Any] | None:
        """The runner's timed call at ``batch``, or None (the reason is kept for the row)."""
        if batch in self._fns:
            return self._fns[batch]
        fn = None
        static = self.static_batch()
        if not self.ok:
            pass
        elif static is not None and static != batch:
            self._batch_reason[batch] = f"static batch {static}: the artifact's axis 0 is not dynamic"
        else:
            try:
                self.feeds[batch] = self.feed(batch)
                fn = self.runner.timed_call(self.feeds[batch])  # type: ignore[union-attr]
            except Exception as exc:  # a backend failing at this batch: that row says so
                self._batch_reason[batch] = f"fails at batch {batch}: {one_line(exc, 200)}"
        self._fns[batch] = fn
        return fn

    def row(self, batch: int, samples: np.ndarray | None) -> BenchRow:
        """This subject's row at ``batch`` (``samples``: its per-call latencies in ns, None when not timed)."""
        a = self.artifact
        row = BenchRow(
            self.name,
            str(a.path) if a else None,
            self.format,
            self.backend,
            self.precision,
            batch,
            self.status,
            self.reason,
            a.size_bytes if a else None,
            a.verification if a else None,
            self.load_ms,
            self.cold_ms,
            peak_rss_mb=self.peak_rss_mb,
            rss_delta_mb=self.rss_delta_mb,
            gpu_peak_mb=self.gpu_peak_mb,
            accuracy=dict(self.accuracy),
            agreement=dict(self.agreement),
            details={**(a.details if a else {}), **self.details},
        )
        if row.status == "ok" and samples is None:
            row.status, row.reason = "skipped", self._batch_reason.get(batch, "not timed")
        elif samples is not None and len(samples):
            row.latency = LatencyStats.from_ns(samples)
            row.throughput = row.latency.throughput(batch)
        return row


def _module_precision(model: LoadedModel) -> str:
    dtypes = {str(p.dtype).removeprefix("torch.") for p in model.module.parameters()}
    names = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "float64": "fp64"}
    return "/".join(sorted(names.get(d, d) for d in dtypes)) or "fp32"


# -- planning --------------------------------------------------------------------------------------------------


def plan(model: LoadedModel, artifacts: list[Artifact], config: BenchConfig) -> list[Subject]:
    """Subjects to measure: eager first, then other runners of the eager module where the device allows them (a
    CUDA-graph replay on a GPU: the baseline that matters there, TRAPS.md), then each artifact with each backend
    that applies — the format's own backend by default; every backend registered for the format and device with
    ``auto`` (:func:`edgekit.backends.selection.candidates_for` order); the named ones otherwise. On cuda, backends that
    derive reduced precisions from an fp32 model are also run at ``config.precisions``."""
    from edgekit.artifacts.formats import FORMATS
    from edgekit.backends.registry import EAGER, backends_for, ranked
    from edgekit.export.driver import without_axes

    subjects = [Subject(model, "torch")]
    wanted = config.backend_names()
    auto = config.backend == "auto"
    for b in ranked():
        # a backend asked for by name always gets its rows (unavailable, with the reason, on another device)
        if (
            b.name != "torch"
            and EAGER in b.formats
            and (b.name in wanted or (not wanted and config.device in b.devices and (auto or b.name not in OPT_IN)))
        ):
            subjects += [Subject(model, b.name, None, p, _options(b.name, p)) for p in _precisions(b.name, config)]
    for art in artifacts:
        spec_model = without_axes(artifact_model(model, art), art.frozen_axes)
        if auto:
            # none here on this device (an engine on the cpu): its backends' rows say why
            names = [b.name for b in backends_for(art.format, config.device) or backends_for(art.format)]
        elif wanted:
            names = [n for n in wanted if n != "torch"]
        else:
            names = [FORMATS[art.format].backend]
        for name in names:
            derive = art.precision == "fp32" and art.format != "trt"  # an engine's precision is fixed at build
            precisions = _precisions(name, config) if derive else [art.precision]
            for p in precisions:
                options = _options(name, p) if derive else {}
                if name == "tensorrt" and art.format == "onnx":
                    options.update(_trt_shapes(spec_model, config.batches))
                s = Subject(spec_model, name, art, p, options)
                if art.format not in _formats_of(name):
                    s.status, s.reason = "skipped", f"{name} does not run {art.format} artifacts"
                subjects.append(s)
    return subjects


def _precisions(backend: str, config: BenchConfig) -> list[str]:
    """fp32, and on cuda the requested reduced precisions the backend's row says it derives."""
    from edgekit.backends.registry import get_backend

    derived = get_backend(backend).precisions
    if config.device != "cuda":
        return ["fp32"]
    return ["fp32"] + [p for p in config.precisions if p != "fp32" and p in derived]


def _options(backend: str, precision: str) -> dict[str, Any]:
    return {"precision": precision} if precision != "fp32" else {}


def _trt_shapes(model: LoadedModel, batches: tuple[int, ...]) -> dict[str, Any]:
    """TensorRT profile shapes (``NAME:DIMS`` strings) covering every benchmarked batch, for an engine built from
    an ONNX artifact at bench time."""
    out: dict[str, list[str]] = {"min_shapes": [], "opt_shapes": [], "max_shapes": []}
    for spec in model.inputs:
        if 0 not in spec.dynamic:
            continue
        for key, b in (("min_shapes", min(batches)), ("opt_shapes", batches[0]), ("max_shapes", max(batches))):
            out[key].append(f"{spec.name}:" + "x".join(str(d) for d in (b, *spec.shape[1:])))
    return {k: v for k, v in out.items() if v}


def _formats_of(backend: str) -> tuple[str, ...]:
    from edgekit.backends.registry import get_backend

    return get_backend(backend).formats


def artifact_model(model: LoadedModel, art: Artifact) -> LoadedModel:
    """``model`` with the artifact's own input specs from its manifest, when it records them (an artifact may
    have been exported with a static batch), dynamic only where ``model`` is too."""
    from edgekit.core.spec import InputSpec

    recorded = art.manifest.get("inputs") if art.manifest else None
    if not recorded:
        return model
    try:
        specs = [InputSpec.from_json(i) for i in recorded]
    except (KeyError, TypeError):
        return model
    from edgekit.artifacts.origin import compatible

    if not compatible(specs, model.inputs):
        raise BadInput(other_model(model, art) or f"artifact '{art.path}' does not fit {model.source}")
    # an axis is varied only where both the artifact and the eager reference accept other sizes
    own = {s.name: set(s.dynamic) for s in model.inputs}
    specs = [dataclasses.replace(s, dynamic=tuple(ax for ax in s.dynamic if ax in own[s.name])) for s in specs]
    return dataclasses.replace(model, inputs=specs)


def other_model(model: LoadedModel, art: Artifact) -> str | None:
    """:func:`edgekit.artifacts.origin.other_model` for an artifact read with its manifest."""
    from edgekit.artifacts.origin import other_model as origin_of

    return origin_of(model, art.path, art.manifest)


# -- accuracy --------------------------------------------------------------------------------------------------


def score_all(subjects: list[Subject], evalset: EvalSet, report: Callable[[str, float], None]) -> None:
    """Score every open subject on ``evalset``; eager first (its failures are bad input: labels that do not fit
    the model), the others record their failure in their row."""
    from edgekit.bench.accuracy import agreement, chunked, outputs_on, score

    eager = subjects[0]
    if eager.runner is None:
        return
    names = eager.model.input_names
    ref_predict = eager.runner.infer
    ref = outputs_on(ref_predict, evalset.inputs, names)
    eager.accuracy = score(evalset, ref_predict, ref_predict, ref, eager.model)
    eager.agreement = agreement(ref, ref, evalset.classifier)
    eager.agreement.update(within_tolerance(ref, ref, eager))
    for i, s in enumerate(subjects[1:], 1):
        if not s.ok:
            continue
        report(f"scoring {s.label}", 0.05 + 0.15 * i / len(subjects))
        static = s.static_batch()
        predict = s.runner.infer if static is None else chunked(s.runner.infer, static)  # type: ignore[union-attr]
        try:
            got = outputs_on(predict, evalset.inputs, names, batch=256 if static is None else static)
            s.agreement = agreement(got, ref, evalset.classifier)
            s.agreement.update(within_tolerance(got, ref, s))
            s.accuracy = score(evalset, predict, ref_predict, got, s.model)
        except Exception as exc:  # an artifact failing on real data is a finding, reported in its row
            s.accuracy = {"error": one_line(exc, 200)}


def within_tolerance(got: list[np.ndarray], ref: list[np.ndarray], s: Subject) -> dict[str, Any]:
    """Whether every output is within the precision's tolerance of eager (``|got - ref| <= atol + rtol*|ref|``,
    :func:`edgekit.backends.precision.tolerance_for`, never tighter than the model's own)."""
    from edgekit.backends.precision import TOLERANCES, tolerance_for

    precision = s.precision if s.precision in TOLERANCES else "fp32"
    device = s.runner.device if s.runner is not None else "cpu"
    tol = tolerance_for(precision, device, s.model.atol, s.model.rtol)
    ok = len(got) == len(ref) and all(
        g.shape == r.shape
        and bool(
            np.all(
                np.abs(g.astype(np.float64) - r.astype(np.float64))
                <= tol.atol + tol.rtol * np.abs(r.astype(np.float64))
            )
        )
        for g, r in zip(got, ref, strict=False)
    )
    return {"within_tolerance": ok, "atol": tol.atol, "rtol": tol.rtol}
