"""What every command shares: the console, one error path (one line, the right exit code, for edgekit's errors,
Typer's parameter errors, Ctrl-C and edgekit's own bugs), quiet libraries, and the MODEL option group."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from edgekit.cli.quiet import quiet_libraries
from edgekit.core.errors import EdgekitError, InternalError, one_line

# Piped output (CI logs, files) gets 120 columns rather than rich's 80, so tables are not cut.
_WIDTH = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "120"))
console = Console(highlight=False, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, width=_WIDTH)
STATE: dict[str, Any] = {"verbose": False, "planned": []}
INTERRUPTED = 130

F = TypeVar("F", bound=Callable[..., Any])


def say_error(message: str, label: str = "error") -> None:
    """One line on stderr: ``label: message`` (the message escaped, never read as rich markup)."""
    err_console.print(f"[bold red]{label}:[/] {escape(message)}", soft_wrap=True, emoji=False)


def say_warning(message: str, label: str = "warning") -> None:
    """One yellow line on stderr (escaped)."""
    err_console.print(f"[yellow]{label}:[/] {escape(message)}", soft_wrap=True, emoji=False)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def plan_outputs(*paths: Path) -> None:
    """Declare files this command means to write, so that Ctrl-C can say which of them were written (new or
    changed since this call) and which were not."""
    STATE["planned"] = [(p, _stamp(p)) for p in paths]


def interrupted_line(written: list[Path], planned: list[tuple[Path, Any]]) -> str:
    """The one line Ctrl-C prints: what was written (complete files), what was not, and that no partial file is
    left (every artifact is written to a temporary name and renamed when complete)."""
    done = list(dict.fromkeys([*written, *(p for p, before in planned if _stamp(p) not in (None, before))]))
    resolved = {p.resolve() for p in done}
    missing = [str(p) for p, _ in planned if p.resolve() not in resolved]
    wrote = ", ".join(str(p) for p in done) or "nothing"
    if missing:
        rest = f"not written: {', '.join(missing)}"
    else:
        rest = "nothing else was written" if planned else "the rest of this command's output was not written"
    return f"Ctrl-C: wrote {wrote}; {rest}; no partial file is left (rerun the command to finish)"


def _report_unexpected(exc: Exception) -> int:
    """One line for an exception edgekit did not raise on purpose; returns its exit code."""
    if isinstance(exc, OSError):  # files: permissions, a directory where a file was expected, a full disk
        what = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
        say_error(f"{what}; check the path and its permissions")
        return 2
    say_error(
        f"internal error: {type(exc).__name__}: {one_line(exc, kind=False)}; rerun with --verbose and report it "
        f"(this is edgekit's bug, not your input)"
    )
    return InternalError.exit_code


def cli_errors(fn: F) -> F:
    """Run a command with quiet libraries and report any failure as one line on stderr with its exit code
    (:mod:`edgekit.core.errors`): an :class:`EdgekitError` with its own code, an OSError with 2, Ctrl-C with 130
    (what was written and what was not), anything else as an internal error (4). Tracebacks only with
    ``--verbose``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from edgekit.core import io

        verbose = bool(STATE["verbose"])
        start = len(io.WRITTEN)
        STATE["planned"] = []
        try:
            with quiet_libraries(enabled=not verbose):
                return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            say_error(interrupted_line(io.WRITTEN[start:], STATE["planned"]), label="interrupted")
            raise typer.Exit(INTERRUPTED) from None
        except Exception as exc:
            if verbose:
                traceback.print_exc(file=sys.stderr)
            if isinstance(exc, EdgekitError):
                say_error(str(exc) if not isinstance(exc, InternalError) else f"internal error: {exc}")
                raise typer.Exit(exc.exit_code) from None
            raise typer.Exit(_report_unexpected(exc)) from None

    return wrapper  # type: ignore[return-value]


try:  # typer >= 0.20 vendors click as typer._click; older typer uses click itself
    from typer._click import exceptions as _click_exc
except ImportError:  # pragma: no cover
    import click.exceptions as _click_exc  # type: ignore[no-redef]


def usage_line(exc: Exception, args: Sequence[str] = ()) -> str:
    """One line for a parameter error Typer found before the command ran (``--samples 0``, an unknown
    ``--method``, a missing argument): click's message names the option and what it expected; the value given
    (from ``args``, the command line) is added when the message does not show it."""
    ctx = getattr(exc, "ctx", None)
    where = f"; see '{ctx.command_path} --help'" if ctx is not None else ""
    text = " ".join(exc.format_message().split()).rstrip(".")  # type: ignore[attr-defined]
    got = _given(getattr(exc, "param", None), args)
    if got is not None and repr(got) not in text and f"'{got}'" not in text:
        text += f", got {got!r}"
    return f"{text}{where}"


def _given(param: Any, args: Sequence[str]) -> str | None:
    """The value the command line gave ``param`` (an option), or None."""
    for name in getattr(param, "opts", None) or ():
        if not name.startswith("-"):
            continue
        for i, a in enumerate(args):
            if a == name and i + 1 < len(args):
                return args[i + 1]
            if a.startswith(name + "="):
                return a[len(name) + 1 :]
    return None


def run_app(call: Callable[[], Any], args: Sequence[str] = ()) -> int:
    """Run a Typer/click ``main(standalone_mode=False)`` call and return the exit code, printing one line for a
    parameter error (exit 2) or an interrupt outside a command (exit 130) instead of Typer's usage panel."""
    try:
        rv = call()
    except _click_exc.NoArgsIsHelpError as exc:  # the help was printed while the error was made
        if exc.format_message().strip():
            err_console.print(exc.format_message(), markup=False, highlight=False)
        return 2
    except _click_exc.ClickException as exc:
        say_error(usage_line(exc, args))
        return 2 if isinstance(exc, _click_exc.UsageError) else int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        say_error("interrupted (Ctrl-C) before the command started; nothing was written", label="interrupted")
        return INTERRUPTED
    return rv if isinstance(rv, int) else 0


