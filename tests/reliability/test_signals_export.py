"""Bug class: a run killed mid-export. Real signals to a real ``edgekit export`` while its file is half-written
(the model sleeps while torch exports it): SIGKILL leaves only a hidden ``.partial`` file, which the next export
into the folder removes; SIGINT removes it at once. Neither leaves a manifest that lists what was not written."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from files_support import cli, leftovers, popen, write_models


def _start_and_wait_for_partial(model: str, out: Path) -> subprocess.Popen[str]:
    proc = popen("export", model, "-i", "x:2x4", "-f", "onnx", "-o", out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not leftovers(out):
        if proc.poll() is not None:
            raise AssertionError(f"export ended before writing: {proc.communicate()}")
        time.sleep(0.2)
    assert leftovers(out), "no .partial file appeared"
    return proc


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_models(tmp_path_factory.mktemp("signal models"))


# (case id, signal, expected exit code, .partial files right after the signal)
SIGNALS = [
    ("sigkill-mid-export", signal.SIGKILL, -signal.SIGKILL, 1),
    ("sigint-mid-export", signal.SIGINT, 130, 0),
]


@pytest.mark.parametrize(("case", "sig", "code", "partials"), SIGNALS, ids=[c[0] for c in SIGNALS])
def test_signal_mid_export_leaves_nothing_half_written(
    models: Path, tmp_path: Path, case: str, sig: signal.Signals, code: int, partials: int
) -> None:
    out = tmp_path / "out"
    proc = _start_and_wait_for_partial(f"{models}:slow", out)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) <= 1 and "Traceback" not in err, err  # the Ctrl-C line's wording is the CLI's (trust-cli)
    assert len(leftovers(out)) == partials
    assert not (out / "manifest.json").exists() and not (out / "model.onnx").exists()
    done = cli("export", f"{models}:tiny", "-i", "x:2x4", "-f", "torchscript", "-o", out)
    assert done.rc == 0, done.stderr
    assert leftovers(out) == [], "the killed run's .partial file survived the next export"
    files = [a["file"] for a in json.loads((out / "manifest.json").read_text())["artifacts"]]
    assert files == ["model.ts"]


def test_live_writers_partial_is_left_alone(tmp_path: Path) -> None:
    import os

    from edgekit.artifacts.manifest import remove_stale_partials

    live = tmp_path / f".model.onnx.{os.getpid()}.abcd1234.partial.onnx"
    dead = tmp_path / ".model.ts.999999999.abcd1234.partial.ts"
    other = tmp_path / ".user.partial"  # not pid-stamped, fresh: not ours to judge yet
    for f in (live, dead, other):
        f.write_bytes(b"x")
    assert remove_stale_partials(tmp_path) == [dead]
    assert live.exists() and other.exists()
