"""One exit decision for every command that verifies artifacts (export, compare): results in, exit code and the
one line that explains it out, plus warnings for what passed with reservations.

Order: an artifact that failed to run at a shape is an error at that shape (not a difference); an output that
differs is a mismatch; a gate (compare) whose every artifact was "not checked" or skipped did not pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.markup import escape

from edgekit.artifacts.verify import NOT_CHECKED, NOT_CHECKED_FIX


@dataclasses.dataclass(frozen=True)
class Decision:
    """``code`` to exit with; ``line`` the one line saying why (stderr when ``code`` is not 0, else stdout; may be
    empty); ``warnings`` lines printed before it."""

    code: int
    line: str
    warnings: tuple[str, ...] = ()
    label: str = "error"


def _name(v: Any) -> str:
    return Path(str(v.artifact)).name


def _worst_output(v: Any) -> str:
    """The failing output with the lowest cosine: name, max abs diff, cosine and why."""
    fails = [(c, o) for c in v.checks for o in c.outputs if o.status == "FAIL"]
    c, o = min(fails, key=lambda co: co[1].cosine if co[1].cosine == co[1].cosine else -2.0)
    return f"{o.name} at {c.label}: max abs diff {o.max_abs:.3g}, cosine {o.cosine:.4g}" + (
        f" ({o.note})" if o.note else ""
    )


def _not_checked_why(v: Any) -> str:
    """Why outputs were not checked, once per reason (the largest peak for "within atol of zero")."""
    unchecked = [o for c in v.checks for o in c.outputs if o.status == NOT_CHECKED]
    small = [o.scale for o in unchecked if o.note.startswith("eager output peaks")]
    notes = sorted({o.note for o in unchecked if o.note and not o.note.startswith("eager output peaks")})
    if small:
        notes.insert(0, f"eager output peaks at {max(small):.2g}, within atol {v.atol:g} of zero")
    return "; ".join(notes[:2])


def _error_line(v: Any) -> str:
    """The line for an artifact that could not be compared at some shape, by what went wrong."""
    c = next(c for c in v.checks if c.error)
    if c.kind == "inputs":
        return (
            f"{_name(v)} {c.error}: it was not exported from this model (or with other --input names); compare it "
            f"with the MODEL it came from"
        )
    if c.kind == "outputs":
        return (
            f"{_name(v)} {c.error}: it was exported from another model, or the model's number of outputs depends "
            f"on its input; compare it with the MODEL it came from"
        )
    return (
        f"{_name(v)}: error at shape {c.label}, the artifact {c.error}; it does not accept that size (its "
        f"exporter fixed the axis or bounded its size): export with --static, or without that axis's --dynamic mark"
    )


def verdict_warnings(verifications: Sequence[Any]) -> list[str]:
    """Warnings for verdicts that are not failures: nondeterministic eager, outputs not checked."""
    out = []
    for v in verifications:
        if v.status == "nondeterministic":
            out.append(
                f"{_name(v)}: eager PyTorch gives different outputs for the same input (sampling or dropout in "
                f"forward); outputs were not compared: deploy a deterministic path (e.g. a VAE's mean)"
            )
        elif v.status in ("pass", NOT_CHECKED) and v.not_checked():
            out.append(
                f"{_name(v)}: output {', '.join(v.not_checked())} not checked ({_not_checked_why(v)}): random "
                f"inputs cannot tell a right file from a wrong one there; {NOT_CHECKED_FIX}"
            )
    return out


def _hint(hint: str, v: Any) -> str:
    """``; run `edgekit debug MODEL FILE` ...`` for the failing artifact, or nothing without a hint."""
    return f"; run `{hint.replace('ARTIFACT', str(v.artifact))}` to name the first diverging module" if hint else ""


def decide(
    verifications: Sequence[Any],
    *,
    errors: Sequence[tuple[str, Any]] = (),
    gate: bool = False,
    skipped: int = 0,
    hint: str = "",
) -> Decision:
    """The exit code and line for verification results.

    Args:
        verifications: :class:`edgekit.artifacts.verify.Verification` objects.
        errors: ``(what, EdgekitError)`` pairs that stopped an artifact (export errors): the first decides.
        gate: a CI gate (compare): checking nothing is a failure (exit 1); otherwise (export) it is a warning.
        skipped: artifacts the caller did not verify (said already, counted in the success line).
        hint: a command that digs deeper into a mismatch (``edgekit debug MODEL ARTIFACT``; ``ARTIFACT`` is
            replaced by the failing file), added to its line.
    """
    warnings = tuple(verdict_warnings(verifications))
    if errors:
        what, exc = errors[0]
        return Decision(int(getattr(exc, "exit_code", 4)), f"{what}: {exc}", warnings)
    broken = [v for v in verifications if v.status == "error"]
    if broken:
        return Decision(1, _error_line(broken[0]), warnings)
    failed = [v for v in verifications if v.status == "FAIL"]
    if failed:
        v = failed[0]
        also = f" (and {', '.join(_name(x) for x in failed[1:])})" if len(failed) > 1 else ""
        worst = _worst_output(v)
        fix = (
            "its outputs point elsewhere than eager's, which no tolerance explains: check that it was exported from "
            "this MODEL and --checkpoint (other weights, another seed?)"
            if "(cosine" in worst
            else "loosen --atol/--rtol only if the difference is expected"
        )
        return Decision(
            1,
            f"{_name(v)}{also} differs from eager: {worst}; expected |diff| <= atol {v.atol:g} + rtol "
            f"{v.rtol:g}*|eager| and cosine >= {v.min_cosine}; {fix}"
            + (
                f"; run `{hint.replace('ARTIFACT', str(v.artifact))}` to name the first diverging module"
                if hint
                else ""
            ),
            warnings,
            "mismatch",
        )
    checked = [v for v in verifications if v.status == "pass"]
    if gate and not checked:
        what = "no artifact was verified"
        unchecked = [v for v in verifications if v.status == NOT_CHECKED]
        if unchecked:
            why = _not_checked_why(unchecked[0])
            what = f"checked nothing: every output of {', '.join(_name(v) for v in verifications)} was not checked" + (
                f" ({why})" if why else ""
            )
        return Decision(1, f"{what}; a gate that compared nothing does not pass: {NOT_CHECKED_FIX}", warnings)
    if not gate:
        return Decision(0, "", warnings)
    rest = len(verifications) - len(checked) + skipped
    return Decision(
        0, f"{len(checked)} artifacts match eager" + (f"; {rest} not compared (see above)" if rest else ""), warnings
    )


def exit_on(decision: Decision) -> None:
    """Print the decision's warnings and line (escaped), and exit with its code when it is not 0."""
    import typer

    from edgekit.cli.common import console, say_error, say_warning

    for line in decision.warnings:
        say_warning(line)
    if decision.code:
        say_error(decision.line, label=decision.label)
        raise typer.Exit(decision.code)
    if decision.line:
        console.print(f"[green]{escape(decision.line)}[/]", soft_wrap=True)
