"""The benchmark as a library: latency and accuracy of every (artifact, backend, precision, batch), with eager
PyTorch measured in the same run as the baseline.

    result = run_bench("cnn", ["out/cnn"], BenchConfig(batches=(1, 32), seconds=1.0), checkpoint="ckpt.pt")

Flow: resolve the eager model and the artifacts (files, or directories written by ``edgekit export`` with their
``manifest.json``); build one *subject* per (artifact, backend); activate each (load time, peak RSS, cold first
inference); score each (recipe metric or ``--data`` metric, agreement with eager); then per batch time all
subjects interleaved (:func:`edgekit.bench.timing.time_interleaved`) and derive speedups over eager. A backend that
cannot run here (not installed, wrong device, :class:`BackendUnavailable`) gives an ``unavailable`` row, never a
crash; an artifact that does not load is bad input (exit 2).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekit.artifacts.formats import suffixes
from edgekit.bench import subjects as subj
from edgekit.bench.config import BenchConfig
from edgekit.bench.host import CpuSpan
from edgekit.bench.subjects import Artifact, BenchRow, Subject
from edgekit.bench.timing import Candidate, LatencyStats, time_interleaved
from edgekit.core.errors import BadInput
from edgekit.core.model import LoadedModel

if TYPE_CHECKING:
    from edgekit.training.recipe import Recipe

SCHEMA = "edgekit.bench/1"
"""Version of the JSON report (docs/bench-schema.md). Bump the number on any incompatible change."""

ARTIFACT_SUFFIXES = suffixes()
"""Every suffix of :data:`edgekit.artifacts.formats.FORMATS` (and ``.pt``)."""

Progress = Callable[[str, float], None]
"""Progress callback: what is happening, and the fraction of the whole run done (0..1)."""

Reference = Callable[[Subject, int], "Candidate | None"]
"""For ``benchmarks/``: given an open subject and a batch, a bare loop over the same runtime call (or None); it is
timed interleaved with the subject and its median lands in the row's ``details["bare_loop"]``."""


@dataclasses.dataclass
class BenchResult:
    """A whole run: host, settings, model, rows, and what ``--backend auto`` (or the fastest row) picked."""

    host: dict[str, Any]
    settings: dict[str, Any]
    model: dict[str, Any]
    evaluation: dict[str, Any]
    rows: list[BenchRow]
    picks: list[dict[str, Any]]
    created: str = dataclasses.field(
        default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    )
    notes: list[str] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "created": self.created,
            "host": self.host,
            "settings": self.settings,
            "model": self.model,
            "evaluation": self.evaluation,
            "rows": [r.to_json() for r in self.rows],
            "picks": self.picks,
            "notes": self.notes,
        }


# -- inputs ----------------------------------------------------------------------------------------------------


def split_refs(refs: Sequence[str | Path]) -> tuple[str | None, list[Path]]:
    """Split the command line's MODEL_OR_ARTIFACTS into at most one MODEL reference and artifact paths.

    Directories and files with an artifact suffix are artifacts; anything else is the MODEL. A bare recipe name
    (``cnn``) is the MODEL even when a directory of that name exists here (write ``./cnn`` for the directory).

    Raises:
        BadInput: two MODELs, or a path that looks like an artifact but does not exist.
    """
    from edgekit.training.recipe import recipe_names

    model: str | None = None
    artifacts: list[Path] = []
    recipes = set(recipe_names())
    for ref in refs:
        path = Path(ref)
        bare_recipe = str(ref) in recipes and "/" not in str(ref) and "\\" not in str(ref)
        if not bare_recipe and (path.is_dir() or path.suffix.lower() in ARTIFACT_SUFFIXES and ":" not in path.name):
            if not path.exists():
                raise BadInput(
                    f"artifact '{path}' does not exist; give exported files or the directory edgekit export wrote"
                )
            artifacts.append(path)
        elif model is None:
            model = str(ref)
        else:
            raise BadInput(
                f"two models given ('{model}' and '{ref}'); give one MODEL and any number of artifacts "
                f"or export directories"
            )
    return model, artifacts


def manifest_files(directory: Path) -> set[str] | None:
    """Names of the artifacts the directory's manifest.json lists (None without a manifest): a directory written
    by edgekit holds other files too (checkpoints, reports).

    Raises:
        BadInput: an unreadable manifest.
    """
    from edgekit.artifacts import manifest as mf

    paths = mf.listed(directory)
    return None if paths is None else {p.name for p in paths}


