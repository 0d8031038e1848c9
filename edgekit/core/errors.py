"""One exception family for edgekit; each error carries the CLI exit code that reports it.

Exit codes, the same for every command:
    0  success
    1  a verification or quality gate failed        (VerificationFailed)
    2  bad input: files, options, models, data      (BadInput)
    3  a requested backend or format is unavailable (BackendUnavailable)
    4  an internal error: a bug in edgekit itself  (InternalError, and any unexpected exception)

Messages follow one pattern: what failed, expected vs got, and how to fix it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


class EdgekitError(Exception):
    """Base of every error edgekit raises on purpose. ``exit_code`` is what the CLI returns."""

    exit_code = 2


class BadInput(EdgekitError):
    """The user gave something edgekit cannot use (file, option value, model, checkpoint, data)."""

    exit_code = 2


class VerificationFailed(EdgekitError):
    """An exported artifact disagrees with eager PyTorch, or a quality gate was not met."""

    exit_code = 1


class BackendUnavailable(EdgekitError):
    """A requested backend, device or format cannot run on this machine."""

    exit_code = 3


def suggest(name: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean 'x'?' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


class InternalError(EdgekitError):
    """edgekit's own bug (not the user's input, not a missing backend): reported as such, with its own exit code."""

    exit_code = 4


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_WRAPPERS = ("Failed to export the model", "Failed to convert the exported program")
_ORT_PREFIX = "[ONNXRuntimeError]"


def one_line(exc: BaseException, limit: int = 300, *, kind: bool = True) -> str:
    """The one line of ``exc`` worth showing: the first non-empty line of its message, without colour codes or
    ONNX Runtime's ``[ONNXRuntimeError] : N : KIND :`` prefix, cut to ``limit`` characters; prefixed with the type
    (``ValueError: ...``) when ``kind``. The ONNX exporter's generic wrappers are skipped in favour of their cause.
    An empty message gives the type's name alone (never an IndexError)."""
    while exc.__cause__ is not None and any(str(exc).strip().startswith(w) for w in _WRAPPERS):
        exc = exc.__cause__
    lines = [ln.strip() for ln in _ANSI.sub("", str(exc)).splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    if text.startswith(_ORT_PREFIX):
        text = text.split(" : ", 3)[-1]
    text = text[:limit]
    if not text:
        return type(exc).__name__
    return f"{type(exc).__name__}: {text}" if kind else text
