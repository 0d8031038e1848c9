"""The one-call GPU acceptance run (issue 10, item 7): on a machine with a CUDA GPU -- a lent GPU, a user's desktop
or Jetson -- run, each with its own timeout and all within ``--budget`` seconds (default 480, 8 minutes):

  1. ``edgekit doctor`` (what this machine has),
  2. the ``cuda``/``trt``/``gpu``-marked tests (``pytest -m "cuda or trt or gpu"``, JUnit XML kept),
  3. ``benchmarks/gpu_table.py`` on the three recipes,
  4. ``edgekit bench RECIPE --device cuda --backend auto`` on three recipes (JSON + Markdown reports),

writing every log and report under one folder (``--out``, default ``runs/gpu-check``), then ``summary.json`` and
``summary.md`` there, and print the summary. Send the whole folder back (docs/gpu.md).

    python benchmarks/gpu_check.py                         # or: make gpu-check
    python benchmarks/gpu_check.py --wheels ../shared/device-wheels   # pycuda from carried wheels

``--wheels DIR`` installs the wheels found there (pycuda and its pure-Python dependencies) with ``pip install
--no-index --no-deps --target OUT/site`` and puts that folder on ``PYTHONPATH`` for every step (TRAPS.md, pycuda).

Exit codes: 0 every step passed; 1 some step failed or timed out (the summary says which); 3 no CUDA GPU (one
line, nothing written). This script has not been run on a GPU in this repository yet; its no-GPU path and its
planning are tested (tests/test_gpu_check.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ("cnn", "mlp", "transformer")
BUDGET_S = 480.0
# each step's share of the budget (a step gets at most this, and never more than what is left)
MIN_STEP_S = 5.0
"""A step with less time than this left is not started."""
STEP_LIMITS = {"doctor": 45.0, "pytest": 180.0, "gpu_table": 90.0, "bench": 50.0}


@dataclasses.dataclass
class Step:
    """One command of the run: its name, argv, time limit (s) and the log it writes."""

    name: str
    argv: list[str]
    limit_s: float
    log: str
    status: str = "not run"
    seconds: float = 0.0
    returncode: int | None = None


def plan(out: Path, recipes: tuple[str, ...] = RECIPES, python: str = sys.executable) -> list[Step]:
    """The steps, in order, with their time limits (seconds)."""
    edgekit = [python, "-m", "edgekit.cli.main"]
    steps = [
        Step("doctor", [*edgekit, "doctor"], STEP_LIMITS["doctor"], "doctor.log"),
        Step(
            "pytest",
            [
                python,
                "-m",
                "pytest",
                "-q",
                "-rA",
                "-m",
                "cuda or trt or gpu",
                "tests",
                f"--junitxml={out / 'pytest.xml'}",
            ],
            STEP_LIMITS["pytest"],
            "pytest.log",
        ),
        Step(
            "gpu_table",
            [
                python,
                str(ROOT / "benchmarks" / "gpu_table.py"),
                "--recipes",
                *recipes,
                "--batches",
                "1",
                "32",
                "--rounds",
                "300",
                "--out",
                str(out / "gpu_table"),
            ],
            STEP_LIMITS["gpu_table"],
            "gpu_table.log",
        ),
    ]
    for recipe in recipes:
        report = out / f"bench-{recipe}"
        argv = [*edgekit, "bench", recipe, "--device", "cuda", "--backend", "auto", "--batch", "1,32"]
        argv += ["--seconds", "0.3", "--json", f"{report}.json", "--markdown", f"{report}.md"]
        steps.append(Step(f"bench {recipe}", argv, STEP_LIMITS["bench"], f"bench-{recipe}.log"))
    return steps


def install_wheels(wheels: Path, site: Path) -> str | None:
    """``pip install --no-index --no-deps --target site wheels/*.whl``; None on success, else why not."""
    found = sorted(str(w) for w in wheels.glob("*.whl"))
    if not found:
        return f"no .whl files in {wheels}"
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target", str(site), *found]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return None if done.returncode == 0 else f"pip install of {wheels} failed: {done.stderr.strip()[-300:]}"


def run_step(step: Step, out: Path, env: dict[str, str], left_s: float) -> None:
    """Run ``step`` with its limit (or what is left of the budget), its output into its log."""
    limit = min(step.limit_s, left_s)
    if limit < MIN_STEP_S:
        step.status = "skipped: the budget is spent"
        return
    start = time.monotonic()
    with (out / step.log).open("w") as log:
        log.write(f"$ {' '.join(step.argv)}\n")
        log.flush()
        try:
            done = subprocess.run(step.argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=limit)
            step.returncode = done.returncode
            step.status = "ok" if done.returncode == 0 else f"failed (exit {done.returncode})"
        except subprocess.TimeoutExpired:
            step.status = f"timed out after {limit:.0f} s"
    step.seconds = time.monotonic() - start


def bench_picks(out: Path, recipes: tuple[str, ...]) -> dict[str, list[str]]:
    """What ``auto`` picked per recipe and batch, from the bench JSON reports that exist."""
    picks: dict[str, list[str]] = {}
    for recipe in recipes:
        path = out / f"bench-{recipe}.json"
        if not path.is_file():
            continue
        data = json.loads(path.read_text())
        picks[recipe] = [f"b{p['batch']}: {p['backend']}/{p['precision']} ({p['explanation']})" for p in data["picks"]]
    return picks


def summarize(steps: list[Step], out: Path, recipes: tuple[str, ...], gpu: str) -> dict[str, Any]:
    """Write ``summary.json`` and ``summary.md`` into ``out``; returns the summary."""
    summary = {
        "gpu": gpu,
        "steps": [dataclasses.asdict(s) for s in steps],
        "picks": bench_picks(out, recipes),
        "ok": all(s.status == "ok" for s in steps),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [f"# edgekit gpu-check on {gpu}", "", "| step | status | seconds | log |", "|---|---|---|---|"]
    lines += [f"| {s.name} | {s.status} | {s.seconds:.1f} | {s.log} |" for s in steps]
    for recipe, chosen in summary["picks"].items():
        lines += ["", f"auto on {recipe}:", *[f"- {c}" for c in chosen]]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "gpu-check", help="folder for every log and report")
    p.add_argument("--wheels", type=Path, default=None, help="folder of wheels to install first (pycuda)")
    p.add_argument("--recipes", nargs=3, default=list(RECIPES), help="the three recipes benchmarked")
    p.add_argument("--budget", type=float, default=BUDGET_S, help="seconds for the whole run (default 480)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from edgekit.backends.probes import cuda_status

    ok, gpu = cuda_status()
    if not ok:
        print(f"gpu-check needs a CUDA GPU, but {gpu}; run it on an NVIDIA GPU machine (docs/gpu.md)", file=sys.stderr)
        return 3
    start = time.monotonic()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    recipes = tuple(args.recipes)
    steps = plan(out, recipes)
    if args.wheels is not None:
        site = out / "site"
        failed = install_wheels(args.wheels, site)
        if failed is not None:
            print(f"gpu-check: {failed}", file=sys.stderr)
            return 1
        env["PYTHONPATH"] = os.pathsep.join([str(site.resolve()), env["PYTHONPATH"]])
    for step in steps:
        run_step(step, out, env, args.budget - (time.monotonic() - start))
        print(f"{step.name:<18} {step.status:<28} {step.seconds:6.1f} s  {out / step.log}", flush=True)
    summary = summarize(steps, out, recipes, gpu)
    print((out / "summary.md").read_text())
    print(f"send back the folder {out} (summary.md first)")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
