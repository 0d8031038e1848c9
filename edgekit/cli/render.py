"""Rich tables for verification results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table

COLOURS = {"pass": "green", "FAIL": "red", "nondeterministic": "yellow", "error": "red", "not checked": "yellow"}


def status_text(status: str, frozen: Sequence[str] = ()) -> str:
    """A verdict in its colour (markup), with the axes its exporter froze."""
    extra = f" (static {escape(', '.join(frozen))})" if frozen and status == "pass" else ""
    return f"[{COLOURS.get(status, 'white')}]{escape(status)}[/]{extra}"


def _output_result(o: Any) -> str:
    note = f" {escape(o.note)}" if o.note else ""
    return status_text(o.status) + (note if o.status != "pass" else "")


def verification_table(verifications: Sequence[Any], title: str = "Verification against eager PyTorch") -> Table:
    """One row per (artifact, shape, output): max abs, max rel, cosine, and the verdict (pass, FAIL, not checked,
    error at that shape); every user string escaped (a ``[`` in a file name is printed, not read as markup)."""
    table = Table(title=title, title_justify="left")
    for col in ("artifact", "backend", "shape", "output", "max abs", "max rel", "cosine", "result"):
        table.add_column(col, justify="right" if col in ("max abs", "max rel", "cosine") else "left")
    for v in verifications:
        name = escape(str(v.artifact).rsplit("/", 1)[-1])
        for c in v.checks:
            if c.error:
                table.add_row(name, v.backend, c.label, "-", "-", "-", "-", f"[red]error[/]: {escape(c.error[:90])}")
            for o in c.outputs:
                table.add_row(
                    name,
                    escape(v.backend),
                    escape(c.label),
                    escape(o.name),
                    f"{o.max_abs:.2e}",
                    f"{o.max_rel:.2e}",
                    f"{o.cosine:.6f}",
                    _output_result(o),
                )
    return table


def export_table(results: Sequence[Any]) -> Table:
    """One row per requested format: file, exporter, verdict and the largest difference seen."""
    table = Table(title="Export", title_justify="left")
    for col in ("format", "file", "exporter", "max abs diff", "shapes", "status"):
        table.add_column(col)
    for r in results:
        v = r.verification
        exporter = r.details.get("exporter") or r.details.get("method", "-")
        if r.error is not None:
            table.add_row(
                r.format,
                "-",
                escape(str(exporter)),
                "-",
                "-",
                f"[red]{type(r.error).__name__}[/]: {escape(str(r.error)[:80])}",
            )
            continue
        table.add_row(
            r.format,
            escape(r.path.name) if r.path else "-",
            escape(str(exporter)),
            f"{v.max_abs:.2e}" if v else "-",
            str(len(v.checks)) if v else "-",
            status_text(r.status, r.details.get("frozen_axes", ())),
        )
    return table
