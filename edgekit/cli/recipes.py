"""``edgekit train`` and ``edgekit recipes``: the shipped model families."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from edgekit.cli.common import cli_errors, console


@cli_errors
def train(
    recipe: Annotated[str, typer.Argument(help="A recipe name (see `edgekit recipes`) or path.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Checkpoint to write.")] = Path("ckpt.pt"),
    epochs: Annotated[int | None, typer.Option(min=1, help="Training epochs (default: the recipe's).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Train RECIPE on its shipped or generated data (seconds on a CPU), print its validation metric, and save
    the checkpoint."""
    from edgekit.training.recipe import get_recipe
    from edgekit.training.train import save_checkpoint, train_recipe

    rec = get_recipe(recipe)
    start = time.perf_counter()
    with console.status(f"training {rec.name}"):
        model, metrics = train_recipe(rec, epochs=epochs, seed=seed)
    seconds = time.perf_counter() - start
    save_checkpoint(model, output, rec, metrics)
    shown = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if k not in ("train_seconds", "params"))
    console.print(
        escape(
            f"{rec.name}: {shown} (validation; {int(metrics.get('params', 0)):,} parameters, trained in "
            f"{seconds:.1f} s) -> {output}"
        ),
        soft_wrap=True,
    )


@cli_errors
def recipes() -> None:
    """List the shipped recipes: family, inputs, outputs, metric."""
    from rich.table import Table

    from edgekit.training.recipe import get_recipe, recipe_names

    table = Table(title="Recipes", title_justify="left")
    for col in ("name", "description", "inputs", "outputs", "metric"):
        table.add_column(col)
    for name in recipe_names():
        r = get_recipe(name)
        inputs = ", ".join(
            f"{s.name}:{'x'.join(map(str, s.shape))}" + (f":{s.dtype}" if s.dtype != "float32" else "")
            for s in r.inputs
        )
        table.add_row(name, r.description, inputs, ", ".join(r.outputs), r.task.metric)
    console.print(table)
