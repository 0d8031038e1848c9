"""Build ``.typings/`` from the installed ``tensorrt-stubs`` so that ``mypy --strict`` can check our TensorRT code.

``tensorrt-stubs`` (10.13.0.35.1) is the only typed view of the TensorRT Python API that installs here, and it is
not usable as shipped (see ../shared/TRAPS.md):

- ``tensorrt/`` has no ``py.typed``, so mypy calls the module untyped;
- its ``.pyi`` files are not valid Python: IPluginV3 methods have a parameter named ``in``, and ``add_scale_nd``
  puts a parameter without a default (``channel_axis``) after parameters with defaults;
- ``import tensorrt_libs`` resolves nowhere.

This script copies ``tensorrt/`` and ``tensorrt_bindings/`` from the installed distribution into a typings folder
(default ``.typings/``, git-ignored), renames ``in`` to ``in_``, gives ``channel_axis`` a default, and adds
``py.typed`` markers. ``mypy-trt.ini`` points ``mypy_path`` at the folder, ignores errors *inside* the stubs and
the missing ``tensorrt_libs``, so every error mypy reports is in edgekit's own code.

Usage::

    pip install --no-deps tensorrt-stubs==10.13.0.35.1
    python tools/trt_typings.py            # writes .typings/
    mypy --config-file mypy-trt.ini

Exit codes: 0 written, 3 tensorrt-stubs is not installed (with the command that installs it).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import shutil
import sys
from pathlib import Path

STUBS_DIST = "tensorrt-stubs"
STUBS_PIN = "tensorrt-stubs==10.13.0.35.1"
PACKAGES = ("tensorrt", "tensorrt_bindings")

# A parameter literally named `in` (a keyword) in IPluginV2/V3 methods.
_IN_PARAM = re.compile(r"(?<=[(,\s])in(?=\s*:)")
# add_scale_nd(..., power: Weights = None, channel_axis: int) -> a non-default parameter after defaults.
_CHANNEL_AXIS = re.compile(r"channel_axis: int\)")


def stubs_root() -> Path | None:
    """The site-packages folder holding the installed stubs' ``tensorrt/__init__.pyi``, or None."""
    try:
        dist = importlib.metadata.distribution(STUBS_DIST)
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in dist.files or ():
        if str(f).replace("\\", "/") == "tensorrt/__init__.pyi":
            return Path(str(dist.locate_file(f))).parent.parent
    return None


def fix_stub(text: str) -> str:
    """The stub text with the two syntax problems repaired."""
    text = _IN_PARAM.sub("in_", text)
    return _CHANNEL_AXIS.sub("channel_axis: int = ...)", text)


def build(out: Path) -> int:
    """Write the repaired stubs under ``out``; returns the number of .pyi files written.

    Raises:
        FileNotFoundError: tensorrt-stubs is not installed.
    """
    root = stubs_root()
    if root is None:
        raise FileNotFoundError(f"{STUBS_DIST} is not installed: pip install --no-deps {STUBS_PIN}")
    if out.exists():
        shutil.rmtree(out)
    written = 0
    for pkg in PACKAGES:
        src = root / pkg
        for pyi in sorted(src.rglob("*.pyi")):
            dest = out / pkg / pyi.relative_to(src)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(fix_stub(pyi.read_text(encoding="utf-8")), encoding="utf-8")
            written += 1
        (out / pkg / "py.typed").write_text("", encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent.parent / ".typings",
        help="typings folder to (re)create (default: <repo>/.typings)",
    )
    args = parser.parse_args(argv)
    try:
        n = build(args.out)
    except FileNotFoundError as exc:
        print(f"trt_typings: {exc}", file=sys.stderr)
        return 3
    print(f"trt_typings: wrote {n} stub files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
