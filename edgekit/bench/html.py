"""A self-contained HTML report: inline CSS and inline SVG charts generated here (no script, font or image is
fetched; the page renders offline). Two charts: latency vs accuracy (one point per row) and the latency
distribution of every row (box plots over the stored quantiles, log axis).
"""

from __future__ import annotations

import html
import math
from typing import Any

from edgekit.bench.format import (
    Report,
    accuracy_text,
    agreement_text,
    disturbed_text,
    fmt_ms,
    fmt_num,
    fmt_rate,
    metric_name,
    metric_value,
    notes,
    ok_rows,
    pipeline_lines,
    size_mb,
    speedup_text,
    status_of,
    summary_lines,
)

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
WIDTH = 760

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px}
.meta{color:#555;font-size:13px;line-height:1.5}
table{border-collapse:collapse;font-size:12px;margin-top:8px}
th,td{border-bottom:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#f3f3f3;position:sticky;top:0} td.l,th.l{text-align:left}
tr.bad td{color:#a05a00} .pick{font-weight:600} tr.disturbed td{background:#fff4e0}
svg.chart{background:#fff;border:1px solid #e3e3e3;margin-top:6px}
svg text{font-family:system-ui,sans-serif;font-size:11px;fill:#333}
.notes li{font-size:12px;color:#744}
"""


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


# -- scales ----------------------------------------------------------------------------------------------------


class Scale:
    """Maps data values to pixels on [lo, hi] -> [p0, p1], linear or log10."""

    def __init__(self, lo: float, hi: float, p0: float, p1: float, log: bool = False) -> None:
        if log:
            lo, hi = max(lo, 1e-12), max(hi, 1e-12)
        if hi <= lo:
            pad = abs(lo) * 0.05 or 1e-6
            lo, hi = lo - pad, hi + pad
        self.lo, self.hi, self.p0, self.p1, self.log = lo, hi, p0, p1, log

    def _t(self, v: float) -> float:
        return math.log10(max(v, 1e-12)) if self.log else v

    def __call__(self, v: float) -> float:
        a, b = self._t(self.lo), self._t(self.hi)
        return self.p0 + (self._t(v) - a) / (b - a) * (self.p1 - self.p0)

    def ticks(self) -> list[float]:
        """Round tick values inside [lo, hi]: 1-2-5 per decade on a log scale, ~6 steps on a linear one."""
        if self.log:
            out = []
            for k in range(math.floor(math.log10(self.lo)), math.ceil(math.log10(self.hi)) + 1):
                out += [m * 10.0**k for m in (1, 2, 5) if self.lo <= m * 10.0**k <= self.hi]
            return out or [self.lo, self.hi]
        step = 10 ** math.floor(math.log10((self.hi - self.lo) / 5))
        for m in (1, 2, 5, 10):
            if (self.hi - self.lo) / (step * m) <= 7:
                step *= m
                break
        first = math.ceil(self.lo / step) * step
        return [first + i * step for i in range(int((self.hi - first) / step + 1e-9) + 1)]


def _tick_label(v: float) -> str:
    return f"{v:.3g}"


def _marker(shape: str, x: float, y: float, r: float, colour: str, title: str, cls: str = "point") -> str:
    tip = f"<title>{esc(title)}</title>"
    style = f'fill="{colour}" fill-opacity="0.85" stroke="#222" stroke-width="0.6" class="{cls}"'
    if shape == "square":
        return f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r:.1f}" height="{2 * r:.1f}" {style}>{tip}</rect>'
    if shape == "diamond":
        pts = f"{x:.1f},{y - r * 1.3:.1f} {x + r * 1.3:.1f},{y:.1f} {x:.1f},{y + r * 1.3:.1f} {x - r * 1.3:.1f},{y:.1f}"
        return f'<polygon points="{pts}" {style}>{tip}</polygon>'
    if shape == "triangle":
        pts = f"{x:.1f},{y - r * 1.3:.1f} {x + r * 1.2:.1f},{y + r:.1f} {x - r * 1.2:.1f},{y + r:.1f}"
        return f'<polygon points="{pts}" {style}>{tip}</polygon>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" {style}>{tip}</circle>'


def _axes(
    xs: Scale, ys: Scale | None, left: float, top: float, right: float, bottom: float, xlabel: str, ylabel: str
) -> list[str]:
    out = [f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#444"/>']
    for t in xs.ticks():
        x = xs(t)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">{_tick_label(t)}</text>')
    out.append(f'<text x="{(left + right) / 2:.0f}" y="{bottom + 30}" text-anchor="middle">{esc(xlabel)}</text>')
    if ys is not None:
        out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#444"/>')
        for t in ys.ticks():
            y = ys(t)
            out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#eee"/>')
            out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_tick_label(t)}</text>')
        out.append(
            f'<text transform="translate(14,{(top + bottom) / 2:.0f}) rotate(-90)" '
            f'text-anchor="middle">{esc(ylabel)}</text>'
        )
    return out


# -- charts ----------------------------------------------------------------------------------------------------


def _y_of(report: Report) -> tuple[str, Any]:
    """The scatter's y axis: the recipe/--data metric, else top-1 agreement, else max abs diff vs eager."""
    metric = metric_name(report)
    rows = ok_rows(report)
    if metric and any(metric_value(r, metric) is not None for r in rows):
        return metric, lambda r: metric_value(r, metric)
    if any((r.get("agreement") or {}).get("top1_pct") is not None for r in rows):
        return "top-1 agreement with eager (%)", lambda r: (r.get("agreement") or {}).get("top1_pct")
    return "max abs diff vs eager", lambda r: (r.get("agreement") or {}).get("max_abs_diff")


def scatter_svg(report: Report) -> str:
    """Latency (p50, ms) vs accuracy: one marker per row that ran, labelled ``artifact (precision, bN)``;
    colour = backend, shape = precision (fp32 circle, fp16 square, int8 diamond)."""
    rows = ok_rows(report)
    ylabel, yfun = _y_of(report)
    pts = [(r, r["latency_ms"]["p50"], yfun(r)) for r in rows]
    pts = [(r, x, y) for r, x, y in pts if y is not None and math.isfinite(y)]
    height, left, right, top, bottom = 380, 70, WIDTH - 170, 20, 330
    parts = [
        f'<svg class="chart" id="latency-accuracy" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="latency vs accuracy">'
    ]
    if not pts:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle">no row has both a latency and '
            f"an accuracy</text></svg>"
        )
        return "".join(parts)
    xs_v = [x for _, x, _ in pts]
    ys_v = [y for _, _, y in pts]
    log = max(xs_v) / max(min(xs_v), 1e-12) > 8
    xs = Scale(min(xs_v) / (1.3 if log else 1), max(xs_v) * (1.3 if log else 1), left + 10, right - 10, log)
    if not log:
        span = (max(xs_v) - min(xs_v)) or max(xs_v) * 0.1 or 1e-3
        xs = Scale(max(0.0, min(xs_v) - span * 0.1), max(xs_v) + span * 0.1, left + 10, right - 10)
    yspan = (max(ys_v) - min(ys_v)) or abs(max(ys_v)) * 0.02 or 1e-3
    ys = Scale(min(ys_v) - yspan * 0.15, max(ys_v) + yspan * 0.15, bottom - 10, top + 10)
    parts += _axes(xs, ys, left, top, right, bottom, "latency p50 (ms, log)" if log else "latency p50 (ms)", ylabel)
    backends = sorted({r["backend"] for r, _, _ in pts})
    precisions = sorted({r.get("precision") or "fp32" for r, _, _ in pts}, key=_precision_order)
    placed: list[tuple[float, float, float, float]] = []
    for r, x, y in pts:
        colour = PALETTE[backends.index(r["backend"]) % len(PALETTE)]
        precision = r.get("precision") or "fp32"
        label = f"{r['name']} ({precision}, b{r['batch']})"
        parts.append(
            _marker(
                precision_shape(precision),
                xs(x),
                ys(y),
                6,
                colour,
                f"{label} [{r['backend']}]: {fmt_ms(x)} ms, {ylabel} {fmt_num(y)}",
                f"point prec-{esc(precision)}",
            )
        )
        parts.append(_point_label(label, xs(x), ys(y), (left, top, right, bottom), placed))
    ly = top + 10
    for b in backends:
        parts.append(_marker("circle", right + 24, ly, 5, PALETTE[backends.index(b) % len(PALETTE)], b))
        parts.append(f'<text x="{right + 36}" y="{ly + 4}">{esc(b)}</text>')
        ly += 18
    ly += 8
    for p in precisions:
        parts.append(_marker(precision_shape(p), right + 24, ly, 5, "#bbb", p, f"point prec-{esc(p)}"))
        parts.append(f'<text x="{right + 36}" y="{ly + 4}">{esc(p)}</text>')
        ly += 18
    parts.append("</svg>")
    return "".join(parts)


PRECISION_SHAPES = {"fp32": "circle", "fp16": "square", "bf16": "square", "int8": "diamond"}
"""Marker shape per precision in the latency-accuracy chart (any other precision: a triangle)."""
LABEL_CHAR_PX = 6.2  # approximate advance of one 11 px system-ui character, for label placement


def precision_shape(precision: str) -> str:
    """The marker shape of ``precision``: reduced-precision artifacts never look like fp32 ones."""
    return PRECISION_SHAPES.get(precision, "triangle")


def _precision_order(p: str) -> tuple[int, str]:
    return (list(PRECISION_SHAPES).index(p) if p in PRECISION_SHAPES else len(PRECISION_SHAPES), p)


def _point_label(
    text: str,
    x: float,
    y: float,
    frame: tuple[float, float, float, float],
    placed: list[tuple[float, float, float, float]],
) -> str:
    """A text label beside the marker at (x, y): the first of a few positions (right, above-right, below-right,
    left) that stays inside ``frame`` (left, top, right, bottom) and overlaps no label placed before; ``placed``
    gets its box."""
    width, height = len(text) * LABEL_CHAR_PX, 12.0
    left, top, right, bottom = frame
    candidates = [(x + 9, y + 4), (x + 9, y - 9), (x + 9, y + 17), (x - 9 - width, y + 4), (x - 9 - width, y - 9)]
    candidates += [(x + 9, y + 4 + 13 * k) for k in range(2, 8)]
    chosen = candidates[0]
    for cx, cy in candidates:
        box = (cx, cy - height + 2, cx + width, cy + 2)
        inside = box[0] >= left and box[2] <= right + 14 and box[1] >= top and box[3] <= bottom  # not over the legend
        if inside and not any(_overlap(box, b) for b in placed):
            chosen = (cx, cy)
            break
    placed.append((chosen[0], chosen[1] - height + 2, chosen[0] + width, chosen[1] + 2))
    return f'<text class="point-label" x="{chosen[0]:.1f}" y="{chosen[1]:.1f}">{esc(text)}</text>'


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def box_svg(report: Report) -> str:
    """Latency distribution of every row that ran: whiskers p1-p99, box p25-p75, median line, mean dot; the
    maximum is marked where it falls inside the axis (log scale)."""
    rows = [r for r in ok_rows(report) if len(r["latency_ms"].get("quantiles") or []) >= 100]
    row_h, left, right, top = 24, 250, WIDTH - 20, 16
    height = top + row_h * max(len(rows), 1) + 44
    bottom = top + row_h * max(len(rows), 1)
    parts = [
        f'<svg class="chart" id="latency-distribution" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="latency distributions">'
    ]
    if not rows:
        parts.append(f'<text x="{WIDTH / 2}" y="30" text-anchor="middle">no timed rows</text></svg>')
        return "".join(parts)
    lo = min(r["latency_ms"]["quantiles"][0] for r in rows)
    hi = max(r["latency_ms"]["quantiles"][99] for r in rows)
    xs = Scale(lo / 1.15, hi * 1.15, left, right, log=True)
    parts += _axes(xs, None, left, top, right, bottom, "latency per call (ms, log)", "")
    backends = sorted({r["backend"] for r in rows})
    for i, r in enumerate(rows):
        q = r["latency_ms"]["quantiles"]
        y = top + row_h * i + row_h / 2
        colour = PALETTE[backends.index(r["backend"]) % len(PALETTE)]
        label = f"{r['name']} [{r['backend']}] b{r['batch']}"
        tip = (
            f"{label}: p1 {fmt_ms(q[1])}, p25 {fmt_ms(q[25])}, p50 {fmt_ms(q[50])}, p75 {fmt_ms(q[75])}, "
            f"p99 {fmt_ms(q[99])}, max {fmt_ms(q[100])} ms ({r['latency_ms']['count']} calls)"
        )
        parts.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{esc(label)}</text>')
        parts.append(f'<g class="dist"><title>{esc(tip)}</title>')
        parts.append(f'<line x1="{xs(q[1]):.1f}" y1="{y:.1f}" x2="{xs(q[99]):.1f}" y2="{y:.1f}" stroke="{colour}"/>')
        for k in (1, 99):
            parts.append(
                f'<line x1="{xs(q[k]):.1f}" y1="{y - 5:.1f}" x2="{xs(q[k]):.1f}" y2="{y + 5:.1f}" stroke="{colour}"/>'
            )
        x25, x75 = xs(q[25]), xs(q[75])
        parts.append(
            f'<rect class="box" x="{x25:.1f}" y="{y - 7:.1f}" width="{max(x75 - x25, 1.5):.1f}" '
            f'height="14" fill="{colour}" fill-opacity="0.35" stroke="{colour}"/>'
        )
        parts.append(
            f'<line class="median" x1="{xs(q[50]):.1f}" y1="{y - 8:.1f}" x2="{xs(q[50]):.1f}" '
            f'y2="{y + 8:.1f}" stroke="#111" stroke-width="2"/>'
        )
        mean = r["latency_ms"]["mean"]
        if xs.lo <= mean <= xs.hi:
            parts.append(f'<circle cx="{xs(mean):.1f}" cy="{y:.1f}" r="2.5" fill="#fff" stroke="#111"/>')
        if q[100] <= xs.hi:
            parts.append(f'<circle cx="{xs(q[100]):.1f}" cy="{y:.1f}" r="1.8" fill="{colour}"/>')
        else:
            parts.append(
                f'<text x="{right - 2}" y="{y - 6:.1f}" text-anchor="end" font-size="9">max {fmt_ms(q[100])}</text>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


# -- page ------------------------------------------------------------------------------------------------------


def _table(report: Report) -> str:
    metric = metric_name(report) or "metric"
    head = [
        "artifact",
        "backend",
        "precision",
        "batch",
        "status",
        "size MB",
        metric,
        "top-1 agree %",
        "max abs diff",
        "p50 ms",
        "mean ms",
        "std ms",
        "p90 ms",
        "p99 ms",
        "samples/s",
        "vs eager",
        "load ms",
        "cold ms",
        "peak RSS MB",
    ]
    left_cols = {"artifact", "backend", "precision", "status"}
    out = ['<div style="overflow-x:auto"><table><thead><tr>']
    out += [f'<th class="{"l" if h in left_cols else ""}">{esc(h)}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    picked = {p["row"] for p in report.get("picks", [])}
    for r in report["rows"]:
        lat = r.get("latency_ms") or {}
        agree, diff = agreement_text(r)
        cells = [
            r["name"],
            r["backend"],
            r["precision"],
            r["batch"],
            status_of({**r, "disturbed": False})[:140] + (f", {disturbed_text(r)}" if r.get("disturbed") else ""),
            size_mb(r),
            accuracy_text(r, metric_name(report)),
            agree,
            diff,
            *(fmt_ms(lat.get(k)) for k in ("p50", "mean", "std", "p90", "p99")),
            fmt_rate(r.get("throughput")),
            speedup_text(r),
            fmt_ms(r.get("load_ms")),
            fmt_ms(r.get("cold_ms")),
            fmt_num(r.get("peak_rss_mb"), 4),
        ]
        cls = "bad" if r["status"] != "ok" else ("pick" if r["id"] in picked else "")
        cls += " disturbed" if r.get("disturbed") else ""
        out.append(
            f'<tr class="{cls}">'
            + "".join(f'<td class="{"l" if head[i] in left_cols else ""}">{esc(c)}</td>' for i, c in enumerate(cells))
            + "</tr>"
        )
    out.append("</tbody></table></div>")
    return "".join(out)


def _meta(report: Report) -> str:
    h, s = report["host"], report["settings"]
    gpu = f"{h['gpu']['name']} (sm {h['gpu']['compute_capability']})" if h.get("gpu") else "none"
    budget = f"{s['iters']} iterations" if "iters" in s else f"{s['seconds']} s"
    items = [
        f"model <b>{esc(report['model']['source'])}</b>; accuracy on {esc(report['evaluation']['source'])}",
        f"host {esc(h['cpu'])}, {h['cores_logical']} logical / {h.get('cores_physical')} physical cores, "
        f"{h['memory_gb']} GiB; GPU {esc(gpu)}; load average {esc(h.get('load_average'))}",
        f"device {esc(s['device'])}, {s['threads']} threads, warmup {s['warmup']}, {esc(budget)} per subject and "
        f"batch, interleaved {esc(s['interleave'])}; latency = per-call wall time of {esc(s.get('timed_call', ''))}",
        "versions: " + esc(", ".join(f"{k} {v}" for k, v in h["versions"].items())),
        f"created {esc(report['created'])} — schema {esc(report['schema'])}",
    ]
    return '<div class="meta">' + "<br>".join(items) + "</div>"


def html_page(report: Report, title: str = "edgekit benchmark") -> str:
    """The whole report as one HTML document with everything inline."""
    picks = summary_lines(report)
    extra = notes(report)
    body = [f"<h1>{esc(title)}</h1>", _meta(report)]
    picks += pipeline_lines(report)
    if picks:
        body.append("<ul>" + "".join(f"<li>{esc(p)}</li>" for p in picks) + "</ul>")
    body += [
        "<h2>Latency vs accuracy</h2>",
        scatter_svg(report),
        "<h2>Latency distributions</h2>",
        box_svg(report),
        "<h2>All rows</h2>",
        _table(report),
    ]
    if extra:
        body.append('<h2>Notes</h2><ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in extra) + "</ul>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{esc(title)}</title>'
        f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