def expand(paths: Sequence[Path], use_manifest: bool = True) -> list[Path]:
    """Files as given; a directory expanded to the artifacts its manifest lists (listed files that are gone
    included: :func:`edgekit.bench.subjects.read_artifact` then fails on them), or, without a manifest or with
    ``use_manifest=False``, to the artifact files it holds; sorted by name.

    Raises:
        BadInput: a missing path, a directory holding no artifact, an unreadable manifest.
    """
    from edgekit.artifacts import manifest as mf

    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            listed = mf.listed(p) if use_manifest else None
            candidates = sorted(listed if listed is not None else p.iterdir())
            found = [f for f in candidates if f.suffix.lower() in ARTIFACT_SUFFIXES and not f.name.startswith(".")]
            if not found:
                raise BadInput(
                    f"directory '{p}' holds no artifacts; expected {'/'.join(ARTIFACT_SUFFIXES)} files "
                    f"(run edgekit export first)"
                )
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise BadInput(f"artifact '{p}' does not exist; give exported files or the directory edgekit export wrote")
    unique: dict[Path, Path] = {}
    for f in out:
        unique.setdefault(f.resolve(), f)
    return list(unique.values())


def resolve_model(
    model: LoadedModel | str | None,
    artifacts: Sequence[Artifact],
    checkpoint: str | Path | None,
    trust_checkpoint: bool = False,
) -> LoadedModel:
    """The eager baseline: ``model`` if given; else the recipe named in the artifacts' manifest (with
    ``checkpoint``); else a ``.pt2`` artifact's program run by torch eagerly; else a TorchScript artifact.

    Raises:
        BadInput: nothing to build a baseline from.
    """
    from edgekit.intake.load import load_model

    if isinstance(model, LoadedModel):
        return model
    if model is not None:
        return load_model(model, checkpoint=checkpoint, trust_checkpoint=trust_checkpoint)
    manifest = next((a.manifest for a in artifacts if a.manifest), {})
    recipe = (manifest.get("model") or {}).get("recipe")
    saved_checkpoint = (manifest.get("model") or {}).get("checkpoint")
    if recipe and (checkpoint or saved_checkpoint):
        return load_model(recipe, checkpoint=checkpoint or saved_checkpoint, trust_checkpoint=trust_checkpoint)
    for fmt in ("pt2", "torchscript"):
        for a in artifacts:
            if a.format == fmt:
                return _load_saved(a.path)
    if recipe:
        raise BadInput(
            f"no eager baseline for recipe '{recipe}': its weights are unknown; pass the model and its "
            f"checkpoint, e.g. edgekit bench {recipe} --checkpoint ckpt.pt {artifacts[0].path.parent}"
        )
    raise BadInput(
        "no eager baseline: give the MODEL the artifacts were exported from (a recipe, file.py:factory "
        "or .pt2) as well as the artifacts, e.g. edgekit bench cnn -c ckpt.pt out/"
    )


def _load_saved(path: Path) -> LoadedModel:
    """A saved .pt2/.ts as the eager baseline."""
    from edgekit.intake.load import load_model

    return load_model(str(path))


def _recipe_for(config: BenchConfig, model: LoadedModel, artifacts: Sequence[Artifact]) -> Recipe | None:
    from edgekit.training.recipe import get_recipe

    if config.data is not None or not config.metric:
        return None
    if config.recipe:
        return get_recipe(config.recipe)
    if model.recipe is not None:
        return model.recipe
    names = {str(n) for a in artifacts if a.manifest and (n := (a.manifest.get("model") or {}).get("recipe"))}
    return get_recipe(names.pop()) if len(names) == 1 else None


# -- the run ---------------------------------------------------------------------------------------------------


