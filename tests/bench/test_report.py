"""Reports: JSON schema round trip, Markdown, the rich table and the HTML page's structure (the real render is in
test_html_render.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from edgekit.bench import format as fmt
from edgekit.bench import report as rep
from edgekit.bench.html import Scale, box_svg, html_page, scatter_svg
from edgekit.bench.run import SCHEMA, load_result
from edgekit.core.errors import BadInput


def test_json_round_trip_and_schema_check(report: dict[str, Any], tmp_path: Path) -> None:
    paths = rep.write_reports(
        report,
        json_path=tmp_path / "r.json",
        markdown_path=tmp_path / "r.md",
        html_path=tmp_path / "out dir" / "r.html",
    )
    assert [p.name for p in paths] == ["r.json", "r.md", "r.html"] and all(p.is_file() for p in paths)
    assert not list(tmp_path.glob(".*partial*"))  # atomic writes leave no temporaries
    data = load_result(tmp_path / "r.json")
    assert data["schema"] == SCHEMA and len(data["rows"]) == len(report["rows"])
    row = data["rows"][1]
    assert set(row) >= {
        "id",
        "name",
        "artifact",
        "format",
        "backend",
        "precision",
        "batch",
        "status",
        "reason",
        "size_bytes",
        "verification",
        "load_ms",
        "cold_ms",
        "latency_ms",
        "throughput",
        "speedup",
        "peak_rss_mb",
        "rss_delta_mb",
        "gpu_peak_mb",
        "accuracy",
        "agreement",
        "details",
    }
    assert set(row["latency_ms"]) >= {"count", "min", "mean", "std", "p50", "p90", "p95", "p99", "max", "quantiles"}
    (tmp_path / "other.json").write_text(json.dumps({"schema": "something/9"}))
    with pytest.raises(BadInput, match="not an edgekit bench report"):
        load_result(tmp_path / "other.json")


def test_schema_doc_names_every_row_field(report: dict[str, Any]) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "bench-schema.md").read_text()
    assert SCHEMA in doc
    for field in report["rows"][0]:
        assert f"`{field}`" in doc, field
    for field in report:
        assert f"`{field}`" in doc, field


def test_markdown_has_every_row_and_the_reasons(report: dict[str, Any]) -> None:
    md = rep.markdown(report, "my title")
    table = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert len(table) == 1 + len(report["rows"])  # header + rows
    assert all(ln.count("|") == table[0].count("|") for ln in table)  # no cell broke the table
    assert "# my title" in md and "Test CPU" in md and "vs eager" in md
    assert "tensorrt runs on cuda, not cpu" in md
    assert "fastest verified" in md


def test_rich_table_renders(report: dict[str, Any]) -> None:
    console = Console(width=130, record=True)
    console.print(rep.rich_table(report))
    text = console.export_text()
    assert "model<1>&.onnx" in text and "unavailable" in text and "1.00x" in text
    assert "top1" in text


def test_notes_list_rows_that_did_not_run(report: dict[str, Any]) -> None:
    notes = fmt.notes(report)
    assert notes == ["model.engine [tensorrt]: unavailable: tensorrt runs on cuda, not cpu"]


def test_html_is_self_contained_with_both_charts(report: dict[str, Any]) -> None:
    page = html_page(report, "t <&>")
    assert page.startswith("<!DOCTYPE html>") and "<title>t &lt;&amp;&gt;</title>" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched from a network
    assert "<script" not in page and "@import" not in page
    ok_rows = [r for r in report["rows"] if r["status"] == "ok"]
    scatter = scatter_svg(report)
    markers = re.findall(r'class="point[ "]', scatter)
    assert len(markers) == len(ok_rows) + 3 + 1  # one per row + legend (3 backends, 1 precision: fp32)
    assert scatter.count('class="point-label"') == len(ok_rows)  # every point named
    box = box_svg(report)
    assert box.count('class="box"') == len(ok_rows) and box.count('class="median"') == len(ok_rows)
    assert "model&lt;1&gt;&amp;.onnx" in page and "model<1>" not in page


def test_html_without_metric_plots_agreement(make_report: Callable[..., dict[str, Any]]) -> None:
    data = make_report(metric=None)
    assert "top-1 agreement with eager" in scatter_svg(data)
    data["rows"] = [r for r in data["rows"] if r["status"] != "ok"]
    assert "no row has both" in scatter_svg(data) and "no timed rows" in box_svg(data)
    html_page(data)  # renders without charts' data


def test_scale_ticks() -> None:
    log = Scale(0.013, 27.0, 0, 100, log=True)
    assert log.ticks()[0] == pytest.approx(0.02) and log.ticks()[-1] == pytest.approx(20.0)
    assert log(0.013) == pytest.approx(0) and log(27.0) == pytest.approx(100)
    lin = Scale(0.90, 0.95, 100, 0)
    ticks = lin.ticks()
    assert 3 <= len(ticks) <= 8 and all(0.9 <= t <= 0.95 + 1e-12 for t in ticks)
    flat = Scale(0.5, 0.5, 0, 10)  # a degenerate range is padded, not divided by zero
    assert 0 < flat(0.5) < 10


def test_formatting() -> None:
    assert fmt.fmt_ms(0.01563) == "0.0156" and fmt.fmt_ms(123.4) == "123" and fmt.fmt_ms(None) == "-"
    assert fmt.fmt_rate(16299.2) == "16,299" and fmt.fmt_rate(12.34) == "12.3"
