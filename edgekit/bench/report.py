"""The reports people read: a rich table (one row per artifact, backend and batch, after Ultralytics' benchmark
table), JSON (the versioned schema of docs/bench-schema.md), Markdown, and a self-contained HTML page with inline
SVG charts (:mod:`edgekit.bench.html`).

Every renderer works on the JSON form of a result (``BenchResult.to_json()``), so a saved report can be rendered
again later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.bench.format import (
    Report,
    accuracy_text,
    agreement_text,
    fmt_ms,
    fmt_num,
    fmt_rate,
    metric_name,
    notes,
    pipeline_lines,
    size_mb,
    speedup_text,
    status_of,
    summary_lines,
)
from edgekit.bench.html import html_page
from edgekit.core.io import write_json, write_text

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