def run_bench(
    model: LoadedModel | str | None,
    artifacts: Sequence[str | Path],
    config: BenchConfig,
    *,
    checkpoint: str | Path | None = None,
    trust_checkpoint: bool = False,
    progress: Progress | None = None,
    reference: Reference | None = None,
) -> BenchResult:
    """Benchmark ``artifacts`` (and eager ``model``) as ``config`` says.

    Args:
        model: the eager model (a :class:`LoadedModel` or a MODEL reference), or None to derive it from the
            artifacts (see :func:`resolve_model`).
        artifacts: files or export directories; when empty, ``model`` is exported to a temporary directory in
            every format available here, and those artifacts are benchmarked.
        config: options.
        checkpoint: weights for a recipe or factory ``model``.
        progress: called with a description and the fraction done.
        reference: see :data:`Reference` (benchmarks of the harness itself).

    Raises:
        BadInput: bad options, an artifact that does not load, a data file that does not fit the inputs.
        BackendUnavailable: ``--device cuda`` without a GPU.
    """
    from edgekit.bench.accuracy import eval_set
    from edgekit.bench.host import busy_cores, host_info

    config.validate()
    busy_start = busy_cores()
    report = progress or (lambda _msg, _frac: None)
    files = expand([Path(a) for a in artifacts], config.manifest)
    found = [subj.read_artifact(f, use_manifest=config.manifest, trust=trust_checkpoint) for f in files]
    eager = resolve_model(model, found, checkpoint, trust_checkpoint)
    recipe = _recipe_for(config, eager, found) if config.accuracy else None
    evalset = eval_set(eager, recipe, config.data) if config.accuracy else None
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-") as tmp:
        if not found:
            report("exporting (no artifacts given)", 0.0)
            found = subj.export_here(eager, Path(tmp), config.device)
        subjects = subj.plan(eager, found, config)
        try:
            _activate_all(subjects, config, report)
            if evalset is not None:
                subj.score_all(subjects, evalset, report)
            rows = _time_all(subjects, config, report, reference)
            isolation_notes = _isolate(subjects, rows, config, model, checkpoint, report)
        finally:
            for s in subjects:
                s.close()
    _speedups(rows)
    notes = stability_notes(rows, busy_start, config.thread_count) + isolation_notes
    if isinstance(model, str) and eager.recipe is not None and checkpoint is None and evalset and evalset.recipe:
        notes.append(
            f"{eager.source} ran at its initial, untrained weights: its {evalset.metric} says nothing; "
            f"pass --checkpoint (edgekit train {eager.recipe.name} writes one)"
        )
    report("done", 1.0)
    settings = {
        "device": config.device,
        "threads": config.thread_count,
        "batches": list(config.batches),
        "warmup": config.warmup,
        **config.budget,
        "budget_per": "subject and batch",
        "backend": config.backend or "default",
        "interleave": config.interleave,
        "isolate": config.isolate,
        "timed_call": "Runner.timed_call (ONNX Runtime CPU: session.run(None, feed))",
        "busy_cores_start": busy_start,
        "manifest": "checked (sha256, existence)" if config.manifest else "not used (--no-manifest)",
    }
    baseline = eager_meaning(eager, given=model is not None)
    if baseline != EAGER_MODEL:
        notes.append(f"'eager' (the baseline of 'vs eager') is {baseline}")
    model_info = {
        "source": eager.source,
        "eager": baseline,
        "recipe": eager.recipe.name if eager.recipe else (recipe.name if recipe else None),
        "inputs": [s.to_json() for s in eager.inputs],
        "outputs": list(eager.outputs),
    }
    evaluation = (
        {
            "source": evalset.source,
            "metric": evalset.metric,
            "higher_is_better": evalset.higher_is_better,
            "samples": evalset.samples,
        }
        if evalset
        else {"source": "disabled"}
    )
    return BenchResult(host_info(), settings, model_info, evaluation, rows, picks(rows), notes=notes)


EAGER_MODEL = "the MODEL run by PyTorch (nn.Module, eager mode)"


def eager_meaning(eager: LoadedModel, given: bool) -> str:
    """What the ``eager`` rows measure: the MODEL given, or (artifacts only) a saved program run by torch."""
    kind, _, path = eager.source.partition(":")
    if kind not in ("pt2", "torchscript"):
        return EAGER_MODEL
    what = f"the {'ExportedProgram' if kind == 'pt2' else 'TorchScript module'} {Path(path).name} run by torch"
    return what if given else f"{what}, not the original nn.Module (no MODEL was given); give the MODEL to compare"


def _isolate(
    subjects: list[Subject], rows: list[BenchRow], config: BenchConfig, model: Any, checkpoint: Any, report: Progress
) -> list[str]:
    """With ``config.isolate``, re-time every subject in its own process (:func:`edgekit.bench.isolated.retime`);
    otherwise mark every timed row ``in-process interleaved``."""
    if not config.isolate:
        for r in rows:
            if r.latency is not None:
                r.details.setdefault("timed", "in-process interleaved")
        return []
    from edgekit.bench.isolated import model_reference, retime

    report("timing each subject in its own process", 0.97)
    ref, saved = model_reference(model if model is not None else subjects[0].model)
    ckpt = checkpoint or saved
    return retime(subjects, rows, config, ref, str(ckpt) if ckpt else None)


UNSTABLE = 3.0
"""A row whose median is this many times its fastest call was disturbed for most of its calls."""


