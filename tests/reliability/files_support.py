"""Shared pieces of the trust-files catalogue: the CLI in a real subprocess, a user's model file, crafted files.

Not a conftest (other catalogue files bring their own); the test modules import it by name (pytest puts this
folder on ``sys.path``: it has no ``__init__.py``).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]

MODELS = '''
import time

import torch
from torch import nn


class Pair(nn.Module):
    """forward(a, b): asymmetric, so a swapped binding changes the result."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, a, b):
        return self.fc(a) - 2 * self.fc(b)


class KeywordOnly(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x, *, scale):
        return self.fc(x) * scale.sum(dim=1, keepdim=True)


class Slow(nn.Module):
    """Sleeps while being exported, so that a test can signal an export while its file is half-written."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        if torch.compiler.is_exporting():
            time.sleep(60)
        return self.fc(x)


def pair():
    return Pair()


def keyword_only():
    return KeywordOnly()


def slow():
    return Slow()


def tiny():
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU())


def tiny_other():
    return nn.Sequential(nn.Linear(4, 3), nn.Tanh())


def example_inputs():
    return {"b": torch.randn(1, 4), "a": torch.randn(1, 4)}
'''


@dataclasses.dataclass
class Done:
    """A finished CLI run."""

    rc: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        """Non-empty stderr lines."""
        return [ln for ln in self.stderr.splitlines() if ln.strip()]


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = str(ROOT) + os.pathsep + out.get("PYTHONPATH", "")
    out["COLUMNS"] = "200"
    return out


def cli(*args: object, cwd: Path | None = None, timeout: float = 300) -> Done:
    """``edgekit ARGS`` in a fresh Python process."""
    cmd = [sys.executable, "-m", "edgekit.cli.main", *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=cwd, timeout=timeout)
    return Done(done.returncode, done.stdout, done.stderr)


def popen(*args: object, cwd: Path | None = None) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "edgekit.cli.main", *map(str, args)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=cwd)


def write_models(folder: Path) -> Path:
    path = folder / "user models.py"
    path.write_text(MODELS)
    return path


class _Payload:
    """Unpickling this runs ``touch MARKER``: the attack a crafted file carries."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch '{self.marker}'",))


def good_pt2(path: Path) -> Path:
    """A real ExportedProgram of ``y = x * w`` (one weight ``w``), saved with torch.export.save."""

    class Scale(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.w

    torch.export.save(torch.export.export(Scale(), (torch.randn(2, 4),)), str(path))
    return path


def evil_pt2(path: Path, marker: Path, where: str = "weight") -> Path:
    """``good_pt2`` rewritten as an attacker would: ``where="weight"`` marks weight ``w`` ``use_pickle`` in
    ``data/weights/model_weights_config.json`` and replaces its file by a torch.save'd payload; ``"sample_inputs"``
    replaces ``data/sample_inputs/model.pt`` (which torch.export.load retries with weights_only=False)."""
    good = good_pt2(path.with_name("good-" + path.name))
    payload = io.BytesIO()
    torch.save(_Payload(marker), payload)
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if where == "weight" and info.filename.endswith("data/weights/model_weights_config.json"):
                config = json.loads(data)
                config["config"]["w"]["use_pickle"] = True
                data = json.dumps(config).encode()
            elif where == "weight" and info.filename.endswith("data/weights/weight_0"):
                data = payload.getvalue()
            elif where == "sample_inputs" and info.filename.endswith("data/sample_inputs/model.pt"):
                data = payload.getvalue()
            out.writestr(info.filename, data)
    good.unlink()
    return path


def evil_checkpoint(path: Path, marker: Path) -> Path:
    torch.save({"state_dict": {}, "hook": _Payload(marker)}, path)
    return path


def leftovers(folder: Path) -> list[str]:
    """Half-written files edgekit may have left (``.partial``)."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.rglob("*") if ".partial" in p.name)
