"""The reports people read: a rich table (one row per artifact, backend and batch, after Ultralytics' benchmark
table), JSON (the versioned schema of docs/bench-schema.md), Markdown, and a self-contained HTML page with inline
SVG charts (:mod:`edgekit.bench.html`).

Every renderer works on the JSON form of a result (``BenchResult.to_json()``), so a saved report can be rendered
again later.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgekit.core.io import write_json, write_text

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


# -- rich ------------------------------------------------------------------------------------------------------


def rich_table(report: Report) -> Any:
    """The terminal table: one row per (artifact, backend, batch)."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    metric = metric_name(report)
    s = report["settings"]
    eager = report["model"].get("eager", "")
    title = escape(
        f"Benchmark — {report['model']['source']} — {s['device']}, {s['threads']} threads, {report['host']['cpu']}"
        + (f"\neager = {eager}" if eager and "MODEL run by PyTorch" not in eager else "")
    )
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    cols = [
        "artifact",
        "backend",
        "prec",
        "batch",
        "status",
        "MB",
        metric or "metric",
        "agree%",
        "max diff",
        "p50 ms",
        "p99 ms",
        "samples/s",
        "vs eager",
    ]
    for c in cols:
        left = c in ("artifact", "backend", "prec", "status")
        table.add_column(c, justify="left" if left else "right", overflow="fold", no_wrap=c != "artifact")
    for row in report["rows"]:
        lat = row.get("latency_ms") or {}
        agree, diff = agreement_text(row)
        status = "[green]ok[/]" if row["status"] == "ok" else f"[yellow]{escape(row['status'])}[/]"
        if row.get("disturbed"):
            status += " [yellow]disturbed[/]"
        table.add_row(
            escape(row["name"]),
            escape(row["backend"]),
            escape(row["precision"]),
            str(row["batch"]),
            status,
            size_mb(row),
            accuracy_text(row, metric),
            agree,
            diff,
            fmt_ms(lat.get("p50")),
            fmt_ms(lat.get("p99")),
            fmt_rate(row.get("throughput")),
            speedup_text(row),
        )
    return table


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


# -- markdown --------------------------------------------------------------------------------------------------


def markdown(report: Report, title: str = "edgekit benchmark") -> str:
    """The report as Markdown: host and settings, the table, the picks and the notes."""
    h, s = report["host"], report["settings"]
    metric = metric_name(report)
    gpu = h["gpu"]["name"] if h.get("gpu") else "none"
    budget = f"{s['iters']} iterations" if "iters" in s else f"{s['seconds']} s"
    lines = [
        f"# {title}",
        "",
        f"- model: `{report['model']['source']}`; accuracy on {report['evaluation']['source']}",
        f"- host: {h['cpu']}, {h['cores_logical']} logical cores ({h.get('cores_physical')} physical), "
        f"{h['memory_gb']} GiB, GPU: {gpu}; load average {h.get('load_average')}",
        f"- device {s['device']}, {s['threads']} threads, warmup {s['warmup']}, {budget} per subject and batch, "
        f"interleaved: {s['interleave']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in h["versions"].items()),
        f"- {report['created']}",
        "",
    ]
    head = [
        "artifact",
        "backend",
        "precision",
        "batch",
        "status",
        "size MB",
        metric or "metric",
        "top-1 agree %",
        "max abs diff",
        "p50 ms",
        "mean ms",
        "std ms",
        "min ms",
        "p90 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "samples/s",
        "vs eager",
        "load ms",
        "cold ms",
        "peak RSS MB",
    ]
    align = "|".join("---" if i < 5 else "---:" for i in range(len(head)))
    lines += ["| " + " | ".join(head) + " |", f"|{align}|"]
    for row in report["rows"]:
        lat = row.get("latency_ms") or {}
        agree, diff = agreement_text(row)
        cells = [
            f"`{row['name']}`",
            row["backend"],
            row["precision"],
            str(row["batch"]),
            _md_escape(status_of(row))[:120],
            size_mb(row),
            accuracy_text(row, metric),
            agree,
            diff,
            *(fmt_ms(lat.get(k)) for k in ("p50", "mean", "std", "min", "p90", "p95", "p99", "max")),
            fmt_rate(row.get("throughput")),
            speedup_text(row),
            fmt_ms(row.get("load_ms")),
            fmt_ms(row.get("cold_ms")),
            fmt_num(row.get("peak_rss_mb"), 4),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    picks = summary_lines(report)
    if picks:
        lines += ["", *[f"- {p}" for p in picks]]
    lines += [f"- {line}" for line in pipeline_lines(report)]
    extra = notes(report)
    if extra:
        lines += ["", "Notes:", "", *[f"- {_md_escape(n)}" for n in extra]]
    return "\n".join(lines) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# -- writing ---------------------------------------------------------------------------------------------------


def write_reports(
    report: Report,
    *,
    json_path: Path | None = None,
    markdown_path: Path | None = None,
    html_path: Path | None = None,
    title: str = "edgekit benchmark",
) -> list[Path]:
    """Write the requested reports atomically; returns the paths written."""
    from edgekit.bench.html import html_page

    written = []
    if json_path is not None:
        write_json(json_path, report)
        written.append(json_path)
    if markdown_path is not None:
        write_text(markdown_path, markdown(report, title))
        written.append(markdown_path)
    if html_path is not None:
        write_text(html_path, html_page(report, title))
        written.append(html_path)
    return written


def ok_rows(report: Report) -> Sequence[dict[str, Any]]:
    return [r for r in report["rows"] if r.get("latency_ms")]
