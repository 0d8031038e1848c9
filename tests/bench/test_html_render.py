"""The HTML report rendered by a real browser: Debian's headless Chromium lays the page out (the chart elements get
real, non-empty bounding boxes) and paints it (the screenshot holds the charts' colours). Skipped, with the
reason, only where no Chromium is installed (``apt-get install -y chromium``)."""

from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgekit.bench.html import PALETTE, WIDTH, html_page

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian: apt-get install -y chromium); the HTML report cannot be rendered here",
)

# Runs inside the page, after the report: measures what the layout engine made of the charts and writes it into
# the DOM, which --dump-dom then returns. Added for the test only; the report itself has no script.
PROBE = """<script>
const boxes = sel => Array.from(document.querySelectorAll(sel)).map(e => e.getBBox());
const nonEmpty = list => list.filter(b => b.width > 0 && b.height > 0).length;
const chart = id => { const r = document.getElementById(id).getBoundingClientRect(); return [r.width, r.height]; };
document.body.setAttribute('data-probe', JSON.stringify({
  scatter: chart('latency-accuracy'), dist: chart('latency-distribution'),
  points: nonEmpty(boxes('#latency-accuracy .point')), boxes: nonEmpty(boxes('#latency-distribution rect.box')),
  medians: boxes('#latency-distribution line.median').length,
  labels: Array.from(document.querySelectorAll('#latency-accuracy text.point-label')).map(e => {
    const b = e.getBBox(); return [e.textContent, b.x, b.y, b.width, b.height]; }),
  shapes: Object.fromEntries(['fp32', 'fp16', 'int8'].map(p => [p, Array.from(
    document.querySelectorAll('#latency-accuracy .prec-' + p)).map(e => e.tagName)])),
  rows: document.querySelectorAll('table tbody tr').length}));
</script>"""


def chromium(*args: str, profile: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    cmd = [
        CHROMIUM or "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def read_png(path: Path) -> np.ndarray:
    """Decode an 8-bit, non-interlaced RGB/RGBA PNG (what Chromium writes) into an (H, W, C) array."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert header is not None
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    channels = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + width * channels)
    out = np.zeros((height, width * channels), np.int32)
    for y in range(height):
        f, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        prev = out[y - 1] if y else np.zeros_like(line)
        if f == 0:
            cur = line
        elif f == 2:
            cur = (line + prev) % 256
        elif f == 1:  # Sub: a running sum per channel
            cur = (np.cumsum(line.reshape(width, channels), axis=0) % 256).reshape(-1)
        else:  # Average and Paeth depend on the decoded pixel to the left: byte by byte
            cur = np.zeros_like(line)
            for i in range(len(line)):
                a = cur[i - channels] if i >= channels else 0
                b, c = prev[i], prev[i - channels] if i >= channels else 0
                if f == 3:
                    pred = (a + b) // 2
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[i] = (line[i] + pred) % 256
        out[y] = cur
    return out.reshape(height, width, channels)[:, :, :3].astype(np.uint8)


@pytest.fixture()
def report(report: dict[str, Any]) -> dict[str, Any]:
    """The synthetic report with one INT8 and one fp16 artifact among the fp32 ones, as a pipeline --int8 run has."""
    ok = [r for r in report["rows"] if r["status"] == "ok" and r["name"] != "eager"]
    ok[0].update(precision="int8", name="model.int8.onnx")
    ok[-1].update(precision="fp16")
    return report


@pytest.fixture()
def page(report: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "report dir" / "bench.html"
    path.parent.mkdir()
    path.write_text(html_page(report))
    return path


def test_chromium_lays_out_both_charts(report: dict[str, Any], page: Path, tmp_path: Path) -> None:
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    result = chromium("--dump-dom", probed.as_uri(), profile=tmp_path / "profile")
    assert result.returncode == 0, result.stderr[-2000:]
    match = re.search(r"data-probe=\"([^\"]+)\"", result.stdout)
    assert match, "the probe did not run: " + result.stdout[:500]
    probe = json.loads(html.unescape(match.group(1)))  # the attribute as --dump-dom escapes it
    ok_rows = sum(r["status"] == "ok" for r in report["rows"])
    assert probe["scatter"][0] > 500 and probe["scatter"][1] > 300
    assert probe["dist"][0] > 500 and probe["dist"][1] > 24 * ok_rows
    assert probe["points"] == ok_rows + 6  # one marker per row that ran, plus the legend's 3 backends + 3 precisions
    _check_labels(report, probe)
    assert probe["boxes"] == ok_rows and probe["medians"] == ok_rows
    assert probe["rows"] == len(report["rows"])


def test_chromium_paints_the_charts(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    result = chromium(f"--screenshot={shot}", "--window-size=1280,1400", page.as_uri(), profile=tmp_path / "profile")
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    pixels = read_png(shot)
    assert pixels.shape[:2] == (1400, 1280)
    for colour in PALETTE[:3]:  # the three backends' marker colours are on screen (markers: 85 % over white)
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        blended = 0.85 * rgb + 0.15 * 255
        close = np.abs(pixels.astype(float) - blended).sum(axis=2) < 30
        assert close.sum() > 100, f"{colour} markers not painted ({close.sum()} pixels)"
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # text, axes, markers: not a blank page


def _check_labels(report: dict[str, Any], probe: dict[str, Any]) -> None:
    """Every point is named (artifact, precision, batch) by a laid-out label, no two labels overlap, and INT8 /
    fp16 markers have other shapes than fp32 ones."""
    ok = [r for r in report["rows"] if r["status"] == "ok"]
    texts = sorted(label[0] for label in probe["labels"])
    assert texts == sorted(f"{r['name']} ({r['precision']}, b{r['batch']})" for r in ok)
    boxes = [label[1:] for label in probe["labels"]]
    assert all(w > 0 and h > 0 for _, _, w, h in boxes)
    assert all(x + w < WIDTH - 170 + 19 for x, _, w, _ in boxes)  # left of the legend's markers
    for i, (x, y, w, h) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            assert not (x < x2 + w2 and x2 < x + w and y < y2 + h2 and y2 < y + h), (probe["labels"][i], (x2, y2))
    shapes = {p: set(tags) for p, tags in probe["shapes"].items()}
    assert shapes["fp32"] == {"circle"} and shapes["int8"] == {"polygon"} and shapes["fp16"] == {"rect"}
