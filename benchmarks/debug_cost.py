"""What ``edgekit debug`` costs, and how often it names the right module.

1. Cost: for each recipe (default: cnn), the wall time of one ``verify_artifact`` of its ONNX export (what
   ``edgekit export``/``compare`` do per artifact: load in ONNX Runtime, eager vs ORT at every verification shape)
   and of one ``debug_artifact`` of the same file (instrumented copy, eager with hooks, matching, naming),
   alternated ``--rounds`` times in one process; medians and their ratio (target: <= 10x on cnn).
2. Planted faults (``--planted``): every recipe x ``--seeds`` seeds, one initializer of the ONNX export perturbed
   (x1.5 + 0.1, chosen by the seed), and whether debug named the module that owns it (by the parameter's name,
   or for a renamed/folded initializer the module the exporter scoped its reading node to; lifted to the nearest
   module eager actually called).

Writes ``debug_cost-<host>.json`` and ``.md`` to ``--out``. Asserts nothing.

Usage: ``python benchmarks/debug_cost.py [--recipes cnn] [--rounds 5] [--planted] [--seeds 3]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ALL = "autoencoder,cnn,dcgan,defect,denoise,gan,gru,lstm,mlp,rnn,transformer,vae"


def cost(recipe: str, rounds: int, folder: Path) -> dict[str, Any]:
    from edgekit.artifacts.verify import verify_artifact
    from edgekit.debug.run import debug_artifact
    from edgekit.export.onnx import export_onnx
    from edgekit.intake.load import load_model

    model = load_model(recipe)
    path = folder / f"{recipe}.onnx"
    export_onnx(model, path)
    verify_s, debug_s = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        verify_artifact(model, str(path), "onnx")
        verify_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        debug_artifact(model, path)
        debug_s.append(time.perf_counter() - t)
    v, d = statistics.median(verify_s), statistics.median(debug_s)
    return {"recipe": recipe, "verify_s": v, "debug_s": d, "ratio": d / v, "rounds": rounds}


def planted(recipes: list[str], seeds: int, folder: Path) -> list[dict[str, Any]]:
    from edgekit.core.spec import random_inputs
    from edgekit.debug.capture import capture_modules, user_path
    from edgekit.debug.run import debug_artifact
    from edgekit.export.onnx import export_onnx
    from edgekit.intake.load import load_model
    from tests.debug.conftest import perturb_initializer

    rows = []
    for recipe in recipes:
        model = load_model(recipe)
        path = folder / f"{recipe}.onnx"
        if not path.exists():
            export_onnx(model, path)
        modules = {p for p, _ in model.module.named_modules() if p}
        calls = capture_modules(model.module, model.tensors(random_inputs(model.inputs)))
        for seed in range(seeds):
            name, owner = perturb_initializer(path, folder / "bad.onnx", seed, modules)
            while owner not in calls and "." in owner:
                owner = owner.rsplit(".", 1)[0]
            t = time.perf_counter()
            report = debug_artifact(model, folder / "bad.onnx")
            named = report.culprit.path if report.culprit else None
            rows.append(
                {
                    "recipe": recipe,
                    "seed": seed,
                    "initializer": name,
                    "owner": user_path(owner),
                    "named": user_path(named) if named else None,
                    "right": named == owner,
                    "seconds": time.perf_counter() - t,
                }
            )
            print(
                f"{recipe:12s} seed {seed}  {name:50s} -> {rows[-1]['named']}  {'ok' if rows[-1]['right'] else 'WRONG'}"
            )
    return rows


def markdown(data: dict[str, Any]) -> str:
    lines = [
        f"# debug cost ({data['host']})",
        "",
        "| recipe | verify s | debug s | debug / verify |",
        "|---|---|---|---|",
    ]
    lines += [f"| {c['recipe']} | {c['verify_s']:.3f} | {c['debug_s']:.3f} | {c['ratio']:.2f}x |" for c in data["cost"]]
    if data.get("planted"):
        right = sum(r["right"] for r in data["planted"])
        lines += ["", f"## Planted perturbations: {right}/{len(data['planted'])} named the owning module", ""]
        lines += ["| recipe | seed | initializer | owner | named | right |", "|---|---|---|---|---|---|"]
        lines += [
            f"| {r['recipe']} | {r['seed']} | `{r['initializer']}` | {r['owner']} | {r['named']} | "
            f"{'yes' if r['right'] else 'NO'} |"
            for r in data["planted"]
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipes", default="cnn")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--planted", action="store_true")
    parser.add_argument("--planted-recipes", default=ALL)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    from edgekit.bench.host import host_info, host_slug

    host = host_slug(host_info())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data: dict[str, Any] = {"host": host, "cost": [cost(r, args.rounds, folder) for r in args.recipes.split(",")]}
        if args.planted:
            data["planted"] = planted(args.planted_recipes.split(","), args.seeds, folder)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"debug_cost-{host}.json").write_text(json.dumps(data, indent=2) + "\n")
    (args.out / f"debug_cost-{host}.md").write_text(markdown(data))
    print(markdown(data))


if __name__ == "__main__":
    main()