class EdgekitGroup(TyperGroup):
    """The app's command group: Typer's parameter errors go through :func:`run_app`'s one-line path."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        given = list(sys.argv[1:] if args is None else args)
        sys.exit(run_app(lambda: super(EdgekitGroup, self).main(args, prog_name, complete_var, False, **extra), given))


def fail(exit_code: int, message: str) -> None:
    """Print one error line and exit with ``exit_code``."""
    say_error(message)
    raise typer.Exit(exit_code)


# -- the MODEL option group --------------------------------------------------------------------------------------

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
    typer.Option(
        "--input", "-i", help="NAME:DIMS[:DTYPE], repeatable, e.g. x:1x3x32x32 or ids:1x20:int64 (bound by name)."
    ),
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


@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """The MODEL option group as one value: what every command that takes a MODEL was given.

    Args:
        model: the MODEL reference (None for ``bench`` given artifacts only).
        checkpoint: ``--checkpoint``.
        inputs: ``--input`` values.
        dynamic: ``--dynamic`` values.
        static: ``--static``.
        trust_files: ``--trust-files`` (alias ``--trust-checkpoint``).
        atol, rtol: ``--atol`` / ``--rtol`` (commands that verify), else None.
    """

    model: str | None = None
    checkpoint: Path | None = None
    inputs: tuple[str, ...] = ()
    dynamic: tuple[str, ...] = ()
    static: bool = False
    trust_files: bool = False
    atol: float | None = None
    rtol: float | None = None

    @property
    def ref(self) -> str:
        """The MODEL reference.

        Raises:
            BadInput: none was given.
        """
        from edgekit.core.errors import BadInput

        if self.model is None:
            raise BadInput("no MODEL given; expected a recipe, file.py:factory or a .pt2/.ts file")
        return self.model

    @property
    def shapes_given(self) -> bool:
        """True when --input, --dynamic or --static was given."""
        return bool(self.inputs or self.dynamic or self.static)

    def load(self) -> Any:
        """The :class:`~edgekit.core.model.LoadedModel` these options describe.

        Raises:
            BadInput: no MODEL, or anything :func:`edgekit.intake.load.load_model` refuses.
        """
        from edgekit.intake.load import load_model

        loaded = load_model(
            self.ref,
            checkpoint=self.checkpoint,
            inputs=self.inputs,
            dynamic=self.dynamic,
            static=self.static,
            trust_checkpoint=self.trust_files,
            atol=self.atol,
            rtol=self.rtol,
        )
        if loaded.binding and loaded.binding.get("reordered"):
            order = ", ".join(loaded.binding["order"])
            err_console.print(f"note: inputs reordered to forward's order: {escape(order)}", soft_wrap=True)
        return loaded


_GROUP: tuple[tuple[str, Any, Any], ...] = (
    ("checkpoint", CheckpointOpt, None),
    ("input", InputOpt, None),
    ("dynamic", DynamicOpt, None),
    ("static", StaticOpt, False),
    ("trust_files", TrustOpt, False),
)
_TOLERANCES: tuple[tuple[str, Any, Any], ...] = (("atol", AtolOpt, None), ("rtol", RtolOpt, None))


def model_options(*, model: bool = True, tolerances: bool = False) -> Callable[[F], F]:
    """Give a command the MODEL option group, declared here once: the decorated function takes ``m:
    ModelOptions`` instead of the individual options, and its Typer signature gains MODEL (first, when ``model``),
    --checkpoint, --input, --dynamic, --static, --trust-files and, with ``tolerances``, --atol/--rtol (after the
    command's own arguments, before its own options)."""
    kw = inspect.Parameter.KEYWORD_ONLY

    def decorate(fn: F) -> F:
        own = [p.replace(kind=kw) for p in inspect.signature(fn, eval_str=True).parameters.values() if p.name != "m"]
        group = [inspect.Parameter(n, kw, default=d, annotation=a) for n, a, d in _GROUP + (_TOLERANCES * tolerances)]
        args = [p for p in own if _is_argument(p)]
        params = ([inspect.Parameter("model", kw, annotation=ModelArg)] if model else []) + args + group
        params += [p for p in own if not _is_argument(p)]
        names = {n for n, _, _ in _GROUP + _TOLERANCES} | {"model"}

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            given = {n: kwargs.pop(n) for n in list(kwargs) if n in names}
            m = ModelOptions(
                model=given.get("model"),
                checkpoint=given.get("checkpoint"),
                inputs=tuple(given.get("input") or ()),
                dynamic=tuple(given.get("dynamic") or ()),
                static=bool(given.get("static")),
                trust_files=bool(given.get("trust_files")),
                atol=given.get("atol"),
                rtol=given.get("rtol"),
            )
            return fn(m=m, **kwargs)

        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper  # type: ignore[return-value]

    return decorate


def _is_argument(p: inspect.Parameter) -> bool:
    meta = getattr(p.annotation, "__metadata__", ())
    return any(type(x).__name__ == "ArgumentInfo" for x in meta)


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
    """The :class:`~edgekit.core.model.LoadedModel` for the individual options (the signature commands used before
    :func:`model_options`; new code takes a :class:`ModelOptions` and calls its ``load``)."""
    options = ModelOptions(model, checkpoint, tuple(inputs or ()), tuple(dynamic or ()), static, trust, atol, rtol)
    return options.load()