def stability_notes(rows: Sequence[BenchRow], busy: float | None, threads: int) -> list[str]:
    """Flag rows whose median was disturbed (``details["unstable"]``) and say why numbers may be inflated: on a
    shared machine, PyTorch's intra-op pool stalls whenever another process holds one of its cores (measured here:
    a 2-thread CNN at batch 32 went from 0.5 ms p50 / 0.7 ms p90 to 133 ms p90 with one busy process beside it)."""
    unstable = []
    for r in rows:
        if r.latency is not None and r.latency.min > 0 and r.latency.p50 > UNSTABLE * r.latency.min:
            r.details["unstable"] = f"p50 is {r.latency.p50 / r.latency.min:.0f}x the fastest call"
            unstable.append(f"{r.name} [{r.backend}] b{r.batch}")
    notes = []
    cores = os.cpu_count() or 1
    if busy is not None and busy > max(cores - threads, 0) + 0.3:
        notes.append(
            f"other processes kept {busy:.1f} of {cores} cores busy when the run started ({threads} "
            f"threads used here): latencies are inflated, PyTorch's most"
        )
    disturbed = [f"{r.name} [{r.backend}] b{r.batch}" for r in rows if r.disturbed]
    if disturbed:
        worst = max(float(r.details.get("other_cores", 0.0)) for r in rows if r.disturbed)
        notes.append(
            f"disturbed: other processes took up to {worst:.1f} of {cores} cores while {', '.join(disturbed)} "
            f"{'was' if len(disturbed) == 1 else 'were'} timed ({threads} threads used here): those latencies are "
            f"inflated; rerun on a quiet machine or with fewer --threads"
        )
    if unstable:
        notes.append(
            f"unstable latencies (median >= {UNSTABLE:.0f}x the fastest call) for {', '.join(unstable)}: "
            f"other processes competed for the CPU; rerun on a quiet machine or with fewer --threads"
        )
    return notes


def _activate_all(subjects: list[Subject], config: BenchConfig, report: Progress) -> None:
    """Open every subject; the eager baseline must open.

    Raises:
        BadInput: the eager model fails to run on its example inputs.
    """
    probes: dict[str, str | None] = {}  # each backend's probe runs once per run
    for i, s in enumerate(subjects):
        report(f"loading {s.label}", 0.05 * i / len(subjects))
        s.open(config, probes)
    if not subjects[0].ok:
        raise BadInput(f"the eager baseline ({subjects[0].model.source}) does not run: {subjects[0].reason}")


def _time_all(
    subjects: list[Subject], config: BenchConfig, report: Progress, reference: Reference | None = None
) -> list[BenchRow]:
    rows: list[BenchRow] = []
    nb = len(config.batches)
    for bi, batch in enumerate(config.batches):
        cands: list[Candidate] = []
        owner: list[tuple[Subject, str]] = []
        for s in subjects:
            fn = s.timed_fn(batch)
            if fn is None:
                continue
            cands.append(Candidate(fn, s.label, s.runner.timing_context))  # type: ignore[union-attr]
            owner.append((s, "timed"))
            bare = reference(s, batch) if reference is not None else None
            if bare is not None:
                cands.append(bare)
                owner.append((s, "bare"))
        base = 0.2 + 0.8 * bi / nb

        def tick(frac: float, _base: float = base, _batch: int = batch, _n: int = len(cands)) -> None:
            report(f"timing batch {_batch} ({_n} candidates)", _base + 0.8 * frac / nb)

        tick(0.0)
        load = [CpuSpan() for _ in cands]
        samples = _measure(cands, config, tick, load)
        timed = {id(s): x for (s, kind), x in zip(owner, samples, strict=True) if kind == "timed"}
        load_of = {id(s): x for (s, kind), x in zip(owner, load, strict=True) if kind == "timed"}
        bare_of = {id(s): x for (s, kind), x in zip(owner, samples, strict=True) if kind == "bare"}
        for s in subjects:
            row = s.row(batch, timed.get(id(s)))
            if id(s) in load_of:
                row.mark_disturbed(load_of[id(s)], config.thread_count)
            if id(s) in bare_of:
                stats = LatencyStats.from_ns(bare_of[id(s)])
                row.details["bare_loop"] = {"p50_ms": stats.p50, "mean_ms": stats.mean, "count": stats.count}
            rows.append(row)
    return rows


