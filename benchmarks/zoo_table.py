"""The model zoo table: every architecture of ``tests/zoo/models.py`` through every format, exported and verified
the way a user's ``edgekit export MODEL.py:FACTORY --input ... --dynamic ...`` would be (the library entry point,
:func:`edgekit.export.driver.export_all`).

Per model and format: ``pass`` (exported and verified at every size of the shape plan), ``FAIL`` (exported, but
outputs differ from eager somewhere; the failing sizes are listed), ``error`` (the exporter refused the model, with
its one-line reason) — or ``missing`` when the row was not run. Seconds per format are the export plus the
verification (AOTInductor's C++ compile included, and given apart).

    python benchmarks/zoo_table.py [--models all|bert,wav2vec2] [--formats torchscript,pt2,onnx,aoti]

Results are merged into ``benchmarks/results/zoo.json`` (so formats or models may be run separately) and the table
is rewritten to ``benchmarks/results/zoo.md``. Prints and records; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.zoo.models import ZOO, ZooModel  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
FORMATS = ("torchscript", "pt2", "onnx", "aoti")


def run_model(entry: ZooModel, formats: list[str], tmp: Path) -> dict[str, dict[str, Any]]:
    """Export ``entry`` to ``formats`` and verify each artifact; one result dict per format."""
    from edgekit.artifacts.formats import parse_formats
    from edgekit.core.errors import EdgekitError
    from edgekit.export.driver import export_all
    from edgekit.intake.load import load_model

    ref = f"{ROOT / 'tests' / 'zoo' / 'models.py'}:{entry.ref_factory}"
    try:
        model = load_model(ref, inputs=entry.inputs, dynamic=entry.dynamic)
    except EdgekitError as exc:
        return {f: {"status": "error", "error": f"intake: {exc}"} for f in formats}
    out: dict[str, dict[str, Any]] = {}
    for fmt in parse_formats(",".join(formats)):
        start = time.perf_counter()
        [result] = export_all(model, [fmt], tmp / entry.name / fmt.name)
        out[fmt.name] = _row(result, time.perf_counter() - start)
        print(
            f"{entry.name:16s} {fmt.name:12s} {out[fmt.name]['status']:6s} {out[fmt.name]['seconds']:7.1f}s "
            f"{out[fmt.name].get('error') or ''}"[:220],
            flush=True,
        )
    return out


def _row(result: Any, seconds: float) -> dict[str, Any]:
    row: dict[str, Any] = {"status": result.status, "seconds": round(seconds, 1)}
    if result.error is not None:
        row["error"] = str(result.error).splitlines()[0][:300]
    v = result.verification
    if v is not None:
        row["sizes"] = [c.label for c in v.checks]
        row["max_abs"] = v.max_abs
        row["failures"] = v.failures()[:3]
        if v.details.get("notes"):
            row["notes"] = v.details["notes"]
    for key in ("exporter", "compile_seconds", "frozen_axes"):
        if key in result.details:
            row[key] = result.details[key]
    return row


def render(data: dict[str, Any]) -> str:
    """The Markdown table: one row per model, one cell per format, then the errors and failures in full."""
    lines = [
        "# Model zoo: exported / verified per format",
        "",
        f"Measured {data.get('created', '?')} on {data.get('host', '?')} with {data.get('versions', '')}. "
        "Tiny `transformers` configs, random weights (tests/zoo/models.py). `pass` = exported and verified "
        "against eager at every size of the shape plan; `FAIL` = exported, outputs differ; `error` = the "
        "exporter refused the model with one line (listed below). Seconds: export + verification "
        "(aoti: C++ compile in brackets).",
        "",
        "| model | family | inputs / dynamic | " + " | ".join(FORMATS) + " |",
        "|---|---|---|" + "---|" * len(FORMATS),
    ]
    notes: list[str] = []
    for entry in ZOO:
        res = data["models"].get(entry.name, {})
        cells = [_cell(res.get(f)) for f in FORMATS]
        dyn = " ".join(entry.dynamic) or "batch only"
        lines.append(
            f"| {entry.name} | {entry.family} | `{' '.join(entry.inputs)}` / `{dyn}` | " + " | ".join(cells) + " |"
        )
        for f in FORMATS:
            row = res.get(f) or {}
            if row.get("error"):
                notes.append(f"- {entry.name} / {f}: {row['error']}")
            for line in row.get("failures") or []:
                notes.append(f"- {entry.name} / {f}: {line}")
    counts = {
        f: sum((data["models"].get(e.name, {}).get(f) or {}).get("status") == "pass" for e in ZOO) for f in FORMATS
    }
    lines += ["", "Verified: " + ", ".join(f"{f} {n}/{len(ZOO)}" for f, n in counts.items()), ""]
    if notes:
        lines += ["## Errors and failures", "", *notes, ""]
    return "\n".join(lines)


def _cell(row: dict[str, Any] | None) -> str:
    if not row:
        return "missing"
    text = f"{row['status']} {row.get('seconds', 0):.0f}s"
    if "compile_seconds" in row:
        text += f" ({row['compile_seconds']:.0f}s)"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="all")
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args(argv)
    entries = [z for z in ZOO if args.models == "all" or z.name in args.models.split(",")]
    formats = [f for f in args.formats.split(",") if f]
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "zoo.json"
    data = json.loads(path.read_text()) if path.is_file() else {"models": {}}
    from edgekit.export.driver import versions

    with tempfile.TemporaryDirectory() as tmp:
        for entry in entries:
            data["models"].setdefault(entry.name, {}).update(run_model(entry, formats, Path(tmp)))
            data.update(
                created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                host=f"{platform.processor() or platform.machine()}, {_cores()} cores",
                versions=", ".join(
                    f"{k} {v}" for k, v in versions().items() if k in ("torch", "onnxruntime", "onnx", "edgekit")
                ),
            )
            path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
            (RESULTS / "zoo.md").write_text(render(data))
    print(render(data))
    return 0


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    raise SystemExit(main())
