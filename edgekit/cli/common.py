"""What every command shares: the ``MODEL`` options, error handling (one line, the right exit code) and the
console."""

from __future__ import annotations

import functools
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from edgekit.core.errors import EdgekitError, one_line

# Piped output (CI logs, files) gets 120 columns rather than rich's 80, so tables are not cut.
_WIDTH = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "120"))
console = Console(highlight=False, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, width=_WIDTH)
STATE = {"verbose": False}

# Library chatter on import (torchao's optional GPU kernels, torch's pytree notices) stays out of the CLI's output;
# --verbose lets it through.
QUIET_LOGGERS = ("torchao", "torch.utils._pytree", "torch._dynamo", "torch.export")
for _name in QUIET_LOGGERS:
    logging.getLogger(_name).setLevel(logging.ERROR)

F = TypeVar("F", bound=Callable[..., Any])


def cli_errors(fn: F) -> F:
    """Report an :class:`EdgekitError` as one line on stderr and exit with its code; a traceback only with
    ``--verbose``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except EdgekitError as exc:
            if STATE["verbose"]:
                traceback.print_exc(file=sys.stderr)
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True, emoji=False)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except OSError as exc:  # files: permissions, a directory where a file was expected, a full disk
            if STATE["verbose"]:
                traceback.print_exc(file=sys.stderr)
            what = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
            err_console.print(
                f"[bold red]error:[/] {escape(what)}; check the path and its permissions", soft_wrap=True, emoji=False
            )
            raise typer.Exit(2) from None
        except Exception as exc:  # an edgekit bug or a library failure: still one line, the traceback on demand
            if STATE["verbose"]:
                traceback.print_exc(file=sys.stderr)
            first = one_line(exc, kind=False)
            err_console.print(
                f"[bold red]error:[/] unexpected {type(exc).__name__}: {escape(first)}; rerun with "
                f"--verbose for the traceback and report it",
                soft_wrap=True,
                emoji=False,
            )
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def fail(exit_code: int, message: str) -> None:
    """Print one error line and exit with ``exit_code``."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, emoji=False)
    raise typer.Exit(exit_code)


ModelArg = Annotated[
    str,
    typer.Argument(
        metavar="MODEL",
        help="A recipe (cnn, recipes/cnn.py), path/file.py:factory or package.module:factory, or a .pt2/.ts/.pt file.",
    ),
]
CheckpointOpt = Annotated[
    Path | None,
    typer.Option("--checkpoint", "-c", help="state_dict (or a dict holding one) for a recipe or factory model."),
]
InputOpt = Annotated[
    list[str] | None,
    typer.Option("--input", "-i", help="NAME:DIMS[:DTYPE], repeatable, e.g. x:1x3x32x32 or ids:1x20:int64."),
]
DynamicOpt = Annotated[
    list[str] | None,
    typer.Option("--dynamic", help="NAME:AXIS to mark dynamic besides the batch axis (e.g. an RNN's time axis x:1)."),
]
StaticOpt = Annotated[bool, typer.Option("--static", help="No dynamic axes at all, not even the batch.")]
TrustOpt = Annotated[
    bool,
    typer.Option(
        "--trust-files",
        "--trust-checkpoint",
        help="Trust the files given: load checkpoints holding arbitrary Python objects and .pt2 archives holding "
        "pickled payloads (both can run code). --trust-checkpoint is the old name.",
    ),
]
NoManifestOpt = Annotated[
    bool,
    typer.Option(
        "--no-manifest",
        help="Use the artifacts as bare files: do not read or check the manifest.json beside them (sha256, verdicts).",
    ),
]
AtolOpt = Annotated[float | None, typer.Option("--atol", help="Absolute tolerance (default: the recipe's).")]
RtolOpt = Annotated[float | None, typer.Option("--rtol", help="Relative tolerance (default: the recipe's).")]
SamplesOpt = Annotated[int, typer.Option("--samples", min=1, help="Random input draws per verified shape.")]


def load(
    model: str,
    checkpoint: Path | None,
    inputs: list[str] | None,
    dynamic: list[str] | None,
    static: bool,
    trust: bool,
    atol: float | None = None,
    rtol: float | None = None,
) -> Any:
    """The :class:`~edgekit.core.model.LoadedModel` for the common options."""
    from edgekit.intake.load import load_model

    loaded = load_model(
        model,
        checkpoint=checkpoint,
        inputs=inputs or (),
        dynamic=dynamic or (),
        static=static,
        trust_checkpoint=trust,
        atol=atol,
        rtol=rtol,
    )
    if loaded.binding and loaded.binding.get("reordered"):
        order = ", ".join(loaded.binding["order"])
        err_console.print(f"note: inputs reordered to forward's order: {escape(order)}", soft_wrap=True)
    return loaded
