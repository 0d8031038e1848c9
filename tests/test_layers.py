"""The package's layers, asserted: every import inside ``edgekit`` points down the stack (or stays inside its own
sub-package), so no module-level cycle can form.

    cli -> jobs -> debug -> bench / quant -> export -> intake -> artifacts -> backends -> training -> core

Imports under ``if TYPE_CHECKING:`` are type annotations only; they are exempt (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import edgekit

RANK = {
    "core": 0,
    "training": 1,
    "backends": 2,
    "artifacts": 3,
    "intake": 4,
    "export": 5,
    "quant": 6,
    "bench": 6,
    "debug": 7,
    "jobs": 8,
    "cli": 9,
}
ROOT = Path(edgekit.__file__).parent


def _layer(module: str) -> str | None:
    """The sub-package of ``edgekit.x.y`` (``x``), or None for the package root itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports(path: Path) -> list[tuple[int, str]]:
    module = "edgekit." + ".".join(path.relative_to(ROOT).with_suffix("").parts)
    module = module.removesuffix(".__init__")
    tree = ast.parse(path.read_text())
    skip = _type_checking_lines(tree)
    found = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("edgekit")]
        elif isinstance(node, ast.ImportFrom) and node.module:
            target = node.module
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")[: -node.level] if not path.name == "__init__.py" else module.split(".")
                target = ".".join(base + [node.module])
            if target.startswith("edgekit"):
                found.append((node.lineno, target))
    return found


def violations() -> list[str]:
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        own = rel.parts[0] if len(rel.parts) > 1 else None
        if own is None:
            continue
        if own not in RANK:
            bad.append(f"{rel}: sub-package '{own}' has no layer in RANK")
            continue
        for line, target in _imports(path):
            layer = _layer(target)
            if layer is None or layer == own:
                continue
            if layer not in RANK:
                bad.append(f"{rel}:{line}: imports {target}, which has no layer")
            elif RANK[layer] >= RANK[own]:
                bad.append(f"{rel}:{line}: {own} (layer {RANK[own]}) imports {target} (layer {RANK[layer]})")
    return bad


def test_every_import_points_down_the_stack():
    assert violations() == []


def test_no_module_sits_at_the_package_root_but_the_version():
    flat = sorted(p.name for p in ROOT.glob("*.py") if p.name != "__init__.py")
    assert flat == [], f"modules at the package root: {flat}; put each in its layer's sub-package"
