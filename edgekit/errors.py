"""One exception family for edgekit; each error carries the CLI exit code that reports it.

Exit codes, the same for every command:
    0  success
    1  a verification or quality gate failed        (VerificationFailed)
    2  bad input: files, options, models, data      (BadInput)
    3  a requested backend or format is unavailable (BackendUnavailable)

Messages follow one pattern: what failed, expected vs got, and how to fix it.
"""

from __future__ import annotations

import difflib
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
