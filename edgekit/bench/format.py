"""Text of a benchmark report's rows, shared by every renderer (rich table, Markdown, HTML): numbers formatted for
reading, per-row status, accuracy and agreement texts, summary lines and notes. Pure functions of the JSON form of a
result (``BenchResult.to_json()``); imports nothing from the renderers, so :mod:`edgekit.bench.report` and
:mod:`edgekit.bench.html` both build on it without importing each other in a circle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

Report = dict[str, Any]


# -- formatting ------------------------------------------------------------------------------------------------


def fmt_ms(x: float | None) -> str:
    """Milliseconds with 3 significant digits (``0.0155``, ``1.23``, ``123``)."""
    if x is None or not math.isfinite(x):
        return "-"
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:.3g}" if x >= 0.001 else f"{x:.2e}"


def fmt_num(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}g}"


def fmt_rate(x: float | None) -> str:
    """Samples per second: whole numbers with thousands separators from 100 up."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def metric_name(report: Report) -> str | None:
    return (report.get("evaluation") or {}).get("metric")


def metric_value(row: dict[str, Any], metric: str | None) -> float | None:
    """The row's headline metric, or None (not scored, or scoring failed)."""
    if metric is None:
        return None
    value = (row.get("accuracy") or {}).get(metric)
    return float(value) if isinstance(value, (int, float)) else None


def accuracy_text(row: dict[str, Any], metric: str | None) -> str:
    acc = row.get("accuracy") or {}
    if "error" in acc:
        return "error"
    value = metric_value(row, metric)
    return fmt_num(value) if value is not None else "-"


def agreement_text(row: dict[str, Any]) -> tuple[str, str]:
    """(top-1 agreement %, max abs diff) with eager, as text."""
    agree = row.get("agreement") or {}
    if "error" in agree:
        return "error", "-"
    pct = agree.get("top1_pct")
    diff = agree.get("max_abs_diff")
    return (f"{pct:.1f}" if pct is not None else "-", f"{diff:.1e}" if diff is not None else "-")


def speedup_text(row: dict[str, Any]) -> str:
    s = row.get("speedup")
    return f"{s:.2f}x" if s is not None else "-"


def status_of(row: dict[str, Any]) -> str:
    """``ok``, or the status with its reason; ``, disturbed (...)`` when other processes took cores while the row
    was timed."""
    text = row["status"] if row["status"] == "ok" else f"{row['status']}: {row.get('reason', '')}"
    return text + (f", {disturbed_text(row)}" if row.get("disturbed") else "")


def disturbed_text(row: dict[str, Any]) -> str:
    """``disturbed (1.0 cores taken)``: the mark of a row timed while other processes took cores."""
    other = (row.get("details") or {}).get("other_cores")
    return "disturbed" + (f" ({other:.1f} cores taken)" if isinstance(other, (int, float)) else "")


def size_mb(row: dict[str, Any]) -> str:
    b = row.get("size_bytes")
    return f"{b / 2**20:.2f}" if b else "-"


def summary_lines(report: Report) -> list[str]:
    """Per batch, what the ``--backend auto`` rule picks (the fastest verified row, never slower than eager), and
    with ``--backend auto`` the fastest backend for each artifact."""
    lines = []
    for p in report.get("picks", []):
        if p["name"] == "eager" and p["backend"] == "torch":
            lines.append(f"batch {p['batch']}: {p.get('explanation', 'eager PyTorch is fastest')}")
            continue
        prec = f"/{p['precision']}" if p.get("precision", "fp32") != "fp32" else ""
        speed = f", {p['speedup']:.2f}x eager" if p.get("speedup") else ""
        shaky = " (disturbed rows: other processes took cores while they were timed; rerun on a quiet machine)"
        lines.append(
            f"batch {p['batch']}: fastest verified is {p['name']} on {p['backend']}{prec} "
            f"({fmt_ms(p['p50_ms'])} ms p50{speed})" + (shaky if p.get("disturbed") else "")
        )
    if report.get("settings", {}).get("backend") == "auto":
        first = report["settings"]["batches"][0]
        best: dict[str, dict[str, Any]] = {}
        for row in report["rows"]:
            if row["batch"] != first or row["format"] == "eager" or not row.get("latency_ms"):
                continue
            if row["name"] not in best or row["latency_ms"]["p50"] < best[row["name"]]["latency_ms"]["p50"]:
                best[row["name"]] = row
        for name, row in best.items():
            lines.append(
                f"--backend auto: {name} runs fastest on {row['backend']} "
                f"({fmt_ms(row['latency_ms']['p50'])} ms p50 at batch {first})"
            )
    return lines


def pipeline_lines(report: Report) -> list[str]:
    """What ``edgekit pipeline`` did before benchmarking (training, exports), when the report comes from it."""
    p = report.get("pipeline")
    if not p:
        return []
    if p.get("trained"):
        metrics = dict(p.get("train_metrics") or {})
        extra = f" ({int(metrics.pop('params', 0)):,} parameters, {metrics.pop('train_seconds', 0):.1f} s)"
        shown = ", ".join(f"{k}={v:.4g}" for k, v in metrics.items())
        lines = [f"trained {p['recipe']}: {shown}{extra} -> {p['checkpoint']}"]
    else:
        lines = [f"checkpoint {p['checkpoint']} (not trained here)"]
    for e in p.get("exports", []):
        lines.append(
            f"export {e['format']}: {e['status']}"
            + (f" ({e['exporter']})" if e.get("exporter") else "")
            + (f": {e['error']}" if e.get("error") else "")
        )
    secs = p.get("seconds") or {}
    if secs:
        lines.append("stage seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in secs.items()))
    if p.get("bench_again"):
        lines.append(f"bench again: {p['bench_again']}")
    return lines


def notes(report: Report) -> list[str]:
    """Reasons of rows that did not run, one line each (deduplicated across batches)."""
    seen: dict[str, str] = {}
    for row in report["rows"]:
        if row["status"] != "ok":
            seen.setdefault(f"{row['name']} [{row['backend']}]: {row['status']}: {row.get('reason', '')}", "")
        err = (row.get("accuracy") or {}).get("error")
        if err:
            seen.setdefault(f"{row['name']} [{row['backend']}]: accuracy not scored: {err}", "")
    return list(seen) + list(report.get("notes", []))


def ok_rows(report: Report) -> Sequence[dict[str, Any]]:
    return [r for r in report["rows"] if r.get("latency_ms")]