def _measure(
    cands: list[Candidate], config: BenchConfig, tick: Callable[[float], None], load: list[CpuSpan]
) -> list[Any]:
    """Time ``cands`` as ``config`` says; ``load`` (one span per candidate) receives the CPU use of other processes
    during each candidate's timed blocks."""
    if not cands:
        return []
    budget = config.budget
    if config.interleave:
        if "seconds" in budget:
            return time_interleaved(
                cands, seconds=budget["seconds"] * len(cands), warmup=config.warmup, tick=tick, load=load
            )
        return time_interleaved(cands, iters=budget["iters"], warmup=config.warmup, tick=tick, load=load)
    out = []
    for i, c in enumerate(cands):
        out.append(time_interleaved([c], warmup=config.warmup, load=[load[i]], **budget))
        tick((i + 1) / len(cands))
    return [x[0] for x in out]


def _speedups(rows: list[BenchRow]) -> None:
    """Each ok row's speedup over eager at the same batch: eager p50 / row p50 (medians of one run)."""
    eager = {
        r.batch: r.latency.p50 for r in rows if r.format == "eager" and r.backend == "torch" and r.latency is not None
    }
    for r in rows:
        if r.latency is not None and r.batch in eager and r.latency.p50 > 0:
            r.speedup = eager[r.batch] / r.latency.p50


def picks(rows: Sequence[BenchRow]) -> list[dict[str, Any]]:
    """Per batch, the ``--backend auto`` rule (:func:`edgekit.backends.selection.choose`) over every row: the fastest
    verified row, never one slower than eager (eager is always a candidate). Verified: the export manifest's verdict
    when there is one, else agreement with eager within the precision's tolerance."""
    from edgekit.backends.selection import Candidate as Choice
    from edgekit.backends.selection import choose

    out = []
    for batch in sorted({r.batch for r in rows}):
        here = [r for r in rows if r.batch == batch]
        eager = [r for r in here if r.format == "eager" and r.backend == "torch"]
        if not eager or eager[0].latency is None:
            continue
        choices = [_choice(Choice, r) for r in here]
        decision = choose(choices)
        chosen = here[next(i for i, c in enumerate(choices) if c is decision.chosen)]
        shaky = [r for r in {id(chosen): chosen, id(eager[0]): eager[0]}.values() if r.disturbed]
        explanation = decision.explanation
        if shaky:
            explanation += (
                f"; this choice rests on disturbed rows ({', '.join(f'{r.name} [{r.backend}]' for r in shaky)}: "
                f"other processes took cores while they were timed), rerun on a quiet machine before deploying on it"
            )
        out.append(
            {
                "batch": batch,
                "row": chosen.id,
                "name": chosen.name,
                "backend": chosen.backend,
                "precision": chosen.precision,
                "p50_ms": chosen.latency.p50 if chosen.latency else None,
                "speedup": chosen.speedup,
                "explanation": explanation,
                "disturbed": bool(shaky),
                "candidates": [
                    {"row": r.id, "status": a.status, "why": a.why}
                    for r, a in zip(here, decision.candidates, strict=True)
                ],
            }
        )
    return out


def _choice(cls: Any, r: BenchRow) -> Any:
    """A row as an :class:`edgekit.backends.selection.Candidate`. Verified: the agreement measured in this run
    within the precision's tolerance, and, when the artifact has a manifest verdict (kept only while its sha256
    matches, :func:`edgekit.bench.subjects.read_artifact`), that verdict too."""
    median = r.latency.p50 if r.latency is not None else None
    available = r.status not in ("unavailable", "skipped")
    if r.format == "eager":
        return cls(r.backend, r.precision if r.backend != "torch" else "fp32", median, True, available, r.reason)
    measured = r.agreement.get("within_tolerance") if "within_tolerance" in r.agreement else None
    if measured is False:
        verified, why = (
            False,
            r.reason
            or (
                f"max abs diff {r.agreement.get('max_abs_diff', float('nan')):.3g} vs eager beyond atol "
                f"{r.agreement.get('atol')}, measured in this run"
                + (f" (the manifest's '{r.verification}' is not taken over it)" if r.verification else "")
            ),
        )
    elif r.verification is not None:
        verified = r.verification == "pass"
        why = r.reason or (f"export verification {r.verification}" if not verified else "")
    elif measured:
        verified, why = True, r.reason
    else:
        verified, why = False, r.reason or "not verified (no manifest verdict; scoring disabled)"
    return cls(r.backend, r.precision, median, verified, available, why)


def load_result(path: str | Path) -> dict[str, Any]:
    """A JSON report written by :func:`edgekit.bench.report.write_json` (checked for the schema).

    Raises:
        BadInput: not a bench report of this schema.
    """
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BadInput(
            f"'{path}' is not an edgekit bench report of schema {SCHEMA} "
            f"(got {data.get('schema') if isinstance(data, dict) else type(data).__name__})"
        )
    return data
