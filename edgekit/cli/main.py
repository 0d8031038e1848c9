"""The ``edgekit`` command: a thin Typer app over the library. Commands import what they need when they run,
so ``edgekit --help`` imports neither torch nor onnxruntime."""

from __future__ import annotations

from typing import Annotated

import typer

from edgekit import __version__
from edgekit.cli.bench import bench, doctor, pipeline
from edgekit.cli.common import STATE, EdgekitGroup
from edgekit.cli.compare import compare
from edgekit.cli.debug import debug
from edgekit.cli.export import export
from edgekit.cli.quant import qat, quantize
from edgekit.cli.recipes import recipes, train
from edgekit.cli.trt import build

app = typer.Typer(
    name="edgekit",
    help="Take a PyTorch model to verified TorchScript / ExportedProgram / ONNX / TensorRT artifacts and benchmark "
    "them. Exit codes: 0 ok, 1 verification or quality gate failed (or it checked nothing), 2 bad input "
    "(files, options, models), 3 backend unavailable, 4 internal error (edgekit's own bug: rerun with --verbose and "
    "report it), 130 interrupted. Errors are one line on stderr; --verbose adds tracebacks and library logs.",
    cls=EdgekitGroup,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"edgekit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show tracebacks on errors, and library logs and warnings.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    STATE["verbose"] = verbose


app.command()(pipeline)
app.command()(export)
app.command()(compare)
app.command()(debug)
app.command()(train)
app.command("recipes")(recipes)
app.command("build")(build)
app.command()(qat)
app.command()(quantize)
app.command()(bench)
app.command()(doctor)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
