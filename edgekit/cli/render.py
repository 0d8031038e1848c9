"""Rich tables for verification results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table


def status_text(status: str, frozen: Sequence[str] = ()) -> str:
    colour = {"pass": "green", "FAIL": "red", "nondeterministic": "yellow", "error": "red"}.get(status, "white")
    extra = f" (static {', '.join(frozen)})" if frozen and status == "pass" else ""
    return f"[{colour}]{status}[/]{extra}"


def verification_table(verifications: Sequence[Any], title: str = "Verification against eager PyTorch") -> Table:
    """One row per (artifact, shape, output): max abs, max rel, cosine, pass/fail."""
    table = Table(title=title, title_justify="left")
    for col in ("artifact", "backend", "shape", "output", "max abs", "max rel", "cosine", "result"):
        table.add_column(col, justify="right" if col in ("max abs", "max rel", "cosine") else "left")
    for v in verifications:
        name = str(v.artifact).rsplit("/", 1)[-1]
        for c in v.checks:
            if c.error:
                table.add_row(name, v.backend, c.label, "-", "-", "-", "-", f"[red]error[/]: {c.error[:90]}")
            for o in c.outputs:
                table.add_row(
                    name,
                    v.backend,
                    c.label,
                    o.name,
                    f"{o.max_abs:.2e}",
                    f"{o.max_rel:.2e}",
                    f"{o.cosine:.6f}",
                    "[green]pass[/]" if o.passed else f"[red]FAIL[/] {o.note}",
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
            table.add_row(r.format, "-", exporter, "-", "-", f"[red]{type(r.error).__name__}[/]: {str(r.error)[:80]}")
            continue
        table.add_row(
            r.format,
            r.path.name if r.path else "-",
            str(exporter),
            f"{v.max_abs:.2e}" if v else "-",
            str(len(v.checks)) if v else "-",
            status_text(r.status, r.details.get("frozen_axes", ())),
        )
    return table
